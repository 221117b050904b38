import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget, defaultBudgetBytes, DEFAULT_BUDGET_BYTES } from '../../server-image/src/memory/byte-budget.ts';
import { parseCgroupLimit } from '../../server-image/src/memory/container-limit.ts';

test('a byte budget refuses a reservation that would exceed it and holds nothing for it', () => {
  const budget = new ByteBudget(100);
  const a = budget.reserve(60);
  assert.ok(a);
  assert.equal(budget.reserve(50), undefined);
  assert.equal(budget.usedBytes, 60);
  a.release();
  assert.equal(budget.usedBytes, 0);
  assert.ok(budget.reserve(100));
});

test('a reservation grows chunk by chunk until the budget is spent, and releases everything once', () => {
  const budget = new ByteBudget(100);
  const r = budget.reserve(0)!;
  assert.equal(r.grow(40), true);
  assert.equal(r.grow(40), true);
  assert.equal(r.grow(40), false);
  assert.equal(r.bytes, 80);
  r.release();
  r.release();
  assert.equal(budget.usedBytes, 0);
  assert.equal(budget.peakBytes, 80);
  assert.equal(r.grow(1), false, 'a released reservation takes nothing more');
});

test('the default budget is half the container memory limit, or a fixed size when none is known', () => {
  assert.equal(defaultBudgetBytes(2 * 1024 ** 3), 1024 ** 3);
  assert.equal(defaultBudgetBytes(undefined), DEFAULT_BUDGET_BYTES);
  assert.equal(defaultBudgetBytes(1024), 16 * 1024 * 1024);
});

test('cgroup memory limits parse for v2 and v1, and "no limit" reads as undefined', () => {
  assert.equal(parseCgroupLimit('2147483648\n'), 2147483648);
  assert.equal(parseCgroupLimit('max\n'), undefined);
  assert.equal(parseCgroupLimit('9223372036854771712\n'), undefined);
  assert.equal(parseCgroupLimit('garbage'), undefined);
});

// The Population Stability Index on plain data: zero for the same distribution, the textbook value for a
// known shift, finite when a bin is empty on one side, and refusals for counts that do not line up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PSI_SHARE_FLOOR, psi } from '../../contract/psi.ts';

test('live counts in the reference proportions give 0, whatever their scale', () => {
  assert.equal(psi([0.25, 0.25, 0.5], [10, 10, 20]), 0);
  assert.equal(psi([0.25, 0.25, 0.5], [1000, 1000, 2000]), 0);
});

test('a known shift gives sum of (a - e) * ln(a / e) over the bins', () => {
  // Reference 50/50, live 80/20: 0.3 * ln(1.6) + (-0.3) * ln(0.4)
  const expected = 0.3 * Math.log(0.8 / 0.5) - 0.3 * Math.log(0.2 / 0.5);
  assert.ok(Math.abs(psi([0.5, 0.5], [80, 20]) - expected) < 1e-12);
  assert.ok(Math.abs(psi([0.5, 0.5], [80, 20]) - 0.4159) < 1e-4);
});

test('the larger the shift, the larger the index', () => {
  const reference = [0.1, 0.2, 0.4, 0.2, 0.1];
  const small = psi(reference, [12, 20, 38, 20, 10]);
  const large = psi(reference, [30, 30, 20, 10, 10]);
  assert.ok(small > 0 && small < 0.1, `small shift ${small}`);
  assert.ok(large > 0.25, `large shift ${large}`);
});

test('a bin empty on either side is floored, so the index stays finite', () => {
  const value = psi([0.5, 0.5, 0], [50, 0, 50]);
  assert.ok(Number.isFinite(value));
  const floor = PSI_SHARE_FLOOR;
  const expected = (floor - 0.5) * Math.log(floor / 0.5) + (0.5 - floor) * Math.log(0.5 / floor);
  assert.ok(Math.abs(value - expected) < 1e-12);
});

test('no live rows give 0, and bins that do not line up are refused', () => {
  assert.equal(psi([0.5, 0.5], [0, 0]), 0);
  assert.throws(() => psi([0.5, 0.5], [1, 2, 3]), /2 reference bins but 3 counted/);
});

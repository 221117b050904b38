// The router's pure guards against hostile input: decoding a shadow's answer through the shared tensor
// codec (every length checked against the datatype and the shape, nesting walked without recursion), what
// the comparison makes of each, the Via hop check that stops routing
// loops, which requests count toward a rollout's gates, and excerpts of quoted text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareResponses, decodeInferResponse } from '../../server-image/src/router/compare.ts';
import { MAX_ROUTER_HOPS, nextHop, routerViaName, viaNames } from '../../server-image/src/router/hops.ts';
import { requestTarget, routeLabel } from '../../server-image/src/router/request-target.ts';
import { judgeUncompared } from '../../server-image/src/router/shadow.ts';
import { excerpt } from '../../server-image/src/excerpt.ts';

const binaryAnswer = (output: Record<string, unknown>, bytes: Buffer) => {
  const header = Buffer.from(JSON.stringify({ model_name: 'm', outputs: [output] }));
  return { body: Buffer.concat([header, bytes]), headerLength: String(header.length) };
};
const jsonAnswer = (output: Record<string, unknown>) => ({ body: Buffer.from(JSON.stringify({ outputs: [output] })), headerLength: undefined });
const reasonOf = (decoded: ReturnType<typeof decodeInferResponse>) => (decoded.ok ? 'decoded' : decoded.reason);

test('a binary FP32 output of 3 bytes is refused with the reason, not a RangeError', () => {
  const { body, headerLength } = binaryAnswer({ name: 'y', datatype: 'FP32', shape: [1], parameters: { binary_data_size: 3 } }, Buffer.from([1, 2, 3]));
  assert.equal(reasonOf(decodeInferResponse(body, headerLength)), "output 'y': binary_data_size 3 does not match 1 FP32 elements (4 bytes)");
  const int64 = binaryAnswer({ name: 'ids', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } }, Buffer.alloc(16));
  assert.equal(reasonOf(decodeInferResponse(int64.body, int64.headerLength)), 'decoded');
});

test('JSON data nested 200,000 levels deep is refused, without recursion', () => {
  const deep = Buffer.from(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1,4],"data":${'['.repeat(200_000)}1${']'.repeat(200_000)}}]}`);
  assert.match(reasonOf(decodeInferResponse(deep)), /^output 'y': nested 'data' does not match shape \[1,4\]/);
  const flatDeep = Buffer.from(`{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[${'['.repeat(200_000)}1${']'.repeat(200_000)}]}]}`);
  assert.match(reasonOf(decodeInferResponse(flatDeep)), /^output 'y': element 0 \(an array of 1 elements\) is not a number/);
  // Nesting that follows the shape is fine; null is NaN (how the server writes it), a string is not a number.
  const nested = decodeInferResponse(jsonAnswer({ name: 'y', datatype: 'FP32', shape: [2, 2], data: [[1, 2], [3, null]] }).body);
  assert.ok(nested.ok && Number.isNaN(nested.outputs[0].values![3]) && nested.outputs[0].values![2] === 3);
  assert.match(reasonOf(decodeInferResponse(jsonAnswer({ name: 'y', datatype: 'FP32', shape: [1], data: ['1'] }).body)), /element 0 \("1"\) is not a number/);
  assert.match(reasonOf(decodeInferResponse(jsonAnswer({ name: 'y', datatype: 'FP32', shape: new Array(64).fill(1), data: [1] }).body)), /'shape' has rank 64, over the limit/);
});

test('BYTES elements: lengths checked against the data, the count against the shape', () => {
  const element = (text: string) => {
    const bytes = Buffer.from(text);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const strings = (bytes: Buffer, count: number) => {
    const { body, headerLength } = binaryAnswer({ name: 's', datatype: 'BYTES', shape: [count], parameters: { binary_data_size: bytes.length } }, bytes);
    return decodeInferResponse(body, headerLength);
  };
  const good = strings(Buffer.concat([element('ab'), element('')]), 2);
  assert.deepEqual(good.ok && good.outputs[0].strings, ['ab', '']);
  assert.match(reasonOf(strings(Buffer.concat([element('ab').subarray(0, 4), Buffer.from('a')]), 1)), /BYTES element 0 claims 2 bytes, only 1 remain/);
  assert.match(reasonOf(strings(Buffer.concat([element('a'), element('b')]), 1)), /more than the 1 BYTES elements the shape needs/);
  assert.match(reasonOf(strings(element('a'), 3)), /holds 1 BYTES elements, the shape needs 3/);
});

test('reasons quote names from the answer only as bounded excerpts', () => {
  const name = 'n'.repeat(1_000_000);
  const primary = jsonAnswer({ name: 'y', datatype: 'FP32', shape: [1], data: [1] });
  const renamed = compareResponses(primary, jsonAnswer({ name, datatype: 'FP32', shape: [1], data: [1] }));
  assert.equal(renamed.result, 'mismatch');
  assert.ok(renamed.result === 'mismatch' && renamed.reason.length < 400, 'a million-character name is cut');
  assert.equal(excerpt('short'), 'short');
  assert.equal(excerpt('x'.repeat(130), 120), `${'x'.repeat(120)}... (10 more characters)`);
});

test('a shadow answer: too large or broken off is invalid, not 200 is skipped', () => {
  assert.deepEqual(judgeUncompared(200, 'over_limit', 1024), { result: 'invalid', reason: 'shadow answer larger than 1024 bytes' });
  assert.deepEqual(judgeUncompared(200, 'broke_off', 1024), { result: 'invalid', reason: 'shadow answer broke off midway' });
  assert.deepEqual(judgeUncompared(500, 'over_limit', 1024), { result: 'skipped', reason: 'shadow answered 500' });
  assert.deepEqual(judgeUncompared(503, undefined, 1024), { result: 'skipped', reason: 'shadow answered 503' });
});

test('hops: each router adds its name to Via; its own name coming back, or too many routers, is a loop', () => {
  const self = routerViaName('a1');
  const first = nextHop(undefined, self);
  assert.deepEqual(first, { ok: true, via: '1.1 modelship-router-a1' });
  assert.deepEqual(nextHop('1.0 fred, 1.1 p.example.net', self), { ok: true, via: '1.0 fred, 1.1 p.example.net, 1.1 modelship-router-a1' });
  assert.deepEqual(viaNames('1.0 fred, HTTP/1.1 p.example.net (Apache/1.1),1.1 x'), ['fred', 'p.example.net', 'x']);
  const back = nextHop(first.ok ? first.via : '', self);
  assert.equal(back.ok, false);
  assert.match(back.ok ? '' : back.reason, /^routing loop: the request came back to this router/);
  // A loop through other replicas: each adds itself once, and the chain stops at the limit.
  let via: string | undefined;
  let hops = 0;
  for (let replica = 0; ; replica++) {
    const hop = nextHop(via, routerViaName(`r${replica}`));
    if (!hop.ok) break;
    via = hop.via;
    hops++;
  }
  assert.equal(hops, MAX_ROUTER_HOPS);
});

test('which requests count toward the gates: weight-routed inference only', () => {
  const route = (method: string, url: string) => {
    const target = requestTarget(method, url);
    return target.kind === 'own' || target.kind === 'malformed' ? target.kind : routeLabel(target);
  };
  assert.equal(route('POST', '/v2/models/iris/infer'), 'weighted');
  assert.equal(route('POST', '/v2/models/iris/infer?x=1'), 'weighted');
  assert.equal(route('POST', '/v2/models/iris/versions/v2/infer'), 'pinned');
  assert.deepEqual(requestTarget('GET', '/v2/models/iris/versions/v%202'), { kind: 'pinned', version: 'v 2' });
  assert.equal(route('GET', '/v2/models/iris'), 'other');
  assert.equal(route('GET', '/v2/models/iris/infer'), 'other', 'inference is a POST');
  assert.equal(route('GET', '/metrics'), 'own');
  assert.equal(route('POST', '/metrics'), 'other');
  assert.equal(route('OPTIONS', '*'), 'malformed');
  assert.equal(route('GET', 'http://evil.example/v2/models/iris/infer'), 'malformed');
  assert.equal(routeLabel({ kind: 'malformed', reason: '' }), 'other');
});

test("the router's byte budgets: half a 2 GiB pod's limit for clients, a quarter of that for shadow copies; settings win", async () => {
  const { routerBudgets } = await import('../../server-image/src/router/router.ts');
  const pod = routerBudgets({}, 2 * 1024 ** 3);
  assert.deepEqual([pod.inflight.limitBytes, pod.shadow.limitBytes], [1024 ** 3, 256 * 1024 ** 2]);
  const set = routerBudgets({ maxInflightBytes: 1_000_000, shadowQueueBytes: 5000 }, 2 * 1024 ** 3);
  assert.deepEqual([set.inflight.limitBytes, set.shadow.limitBytes], [1_000_000, 5000]);
  assert.equal(routerBudgets({ maxInflightBytes: 1_000_000 }, undefined).shadow.limitBytes, 250_000);
  assert.equal(routerBudgets({}, undefined).inflight.limitBytes, 512 * 1024 ** 2, 'no limit known: 512 MiB');
});

// The baseline profile's pure parts: the binning rule, quantile edges, the profile computed from plain
// tensors, the .npy header, and the format's checks, each refusal naming the field at fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binIndex, binShares, quantileEdges } from '../../server-image/src/monitoring/bins.ts';
import { BASELINE_FORMAT, checkBaselineFits, parseBaseline, type Baseline } from '../../server-image/src/monitoring/baseline.ts';
import { computeProfile, spread } from '../../server-image/src/monitoring/profile.ts';
import { npyHeader, tensorsFromJsonLines } from '../../server-image/src/monitoring/reference-data.ts';
import type { ModelSignature } from '../../server-image/src/model/signature.ts';

test('a value on an edge falls in the bin below it; past the last edge, in the last bin', () => {
  const edges = [1, 2, 3];
  assert.deepEqual([0, 1, 1.5, 2, 2.5, 3, 9].map((v) => binIndex(edges, v)), [0, 0, 1, 1, 2, 2, 3]);
  assert.equal(binIndex([], 5), 0);
});

test('quantile edges split evenly spread values into equal shares', () => {
  const values = Float64Array.from({ length: 1000 }, (_, i) => i);
  const edges = quantileEdges(values, 4);
  assert.deepEqual(edges, [249, 499, 749]);
  assert.deepEqual(binShares(edges, values), [0.25, 0.25, 0.25, 0.25]);
});

test('a feature with few distinct values gets fewer bins, none empty by construction', () => {
  const values = Float64Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  const edges = quantileEdges(values, 10);
  assert.deepEqual(edges, [0]);
  assert.deepEqual(binShares(edges, values), [0.6, 0.4]);
  assert.deepEqual(quantileEdges(Float64Array.from([7, 7, 7]), 10), []);
});

test('spread picks evenly spaced positions from a wide input', () => {
  assert.deepEqual(spread([0, 1, 2, 3, 4, 5, 6, 7], 4), [0, 2, 4, 6]);
  assert.deepEqual(spread([0, 1], 4), [0, 1]);
});

const signature: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
  outputs: [{ name: 'p', datatype: 'FP32', shape: [-1, 2] }, { name: 'score', datatype: 'FP32', shape: [-1, 1] }],
  batchable: true,
};
const source = { model: 'm.onnx', modelSha256: 'a'.repeat(64), data: 'd.jsonl' };

function profileOfFourRows(): Baseline {
  const inputs = tensorsFromJsonLines('{"x":[1,10]}\n[2,null]\n\n{"x":[[3,30]]}\n[4,40]\n', signature, 100);
  const outputs = [
    { name: 'p', datatype: 'FP32' as const, shape: [4, 2], data: new Float32Array([0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.6, 0.4]) },
    { name: 'score', datatype: 'FP32' as const, shape: [4, 1], data: new Float32Array([5, 6, 7, 8]) },
  ];
  return computeProfile(inputs, outputs, { bins: 2, maxFeatures: 10, features: [] }, source, new Date(0));
}

test('the profile has bins, range and missing share per input position, class shares for a softmax output', () => {
  const profile = profileOfFourRows();
  assert.equal(profile.format, BASELINE_FORMAT);
  assert.equal(profile.source.rows, 4);
  assert.deepEqual(profile.inputs.map((f) => f.name), ['x[0]', 'x[1]']);
  assert.deepEqual(profile.inputs[0].bins, { edges: [2], frequencies: [0.5, 0.5] });
  assert.deepEqual([profile.inputs[0].min, profile.inputs[0].max, profile.inputs[0].missing], [1, 4, 0]);
  // x[1] had one null of four rows: three finite values, the share missing 0.25.
  assert.deepEqual([profile.inputs[1].min, profile.inputs[1].max, profile.inputs[1].missing], [10, 40, 0.25]);
  assert.deepEqual(profile.outputs[0], { name: 'p', tensor: 'p', kind: 'classes', frequencies: [0.75, 0.25] });
  assert.equal(profile.outputs[1].kind, 'quantiles');
  assert.equal(profile.outputs[1].name, 'score[0]');
  // What profile writes, serve reads back.
  assert.deepEqual(parseBaseline(JSON.stringify(profile)), profile);
});

test('chosen features replace the full list, and an unknown one is refused by name', () => {
  const inputs = tensorsFromJsonLines('[1,2]\n[3,4]\n', signature, 100);
  const outputs = [{ name: 'score', datatype: 'FP32' as const, shape: [2, 1], data: new Float32Array([1, 2]) }];
  const chosen = computeProfile(inputs, outputs, { bins: 2, maxFeatures: 10, features: ['x[1]'] }, source);
  assert.deepEqual(chosen.inputs.map((f) => f.name), ['x[1]']);
  assert.throws(() => computeProfile(inputs, outputs, { bins: 2, maxFeatures: 10, features: ['x[7]'] }, source), /feature 'x\[7\]': the model's inputs have no such position/);
});

test('reference rows that do not fit the model are refused with the line and the input', () => {
  assert.throws(() => tensorsFromJsonLines('[1,2]\n[1,2,3]\n', signature, 100), /line 2: input 'x': 3 values, the model's row has 2/);
  assert.throws(() => tensorsFromJsonLines('[1,2]\n{"y":[1,2]}\n', signature, 100), /line 2: input 'x': missing/);
  assert.throws(() => tensorsFromJsonLines('[1,"a"]\n', signature, 100), /line 1: input 'x': "a" is not a number/);
  assert.throws(() => tensorsFromJsonLines('[1,2\n', signature, 100), /line 1: not JSON/);
});

test('the .npy header gives dtype, shape and where the data starts; Fortran order is refused', () => {
  const npy = (header: string) => {
    const padded = header.padEnd(117, ' ') + '\n';
    return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), Buffer.from([padded.length, 0]), Buffer.from(padded, 'latin1')]);
  };
  assert.deepEqual(npyHeader(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }")), { descr: '<f4', shape: [3, 2], dataOffset: 128 });
  assert.throws(() => npyHeader(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }")), /Fortran order/);
  assert.throws(() => npyHeader(Buffer.from('PK\u0003\u0004 not numpy')), /not a \.npy file/);
});

/** A valid profile with one change made by `edit`, as text. */
function edited(edit: (doc: any) => void): string {
  const doc = JSON.parse(JSON.stringify(profileOfFourRows()));
  edit(doc);
  return JSON.stringify(doc);
}

test('a baseline that breaks the format is refused, naming the field and the reason', () => {
  const cases: Array<[(doc: any) => void, RegExp]> = [
    [(d) => delete d.source.rows, /^source\.rows: is required$/],
    [(d) => (d.format = 'modelship.dev/baseline/v9'), /^format: "modelship.dev\/baseline\/v9" is not a version this server reads/],
    [(d) => (d.format = 'something'), /^format: must be "modelship.dev\/baseline\/v1"$/],
    [(d) => (d.inputs[1].bins.edges = 'x'), /^inputs\[1\]\.bins\.edges: must be array$/],
    [(d) => (d.inputs[0].bins = { edges: [3, 1], frequencies: [0.2, 0.3, 0.5] }), /^inputs\[0\]\.bins\.edges\[1\]: must be greater than the edge before it/],
    [(d) => (d.inputs[0].bins.frequencies = [1]), /^inputs\[0\]\.bins\.frequencies: has 1 entries, but 1 edges make 2 bins$/],
    [(d) => (d.outputs[0].frequencies = [0.5, 0.4]), /^outputs\[0\]\.frequencies: shares must sum to 1/],
    [(d) => (d.outputs[0].surprise = 1), /^outputs\[0\]\.surprise: unknown field$/],
    [(d) => (d.inputs[1].name = 'x[0]'), /^inputs\[1\]\.name: 'x\[0\]' appears more than once$/],
  ];
  for (const [edit, message] of cases) assert.throws(() => parseBaseline(edited(edit)), { message });
  assert.throws(() => parseBaseline('{"format":'), { message: /^not JSON/ });
});

test('a baseline for another model is refused by the tensor or position it names', () => {
  const baseline = profileOfFourRows();
  assert.doesNotThrow(() => checkBaselineFits(baseline, signature));
  const narrower = { ...signature, inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 1] }] };
  assert.throws(() => checkBaselineFits(baseline, narrower), { message: /^inputs\[1\]\.index: 1 is past the 1 elements of a row of 'x'$/ });
  const renamed = { ...signature, outputs: [{ name: 'q', datatype: 'FP32' as const, shape: [-1, 2] }] };
  assert.throws(() => checkBaselineFits(baseline, renamed), { message: /^outputs\[0\]\.tensor: the model has no output 'p' \(it has 'q'\)$/ });
});

// Drift measured by the real server on the real MLP over real HTTP, against a baseline that the real
// `profile` command wrote from reference data: flat while a client sends data like the reference, rising
// for the features (and the predictions) a client shifts; the counters give PromQL the same PSI as the
// window gauge; a bad baseline is refused at start, naming the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, postJson, runServerCli, type ServerProcess } from '../support/server-process.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { writeJsonLines, writeNpyFloat32 } from '../support/reference-data.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { scrape, sampleSum } from '../router/router-process.ts';
import { psi } from '../../contract/psi.ts';
import { DRIFT_METRICS } from '../../contract/metric-names.ts';
import type { Baseline } from '../../server-image/src/monitoring/baseline.ts';

const REFERENCE = randomRows(2000, MLP.features, 11);
/** The client's shift: features 4-7 moved down by 0.8 (of a [-1, 1) range); the others untouched. */
const SHIFTED = new Set([4, 5, 6, 7]);
const shift = (rows: number[][]) => rows.map((row) => row.map((v, i) => (SHIFTED.has(i) ? v - 0.8 : v)));

let model: string;
let baselinePath: string;

async function profile(data: string, out: string): Promise<Baseline> {
  const result = await runServerCli(['profile', '--model', model, '--data', data, '--out', out]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(readFileSync(out, 'utf8'));
}

before(async () => {
  model = modelPath.mlp();
  baselinePath = join(modelDir, 'baseline.json');
  await profile(writeJsonLines(join(modelDir, 'reference.jsonl'), 'input', REFERENCE), baselinePath);
});

async function send(server: ServerProcess, rows: number[][]): Promise<void> {
  for (let start = 0; start < rows.length; start += 20) {
    const batch = rows.slice(start, start + 20);
    const res = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch.length, MLP.features], data: batch.flat() }] });
    assert.equal(res.status, 200);
  }
}

/** Every sample of one metric family, by the value of `label`. */
function byLabel(text: string, name: string, label: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const key = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1];
    if (key !== undefined) values.set(key, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return values;
}

/** Scrapes until every row sent has been binned (binning runs after the answers). */
async function scrapeBinned(server: ServerProcess, rows: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const text = await scrape(server.url);
    if (sampleSum(text, DRIFT_METRICS.rows) >= rows) return text;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`fewer than ${rows} rows binned`);
}

describe('the profile command', () => {
  test('JSON lines and .npy of the same rows give the same baseline, with the class shares of the model\'s own answers', async () => {
    const fromNpy = await profile(writeNpyFloat32(join(modelDir, 'reference.npy'), REFERENCE), join(modelDir, 'baseline-npy.json'));
    const fromJson: Baseline = JSON.parse(readFileSync(baselinePath, 'utf8'));
    assert.deepEqual(fromNpy.inputs, fromJson.inputs);
    assert.deepEqual(fromNpy.outputs, fromJson.outputs);
    assert.equal(fromJson.source.rows, 2000);
    assert.equal(fromJson.source.modelSha256, createHash('sha256').update(readFileSync(model)).digest('hex'));
    assert.equal(fromJson.inputs.length, MLP.features);
    for (const feature of fromJson.inputs) {
      assert.equal(feature.bins.edges.length, 9);
      for (const share of feature.bins.frequencies) assert.ok(Math.abs(share - 0.1) < 0.002, `${feature.name}: ${share}`);
    }
    // Top class of each reference row by the float64 reference implementation, independently of ORT.
    const counts = [0, 0, 0, 0];
    for (const row of REFERENCE) {
      const p = MLP.reference(Float32Array.from(row));
      counts[p.indexOf(Math.max(...p))]++;
    }
    const classes = fromJson.outputs[0];
    assert.equal(classes.kind, 'classes');
    assert.deepEqual(classes.kind === 'classes' && classes.frequencies, counts.map((c) => c / REFERENCE.length));
  });

  test('--max-rows reads only the first rows of either format', async () => {
    for (const data of [join(modelDir, 'reference.jsonl'), writeNpyFloat32(join(modelDir, 'reference-rows.npy'), REFERENCE)]) {
      const out = join(modelDir, 'first-rows.json');
      const result = await runServerCli(['profile', '--model', model, '--data', data, '--out', out, '--max-rows', '300']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(readFileSync(out, 'utf8')).source.rows, 300);
    }
  });

  test('data that does not fit the model is refused with the line and the reason, exit 2', async () => {
    const bad = join(modelDir, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify({ input: REFERENCE[0] })}\n${JSON.stringify({ input: [1, 2, 3] })}\n`);
    const result = await runServerCli(['profile', '--model', model, '--data', bad, '--out', join(modelDir, 'never.json')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /line 2: input 'input': 3 values, the model's row has 16/);
    const missing = await runServerCli(['profile', '--model', model, '--data', join(modelDir, 'nowhere.npy'), '--out', join(modelDir, 'never.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--data .*nowhere\.npy cannot be read: ENOENT/);
  });
});

describe('drift as requests flow', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer(['--model', model, '--baseline', baselinePath, '--drift-min-rows', '500', '--drift-max-rows-per-second', '0']);
  });
  after(() => server.stop());

  test('flat for traffic like the reference, rising for the shifted features and the predictions', async () => {
    await send(server, randomRows(1000, MLP.features, 12));
    let text = await scrapeBinned(server, 1000);
    const flat = byLabel(text, DRIFT_METRICS.input.psi, 'feature');
    assert.equal(flat.size, MLP.features);
    for (const [feature, value] of flat) assert.ok(value < 0.05, `${feature}: PSI ${value} for unshifted traffic`);
    assert.ok(sampleSum(text, DRIFT_METRICS.prediction.psi) < 0.05, 'predictions unshifted');
    // A new sample strays past the reference's extremes now and then, rarely.
    assert.ok(sampleSum(text, DRIFT_METRICS.input.outOfRange) < 0.005 * 1000 * MLP.features);

    await send(server, shift(randomRows(2000, MLP.features, 13)));
    text = await scrapeBinned(server, 3000);
    const drifted = byLabel(text, DRIFT_METRICS.input.psi, 'feature');
    for (const [feature, value] of drifted) {
      const index = Number(/\[(\d+)\]/.exec(feature)![1]);
      if (SHIFTED.has(index)) assert.ok(value > 0.25, `${feature}: PSI ${value} for a shifted feature`);
      else assert.ok(value < 0.05, `${feature}: PSI ${value} for an unshifted feature`);
    }
    assert.equal(sampleSum(text, DRIFT_METRICS.input.psiWorst), Math.max(...drifted.values()));
    assert.ok(sampleSum(text, DRIFT_METRICS.prediction.psi, { output: 'probabilities' }) > 0.1, 'the shift moves the predicted classes');
    // Shifted values past the reference's maximum count as out of range, for the shifted features only.
    const outOfRange = byLabel(text, DRIFT_METRICS.input.outOfRange, 'feature');
    assert.ok(outOfRange.get('input[4]')! > 500);
    assert.ok(outOfRange.get('input[0]')! < 20);
  });

  test('the bin counters and the baseline shares give PromQL the PSI of the window gauge', async () => {
    const text = await scrape(server.url);
    for (const feature of ['input[0]', 'input[7]']) {
      const counts = byLabel(text.split('\n').filter((l) => l.includes(`feature="${feature}"`)).join('\n'), DRIFT_METRICS.input.bins, 'bin');
      const reference = byLabel(text.split('\n').filter((l) => l.includes(`feature="${feature}"`)).join('\n'), DRIFT_METRICS.input.baseline, 'bin');
      assert.equal(counts.size, 10);
      const bins = [...counts.keys()].sort((a, b) => Number(a) - Number(b));
      const fromCounters = psi(bins.map((b) => reference.get(b)!), bins.map((b) => counts.get(b)!));
      assert.ok(Math.abs(fromCounters - sampleSum(text, DRIFT_METRICS.input.psi, { feature })) < 1e-9);
    }
  });
});

describe('a model with several inputs of other datatypes', () => {
  test('FP32 and INT64 inputs are profiled from JSON lines and counted as requests flow, outputs by position', async () => {
    const multi = modelPath.multi();
    const rows = Array.from({ length: 200 }, (_, i) => ({ features: [i % 7, i % 5, 0.5, -1], ids: [i % 3, 100 + (i % 10), 7] }));
    const data = join(modelDir, 'multi.jsonl');
    writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n'));
    const out = join(modelDir, 'multi-baseline.json');
    const result = await runServerCli(['profile', '--model', multi, '--data', data, '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    const baseline: Baseline = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(baseline.inputs.map((f) => f.name), ['features[0]', 'features[1]', 'features[2]', 'features[3]', 'ids[0]', 'ids[1]', 'ids[2]']);
    // ids[1] takes the values 100..109: its edges are values the reference has, its range exact.
    const ids1 = baseline.inputs[5];
    assert.deepEqual([ids1.min, ids1.max], [100, 109]);
    assert.ok(ids1.bins.edges.every((e) => Number.isInteger(e) && e >= 100 && e < 109));
    // None of the outputs is a distribution: each position gets quantile bins (shifted = ids + 10, INT64).
    assert.ok(baseline.outputs.every((o) => o.kind === 'quantiles'));
    const shifted1 = baseline.outputs.find((o) => o.name === 'shifted[1]');
    assert.equal(shifted1?.kind === 'quantiles' ? shifted1.min : undefined, 110);

    const server = await startServer(['--model', multi, '--baseline', out, '--drift-min-rows', '10', '--drift-max-rows-per-second', '0']);
    try {
      const request = { inputs: [
        { name: 'features', datatype: 'FP32', shape: [2, 4], data: [1, 2, 0.5, -1, 3, 4, 0.5, -1] },
        { name: 'ids', datatype: 'INT64', shape: [2, 3], data: [0, 150, 7, 1, 104, 7] },
      ] };
      for (let i = 0; i < 10; i++) assert.equal((await postJson(`${server.url}/v2/models/multi/infer`, request)).status, 200);
      const text = await scrapeBinned(server, 20);
      const outOfRange = byLabel(text, DRIFT_METRICS.input.outOfRange, 'feature');
      assert.equal(outOfRange.get('ids[1]'), 10, 'the id 150 is past the reference range, 104 is not');
      assert.equal(outOfRange.get('features[0]'), 0);
      const binned = byLabel(text.split('\n').filter((l) => l.includes('feature="ids[1]"')).join('\n'), DRIFT_METRICS.input.bins, 'bin');
      assert.equal([...binned.values()].reduce((a, b) => a + b, 0), 20);
      assert.equal(byLabel(text, DRIFT_METRICS.prediction.outOfRange, 'output').get('shifted[1]'), 10);
    } finally {
      await server.stop();
    }
  });
});

describe('bounded cardinality', () => {
  test('past driftMaxFeatures, features are not labelled one by one; the worst and mean cover them all', async () => {
    const server = await startServer(['--model', model, '--baseline', baselinePath, '--drift-max-features', '2', '--drift-min-rows', '100', '--drift-max-rows-per-second', '0']);
    try {
      await send(server, randomRows(200, MLP.features, 14).map((row) => row.map((v, i) => (i === 3 ? v + 5 : v))));
      const text = await scrapeBinned(server, 200);
      assert.deepEqual([...byLabel(text, DRIFT_METRICS.input.psi, 'feature').keys()], ['input[0]', 'input[1]']);
      assert.deepEqual(new Set(byLabel(text, DRIFT_METRICS.input.bins, 'feature').keys()), new Set(['input[0]', 'input[1]']));
      // input[3], moved far past its range, is only in the aggregates.
      assert.ok(sampleSum(text, DRIFT_METRICS.input.psiWorst) > 1);
      const other = byLabel(text, DRIFT_METRICS.input.outOfRange, 'feature').get('_other')!;
      assert.ok(other >= 200 && other < 240, `${other} out of range past the cap`);
    } finally {
      await server.stop();
    }
  });

  test('a rows-per-second budget bounds the rows counted, whatever the rate; the rest are counted as skipped', async () => {
    const server = await startServer(['--model', model, '--baseline', baselinePath, '--drift-max-rows-per-second', '200']);
    try {
      const started = performance.now();
      await send(server, randomRows(2000, MLP.features, 15));
      const seconds = (performance.now() - started) / 1000;
      let text = '';
      for (let i = 0; i < 100; i++) {
        text = await scrape(server.url);
        if (sampleSum(text, DRIFT_METRICS.rows) + sampleSum(text, DRIFT_METRICS.budgetSkippedRows) >= 2000) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const counted = sampleSum(text, DRIFT_METRICS.rows);
      assert.equal(counted + sampleSum(text, DRIFT_METRICS.budgetSkippedRows), 2000, 'every row is counted or skipped');
      assert.ok(counted >= 200 && counted <= 200 * (1 + seconds) + 20, `${counted} rows counted in ${seconds.toFixed(2)} s at 200 a second`);
    } finally {
      await server.stop();
    }
  });
});

describe('refusing a baseline', () => {
  const startWith = async (baseline: string, extra: string[] = []) => {
    const server = await startServer(['--model', model, '--baseline', baseline, ...extra], { waitReady: false });
    assert.equal(await server.exited, 1);
    return String(server.logs.find((l) => l.message === 'cannot load baseline')?.error);
  };

  test('a file that breaks the format names the field', async () => {
    const doc = JSON.parse(readFileSync(baselinePath, 'utf8'));
    doc.inputs[2].bins.edges[4] = -10;
    const path = join(modelDir, 'bad-edges.json');
    writeFileSync(path, JSON.stringify(doc));
    assert.match(await startWith(path), /^baseline .*bad-edges\.json: inputs\[2\]\.bins\.edges\[4\]: must be greater than the edge before it/);
    delete doc.source;
    writeFileSync(path, JSON.stringify(doc));
    assert.match(await startWith(path), /bad-edges\.json: source: is required/);
  });

  test('a baseline of another model, or with the wrong SHA-256, is refused', async () => {
    const doc = JSON.parse(readFileSync(baselinePath, 'utf8'));
    doc.inputs[0].index = 16;
    const path = join(modelDir, 'other-model.json');
    writeFileSync(path, JSON.stringify(doc));
    assert.match(await startWith(path), /inputs\[0\]\.index: 16 is past the 16 elements of a row of 'input'/);
    assert.match(await startWith(baselinePath, ['--baseline-sha256', 'b'.repeat(64)]), /baseline .*baseline\.json: SHA-256 mismatch/);
  });
});

// The Drifting condition end to end: a real model server measures drift against a baseline the real
// `profile` command wrote, a real operator process reads the server's metrics (--server-metrics, as an
// operator outside the cluster does) and writes the condition and its Events to a real kube-apiserver.
// Flat while the client sends data like the reference; True, with the shifted features named and a
// Warning Event, once the client shifts its inputs; Ready untouched throughout.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { operatorKubeconfig, startOperator } from './operator-identity.ts';
import { eventually } from '../support/eventually.ts';
import { postJson, runServerCli, startServer, type ServerProcess } from '../support/server-process.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { writeJsonLines } from '../support/reference-data.ts';
import { MLP, randomRows } from '../models/zoo.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const REFERENCE = randomRows(2000, MLP.features, 11);
/** Features 4-7 moved down by 0.8 (of a [-1, 1) range), the others as the reference. */
const SHIFTED = new Set([4, 5, 6, 7]);
const WINDOW_SECONDS = 10;

let cluster: LocalCluster;
let operator: ChildProcess | undefined;
let server: ServerProcess;
const logs: string[] = [];
let shifted = false;
let sending = true;
let client: Promise<void>;

const condition = async (type: string) => {
  const mdep = JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'fraud', '-o', 'json']));
  return (mdep.status?.conditions ?? []).find((c: { type: string }) => c.type === type) as { status: string; reason: string; message: string } | undefined;
};
const driftReason = (reason: string) => eventually(`Drifting ${reason}`, async () => {
  const drifting = await condition('Drifting');
  return drifting?.reason === reason ? drifting : undefined;
}, { timeoutMs: 90_000, intervalMs: 500, context: () => logs.slice(-10).join('') });

/** Twenty-row requests, back to back, from the reference distribution or shifted. */
async function sendRows(): Promise<void> {
  let seed = 100;
  while (sending) {
    const rows = randomRows(20, MLP.features, seed++).map((row) => row.map((v, i) => (shifted && SHIFTED.has(i) ? v - 0.8 : v)));
    const res = await postJson(`${server.url}/v2/models/fraud/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, MLP.features], data: rows.flat() }] });
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  cluster = await startLocalCluster({ crds: [CRD] });
  await cluster.kubectl(['create', 'namespace', 'ml']);
  const baseline = join(modelDir, 'drift-condition-baseline.json');
  const profiled = await runServerCli(['profile', '--model', modelPath.mlp(), '--data', writeJsonLines(join(modelDir, 'drift-condition-reference.jsonl'), 'input', REFERENCE), '--out', baseline]);
  assert.equal(profiled.code, 0, profiled.stderr);
  // What the operator's Deployment would run for the spec below.
  server = await startServer(['--model', modelPath.mlp(), '--name', 'fraud', '--version', 'v1', '--baseline', baseline, '--drift-window-seconds', String(WINDOW_SECONDS), '--drift-min-rows', '100']);
  operator = startOperator(await operatorKubeconfig(cluster), ['--resync-ms', '5000', '--server-metrics', `ml/fraud/v1=${server.url}/metrics`], (chunk) => logs.push(chunk));
  await cluster.kubectl(['apply', '-n', 'ml', '-f', '-'], JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'fraud', namespace: 'ml' },
    spec: {
      model: { uri: 'https://models.example.com/fraud/v1.onnx', version: 'v1' },
      monitoring: { baseline: { uri: 'https://models.example.com/fraud/baseline.json' }, drift: { windowSeconds: WINDOW_SECONDS, minRows: 100 } },
    },
  }));
  client = sendRows();
}, { timeout: 180_000 });

after(async () => {
  sending = false;
  await client?.catch(() => undefined);
  if (operator && operator.exitCode === null) operator.kill('SIGKILL');
  await server?.stop();
  await cluster?.stop();
});

test('Drifting is False while the client sends data like the reference, and stays so', async () => {
  await driftReason('NoDrift');
  const ready = await condition('Ready');
  // Another reading of the pods (one every 10 s for a 10 s window): still no drift.
  await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 2000));
  const drifting = await condition('Drifting');
  assert.deepEqual([drifting?.status, drifting?.reason], ['False', 'NoDrift']);
  assert.equal(drifting?.message, 'every feature and output of version v1 below PSI 0.10');
  assert.deepEqual(await condition('Ready'), ready);
});

test('once the client shifts its inputs, Drifting turns True naming the shifted features, a Warning Event says so, and Ready is unchanged', async () => {
  const ready = await condition('Ready');
  shifted = true;
  const drifting = await driftReason('DriftAlert');
  assert.equal(drifting.status, 'True');
  const named = [...drifting.message.matchAll(/input input\[(\d+)\] PSI/g)].map((m) => Number(m[1]));
  assert.ok(named.length > 0 && named.every((i) => SHIFTED.has(i)), `only shifted features are named: ${drifting.message}`);
  const events = JSON.parse(await cluster.kubectl(['get', 'events', '-n', 'ml', '--field-selector', 'involvedObject.name=fraud', '-o', 'json'])).items;
  const detected = events.find((e: { reason: string }) => e.reason === 'DriftDetected');
  assert.ok(detected, `a DriftDetected Event among ${events.map((e: { reason: string }) => e.reason).join(', ')}`);
  assert.equal(detected.type, 'Warning');
  assert.deepEqual(await condition('Ready'), ready);
});

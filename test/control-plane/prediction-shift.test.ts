// The prediction-shift gate end to end (spec.rollout.analysis.maxPredictionShift), in the setting of
// rollout.test.ts: the operator on a simulated cluster runs each rollout, a real router process splits (or
// mirrors) real inference requests between real model servers on loopback, and the operator reads the
// router's and each version's model servers' /metrics (--router-metrics, --server-metrics, as an operator
// outside the cluster does). Every server loads the same baseline, written by the real `profile` command, so
// both versions count their predictions into the same bins. A retrained candidate (same signature, other
// class frequencies on the same inputs, the same network size) answers without errors (the error-rate gate
// passes it), so only the prediction-shift gate can stop it; the same model as a new version passes it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { eventually as poll } from '../support/eventually.ts';
import { operatorKubeconfig, startOperator } from './operator-identity.ts';
import { addGpuNodes, GPU_NODES } from './gpu-nodes.ts';
import { runServerCli, startServer, type ServerProcess } from '../support/server-process.ts';
import { startClientLoad, startLocalRouter, type LocalRouter } from './local-traffic.ts';
import { freePort } from '../support/free-port.ts';
import { modelDir } from '../support/model-files.ts';
import { writeJsonLines } from '../support/reference-data.ts';
import { MLP, MLP_RETRAINED, randomRows, writeModel } from '../models/zoo.ts';
import type { AnalysisResult } from '../../operator/src/rollout/types.ts';

const CRD = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
const MAX_SHIFT = 0.2;

/**
 * The clients' rows: 16 of each class the stable MLP predicts (by its float64 reference), so that two
 * samples of a few hundred of its predictions differ by little PSI; the retrained MLP predicts others.
 */
const topClass = (p: number[]) => p.indexOf(Math.max(...p));
const pool = randomRows(4000, MLP.features, 7);
const rows = Array.from({ length: MLP.classes }, (_, c) => pool.filter((row) => topClass(MLP.reference(Float32Array.from(row))) === c).slice(0, 16)).flat();

let cluster: LocalCluster;
let operator: ChildProcess | undefined;
let router: LocalRouter | undefined;
const servers: ServerProcess[] = [];
const logs: string[] = [];
let load: ReturnType<typeof startClientLoad>;

const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000) =>
  poll(what, probe, { timeoutMs, intervalMs: 200, context: () => logs.slice(-15).join('') });
const mdep = async () => JSON.parse(await cluster.kubectl(['get', '-n', 'ml', 'mdep', 'iris', '-o', 'json']));
const patchSpec = (spec: Record<string, unknown>) => cluster.kubectl(['-n', 'ml', 'patch', 'mdep', 'iris', '--type', 'merge', '-p', JSON.stringify({ spec })]);
const model = (version: string) => ({ uri: `https://models.example.com/iris/${version}.onnx`, version });

/** Follows the rollout until `until`, keeping every phase and weight, and every check's result, seen on the way. */
async function watchRollout(until: (rollout: any) => boolean): Promise<{ seen: Array<{ phase: string; weight: number }>; checks: AnalysisResult[] }> {
  const seen: Array<{ phase: string; weight: number }> = [];
  const checks: AnalysisResult[] = [];
  await eventually('the rollout to finish', async () => {
    const rollout = (await mdep()).status?.rollout;
    if (!rollout) return undefined;
    const last = seen.at(-1);
    if (!last || last.phase !== rollout.phase || last.weight !== rollout.canaryWeight) seen.push({ phase: rollout.phase, weight: rollout.canaryWeight });
    const check = rollout.lastAnalysis as AnalysisResult | undefined;
    if (check && checks.at(-1)?.time !== check.time) checks.push(check);
    return until(rollout) ? true : undefined;
  });
  return { seen, checks };
}

before(async () => {
  cluster = await startLocalCluster({ simulated: true, crds: [CRD] });
  await addGpuNodes(cluster, GPU_NODES.filter((n) => n.name === 'cpu-node'));
  await cluster.kubectl(['create', 'namespace', 'ml']);
  const operatorConfig = await operatorKubeconfig(cluster);
  const stableModel = writeModel(modelDir, 'shift-mlp.onnx', MLP.build());
  const baseline = join(modelDir, 'shift-baseline.json');
  const profiled = await runServerCli(['profile', '--model', stableModel, '--data', writeJsonLines(join(modelDir, 'shift-reference.jsonl'), 'input', randomRows(2000, MLP.features, 8)), '--out', baseline]);
  assert.equal(profiled.code, 0, profiled.stderr);
  // v1 (stable) and v4 are the MLP, each its own server; v2 and v3 are the retrained MLP.
  const retrained = writeModel(modelDir, 'shift-retrained.onnx', MLP_RETRAINED.build());
  for (const [version, path] of [['v1', stableModel], ['v2', retrained], ['v4', stableModel]]) {
    servers.push(await startServer(['--model', path, '--name', 'iris', '--version', version, '--baseline', baseline]));
  }
  const upstreams: Record<string, string> = { v1: servers[0].url, v2: servers[1].url, v3: servers[1].url, v4: servers[2].url };
  const routerPort = await freePort();
  const routerUrl = `http://127.0.0.1:${routerPort}`;
  operator = startOperator(operatorConfig, ['--workers', '2', '--lease-duration-ms', '3000', '--resync-ms', '5000', '--router-metrics', `ml/iris=${routerUrl}/metrics`,
    ...Object.entries(upstreams).flatMap(([version, url]) => ['--server-metrics', `ml/iris/${version}=${url}/metrics`])], (chunk) => logs.push(chunk));
  await cluster.kubectl(['apply', '-n', 'ml', '-f', '-'], JSON.stringify({
    apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' },
    spec: {
      model: model('v1'),
      monitoring: { baseline: { uri: 'https://models.example.com/iris/baseline.json' } },
      rollout: { steps: [50, 100], stepInterval: '2s', analysis: { minRequests: 100, maxErrorRate: 0.02, maxPredictionShift: MAX_SHIFT, failureThreshold: 2 } },
    },
  }));
  router = await startLocalRouter(cluster, 'ml', 'iris', upstreams, (line) => logs.push(line), routerPort);
  load = startClientLoad(routerUrl, 'iris', rows);
  await eventually('iris Ready on v1', async () => ((await mdep()).status?.phase === 'Ready' ? true : undefined));
}, { timeout: 10 * 60_000 });

after(async () => {
  await load?.stop();
  await router?.stop();
  if (operator && operator.exitCode === null) operator.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.stop()));
  await cluster?.stop();
});

const SHIFT_FAILURE = new RegExp(`^prediction shift PSI [0-9.]+ > ${MAX_SHIFT} \\(output probabilities, \\d+ candidate and \\d+ stable rows\\)$`);

test('a canary whose predictions shift is rolled back although it answers without errors; the shift is in status', async () => {
  const started = Date.now();
  await patchSpec({ model: model('v2') });
  const { seen } = await watchRollout((r) => r.phase === 'RolledBack' && r.candidate?.version === 'v2');
  assert.ok(seen.some((s) => s.phase === 'Progressing' && s.weight === 50), JSON.stringify(seen));
  const { rollout, stableVersion } = (await mdep()).status;
  assert.equal(stableVersion, 'v1');
  assert.equal(rollout.failedChecks, 2);
  const check: AnalysisResult = rollout.lastAnalysis;
  assert.equal(check.verdict, 'failed');
  assert.equal(check.failedGates.length, 1, `only the shift fails: ${check.failedGates.join('; ')}`);
  assert.match(check.failedGates[0], SHIFT_FAILURE);
  assert.equal(check.candidate.errors, 0);
  assert.equal(check.predictionShift?.output, 'probabilities');
  assert.ok(check.predictionShift!.psi! > MAX_SHIFT, JSON.stringify(check.predictionShift));
  assert.ok(check.predictionShift!.candidateRows >= 100 && check.predictionShift!.stableRows >= 100, JSON.stringify(check.predictionShift));
  assert.match(rollout.message, /^rolled back: prediction shift PSI/);
  assert.deepEqual(load.answers.filter((a) => a.at >= started && a.status !== 200), [], 'no client request failed');
});

test('a shadowed candidate whose predictions shift is rolled back before any client gets its answer', async () => {
  const started = Date.now();
  await patchSpec({ model: model('v3'), rollout: { shadow: { percent: 50, duration: '4s', minComparisons: 100 } } });
  const { seen } = await watchRollout((r) => r.phase === 'RolledBack' && r.candidate?.version === 'v3');
  assert.ok(seen.some((s) => s.phase === 'Shadowing'), JSON.stringify(seen));
  assert.ok(seen.every((s) => s.weight === 0), 'no real traffic reached the candidate');
  const check: AnalysisResult = (await mdep()).status.rollout.lastAnalysis;
  assert.equal(check.phase, 'Shadowing');
  assert.deepEqual(check.failedGates.map((g) => SHIFT_FAILURE.test(g)), [true], check.failedGates.join('; '));
  assert.ok(check.predictionShift!.candidateRows >= 100, 'rows counted against shadow.minComparisons');
  assert.equal(load.answers.filter((a) => a.at >= started && a.version === 'v3').length, 0, 'clients only got the stable answers');
});

test('the same model as a new version passes the gate in shadow and canary checks and is promoted', async () => {
  const previous = (await mdep()).status.rollout.lastAnalysis?.time;
  await patchSpec({ model: model('v4') });
  const { checks } = await watchRollout((r) => r.phase === 'Succeeded' && r.stable.version === 'v4');
  const judged = checks.filter((c) => c.time !== previous && c.predictionShift !== undefined && c.verdict !== 'insufficient');
  for (const phase of ['Shadowing', 'Progressing']) {
    assert.ok(judged.some((c) => c.phase === phase && c.verdict === 'passed'), `a passed ${phase} check judged the shift: ${JSON.stringify(checks)}`);
  }
  for (const c of judged) {
    assert.equal(c.verdict, 'passed', JSON.stringify(c));
    assert.ok(c.predictionShift!.psi! <= MAX_SHIFT && c.predictionShift!.candidateRows >= 100 && c.predictionShift!.stableRows >= 100, JSON.stringify(c.predictionShift));
  }
});

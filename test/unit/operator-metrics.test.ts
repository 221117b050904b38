// The operator's rollout series as a scrape reads them (prom-client's exposition text): one phase at 1 of
// the state set, the versions in the info series, weights and failed checks, the rollbacks counter from 0,
// and nothing left of a ModelDeployment once it is deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OperatorMetrics } from '../../operator/src/controller/metrics.ts';
import type { RolloutSummary } from '../../operator/src/controller/act.ts';
import { ROLLOUT_PHASES } from '../../contract/metric-names.ts';

/** The exposition's samples of the rollout series (and the rollbacks counter), without HELP and TYPE lines. */
async function rolloutSamples(metrics: OperatorMetrics, name?: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n')
    .filter((line) => /^modelship_operator_(rollout_|rollbacks_total)/.test(line))
    .filter((line) => name === undefined || line.includes(`name="${name}"`))
    .sort();
}

const shadowing: RolloutSummary = { phase: 'Shadowing', stable: 'v1', candidate: 'v2', canaryWeight: 0, shadowPercent: 50, failedChecks: 1 };

test('a shadowing rollout is its phase at 1 and every other phase at 0, its versions, its weights and its failed checks', async () => {
  const metrics = new OperatorMetrics();
  metrics.rollout('ml', 'iris', shadowing);
  const samples = await rolloutSamples(metrics);
  const phases = samples.filter((s) => s.startsWith('modelship_operator_rollout_phase{'));
  assert.equal(phases.length, ROLLOUT_PHASES.length);
  assert.deepEqual(phases.filter((s) => s.endsWith(' 1')), ['modelship_operator_rollout_phase{namespace="ml",name="iris",phase="Shadowing"} 1']);
  assert.deepEqual(samples.filter((s) => !s.startsWith('modelship_operator_rollout_phase{')), [
    'modelship_operator_rollbacks_total{namespace="ml",name="iris"} 0',
    'modelship_operator_rollout_canary_weight_percent{namespace="ml",name="iris"} 0',
    'modelship_operator_rollout_failed_checks{namespace="ml",name="iris"} 1',
    'modelship_operator_rollout_info{namespace="ml",name="iris",stable="v1",candidate="v2"} 1',
    'modelship_operator_rollout_shadow_percent{namespace="ml",name="iris"} 50',
  ]);
});

test('the next reconcile\'s rollout replaces the last one: one phase at 1, one info series with the versions of now', async () => {
  const metrics = new OperatorMetrics();
  metrics.rollout('ml', 'iris', shadowing);
  metrics.rollout('ml', 'iris', { phase: 'Progressing', stable: 'v1', candidate: 'v3', canaryWeight: 20, shadowPercent: 0, failedChecks: 0 });
  const samples = await rolloutSamples(metrics);
  assert.deepEqual(samples.filter((s) => s.startsWith('modelship_operator_rollout_phase{') && s.endsWith(' 1')), ['modelship_operator_rollout_phase{namespace="ml",name="iris",phase="Progressing"} 1']);
  assert.deepEqual(samples.filter((s) => s.startsWith('modelship_operator_rollout_info')), ['modelship_operator_rollout_info{namespace="ml",name="iris",stable="v1",candidate="v3"} 1']);
  assert.ok(samples.includes('modelship_operator_rollout_canary_weight_percent{namespace="ml",name="iris"} 20'));
  assert.ok(samples.includes('modelship_operator_rollout_shadow_percent{namespace="ml",name="iris"} 0'));

  metrics.rollout('ml', 'iris', { phase: 'Succeeded', stable: 'v3', canaryWeight: 0, shadowPercent: 0, failedChecks: 0 });
  assert.deepEqual((await rolloutSamples(metrics)).filter((s) => s.startsWith('modelship_operator_rollout_info')),
    ['modelship_operator_rollout_info{namespace="ml",name="iris",stable="v3",candidate=""} 1'], 'no candidate: an empty label, as Prometheus stores an absent one');
});

test('the rollbacks counter starts at 0 with the ModelDeployment\'s first reconcile and counts each rollback', async () => {
  const metrics = new OperatorMetrics();
  assert.deepEqual(await rolloutSamples(metrics), []);
  metrics.rollout('ml', 'iris', { phase: 'Initialized', stable: 'v1', canaryWeight: 0, shadowPercent: 0, failedChecks: 0 });
  assert.ok((await rolloutSamples(metrics)).includes('modelship_operator_rollbacks_total{namespace="ml",name="iris"} 0'));
  metrics.rollout('ml', 'iris', { ...shadowing, phase: 'RolledBack', shadowPercent: 0, failedChecks: 2 });
  metrics.rolledBack('ml', 'iris');
  metrics.rollout('ml', 'iris', { ...shadowing, phase: 'RolledBack', shadowPercent: 0, failedChecks: 2 });
  assert.ok((await rolloutSamples(metrics)).includes('modelship_operator_rollbacks_total{namespace="ml",name="iris"} 1'), 'later reconciles add nothing');
});

test('a deleted ModelDeployment leaves no series; the others keep theirs', async () => {
  const metrics = new OperatorMetrics();
  metrics.rollout('ml', 'iris', shadowing);
  metrics.rolledBack('ml', 'iris');
  metrics.rollout('ml', 'ranker', { phase: 'Initialized', stable: 'v7', canaryWeight: 0, shadowPercent: 0, failedChecks: 0 });
  const ranker = await rolloutSamples(metrics, 'ranker');
  assert.equal(ranker.length, ROLLOUT_PHASES.length + 5);
  metrics.forget('ml', 'iris');
  assert.deepEqual(await rolloutSamples(metrics, 'iris'), []);
  assert.deepEqual(await rolloutSamples(metrics, 'ranker'), ranker);
});

test('a refused spec (no rollout decided) drops the rollout series but keeps counting rollbacks', async () => {
  const metrics = new OperatorMetrics();
  metrics.rollout('ml', 'iris', shadowing);
  metrics.rolledBack('ml', 'iris');
  metrics.rollout('ml', 'iris', undefined);
  assert.deepEqual(await rolloutSamples(metrics), ['modelship_operator_rollbacks_total{namespace="ml",name="iris"} 1']);
});

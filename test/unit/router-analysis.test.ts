// The router analysis' scrapes over a real loopback HTTP endpoint serving a router's exposition: one scrape
// per window boundary (the end of a judged window is the start of the next), and windows judged on the
// difference between the two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RouterAnalysis } from '../../operator/src/rollout/analysis.ts';
import type { ModelDeployment } from '../../operator/src/api/types.ts';
import type { RolloutStatus } from '../../operator/src/rollout/types.ts';

test('a check and the next window share one scrape; the window is judged on what happened between scrapes', async () => {
  let served = 0;
  let candidateRequests = 0;
  const router = createServer((_req, res) => {
    served++;
    res.end(`modelship_router_requests_total{version="v2",route="weighted",code="200"} ${candidateRequests}\nmodelship_router_requests_total{version="v1",route="weighted",code="200"} 1000\n`);
  }).listen(0, '127.0.0.1');
  await once(router, 'listening');
  const url = `http://127.0.0.1:${(router.address() as AddressInfo).port}/metrics`;
  try {
    const analysis = new RouterAnalysis(async () => [url], async () => []);
    const mdep = { apiVersion: 'serving.modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'iris', namespace: 'ml' },
      spec: { model: { uri: 'x', version: 'v2' }, rollout: { analysis: { minRequests: 10 } } } } as ModelDeployment;
    const t0 = Date.parse('2026-11-24T12:00:00Z');
    const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    const status = (start: number): RolloutStatus => ({ phase: 'Progressing', stable: { version: 'v1', uri: 'a' }, candidate: { version: 'v2', uri: 'b' }, step: 0, canaryWeight: 10, failedChecks: 0, windowStartedAt: at(start), message: '' });

    await analysis.startWindow(mdep, status(t0));
    assert.equal(served, 1);
    candidateRequests = 40;
    const first = await analysis.measure(mdep, status(t0), t0 + 60_000);
    assert.equal(served, 2);
    assert.ok(first !== 'no-baseline');
    assert.equal(first.candidate.requests, 40);
    assert.equal(first.verdict, 'passed');
    // The next window starts when that check ended: its start is the scrape just taken.
    await analysis.startWindow(mdep, status(t0 + 60_000));
    assert.equal(served, 2, 'no second scrape for the same moment');
    candidateRequests = 45;
    const second = await analysis.measure(mdep, status(t0 + 60_000), t0 + 120_000);
    assert.ok(second !== 'no-baseline');
    assert.equal(second.candidate.requests, 5);
    assert.equal(second.verdict, 'insufficient');
    // A window that starts at another moment measures its own start.
    await analysis.startWindow(mdep, status(t0 + 125_000));
    assert.equal(served, 4);
  } finally {
    router.close();
  }
});

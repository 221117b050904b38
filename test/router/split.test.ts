// Traffic splitting through the real router to two real model servers: the split by weight, measured at
// the upstreams and in the router's metrics; sticky clients; explicit versions; where metadata goes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { waitFor } from '../support/eventually.ts';
import { client, inferBody, routesOf, sampleSum, scrape, startRouter, upstreamSuccesses, writeRoutes, type RouterProcess } from './router-process.ts';

const rows = randomRows(32, MLP.features, 41);
/** Four standard deviations of a binomial count: the band a correct split stays in but for 1 run in 15,000. */
const band = (n: number, p: number) => 4 * Math.sqrt(n * p * (1 - p));

describe('splitting traffic between two versions', () => {
  let v1: ServerProcess;
  let v2: ServerProcess;
  let router: RouterProcess;
  let routesFile: string;
  const http = client(16);
  const table = (candidateWeight: number) => ({
    // The candidate first, as the operator lists it.
    versions: [
      { name: 'v2', url: v2.url, weight: candidateWeight },
      { name: 'v1', url: v1.url, weight: 100 - candidateWeight },
    ],
    stickyHeader: 'X-User-Id',
  });
  const setCandidateWeight = async (weight: number) => {
    writeRoutes(table(weight), routesFile);
    await waitFor(`the router to take weight ${weight}`, async () => {
      return (await routesOf(router)).versions[0].weight === weight;
    }, { timeoutMs: 10_000, intervalMs: 20 });
  };
  const infer = (i: number, headers: Record<string, string> = {}) => http.postJson(`${router.url}/v2/models/mlp/infer`, inferBody([rows[i % rows.length]]), headers);

  before(async () => {
    [v1, v2] = await Promise.all([
      startServer(['--model', modelPath.mlp(), '--version', 'v1']),
      startServer(['--model', modelPath.mlp(), '--version', 'v2']),
    ]);
    routesFile = writeRoutes(table(20));
    router = await startRouter(['--routes-file', routesFile]);
  });
  after(async () => {
    http.close();
    assert.equal(await router.stop(), 0);
    await Promise.all([v1.stop(), v2.stop()]);
  });

  test('2000 requests at 80/20 split within a 4-sigma band, counted alike by client, upstreams and router', async () => {
    const before = { v1: await upstreamSuccesses(v1.url), v2: await upstreamSuccesses(v2.url), router: await scrape(router.url) };
    const total = 2000;
    const seen = { v1: 0, v2: 0 };
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < total) {
        const res = await infer(next++);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        seen[res.body.model_version as 'v1' | 'v2']++;
      }
    }));
    const atUpstream = { v1: (await upstreamSuccesses(v1.url)) - before.v1, v2: (await upstreamSuccesses(v2.url)) - before.v2 };
    const metrics = await scrape(router.url);
    const atRouter = (version: string) => sampleSum(metrics, 'modelship_router_requests_total', { version, code: '200' })
      - sampleSum(before.router, 'modelship_router_requests_total', { version, code: '200' });

    assert.equal(seen.v1 + seen.v2, total);
    assert.deepEqual(atUpstream, seen, 'each upstream answered exactly the requests routed to it');
    assert.deepEqual({ v1: atRouter('v1'), v2: atRouter('v2') }, seen, 'the router counted the same');
    const expected = total * 0.2;
    assert.ok(Math.abs(seen.v2 - expected) <= band(total, 0.2), `v2 got ${seen.v2} of ${total}, expected ${expected} +- ${band(total, 0.2).toFixed(0)}`);
    assert.equal(sampleSum(metrics, 'modelship_router_weight', { version: 'v2' }), 20);
    assert.equal(sampleSum(metrics, 'modelship_router_request_duration_seconds_count', { version: 'v2' }), sampleSum(metrics, 'modelship_router_requests_total', { version: 'v2' }));
  });

  describe('sticky clients', () => {
    const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    const versionsOf = async () => {
      const assigned = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        await Promise.all(users.map(async (user, i) => {
          const res = await infer(i, { 'x-user-id': user });
          assert.equal(res.status, 200);
          const version = res.body.model_version as string;
          assert.equal(assigned.get(user) ?? version, version, `${user} moved between requests`);
          assigned.set(user, version);
        }));
      }
      return assigned;
    };
    let at20: Map<string, string>;

    test('the same header value always reaches the same version, and distinct values spread by weight', async () => {
      at20 = await versionsOf();
      const onCandidate = [...at20.values()].filter((v) => v === 'v2').length;
      assert.ok(Math.abs(onCandidate - 60) <= band(300, 0.2), `${onCandidate} of 300 users on the candidate, expected 60 +- ${band(300, 0.2).toFixed(0)}`);
    });

    test('raising the candidate weight keeps the users already on it and only moves users toward it', async () => {
      await setCandidateWeight(50);
      const at50 = await versionsOf();
      for (const [user, version] of at20) {
        if (version === 'v2') assert.equal(at50.get(user), 'v2', `${user} left the candidate when its weight rose`);
      }
      const onCandidate = [...at50.values()].filter((v) => v === 'v2').length;
      assert.ok(Math.abs(onCandidate - 150) <= band(300, 0.5), `${onCandidate} of 300 users on the candidate at 50%`);
      await setCandidateWeight(20);
      assert.deepEqual(await versionsOf(), at20, 'back at 20% every user is where it was');
    });
  });

  test('an explicit version path reaches that version whatever the weights', async () => {
    for (const version of ['v1', 'v2']) {
      for (let i = 0; i < 20; i++) {
        const res = await http.postJson(`${router.url}/v2/models/mlp/versions/${version}/infer`, inferBody([rows[i]]));
        assert.equal(res.status, 200);
        assert.equal(res.body.model_version, version);
      }
    }
  });

  test('metadata requests go to the version with the most traffic (the first on a tie)', async () => {
    const metadata = async () => JSON.parse((await http.send(`${router.url}/v2/models/mlp`)).body.toString()).versions;
    assert.deepEqual(await metadata(), ['v1']);
    await setCandidateWeight(50);
    assert.deepEqual(await metadata(), ['v2']);
    await setCandidateWeight(20);
  });
});

// The router against answers and requests meant to hurt it, as a real process in front of a real model
// server. Shadow answers no model server can be made to give (a truncated binary tensor, JSON nested
// 200,000 levels deep, a body without end) come from a small HTTP server in this process: each is counted
// as an invalid comparison while the client gets the primary's answer and the router keeps serving.
// Also: shadow copies bounded in bytes and never sent for a failed primary, the byte budget's 503, the
// requests the rollout gates count (read with the operator's own router-numbers), routing loops, error
// messages that quote input only as excerpts, and a stray unhandled rejection that the process survives.
import { HOSTILE_ANSWERS, type HostileAnswer } from '../support/hostile-answers.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { modelDir } from '../support/model-files.ts';
import { freePort } from '../support/free-port.ts';
import { writeModel } from '../models/zoo.ts';
import { eventually } from '../support/eventually.ts';
import { addExposition } from '../../operator/src/rollout/metric-samples.ts';
import { routerWindowNumbers } from '../../operator/src/rollout/router-numbers.ts';
import { client, offsetModel, routesDir, routesOf, sampleSum, scrape, startRouter, writeRoutes, type RouterProcess } from './router-process.ts';

const input = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] };
/** The same request padded with whitespace to `bytes` (still valid JSON): a larger body, the same answer. */
const padded = (bytes: number) => {
  const text = JSON.stringify(input);
  return `${text}${' '.repeat(bytes - text.length)}`;
};

let identity: ServerProcess;
before(async () => {
  identity = await startServer(['--model', writeModel(modelDir, 'hostile-identity.onnx', offsetModel(0)), '--name', 'scores', '--version', 'v1']);
});
after(() => identity?.stop());

/** An HTTP server in this process; `handle` answers as the test needs. Closed with its connections. */
async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; close(): void }> {
  const server = createServer(handle).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

const comparisons = (router: RouterProcess, result: string, count: number) => eventually(`${count} '${result}' comparisons`, async () => {
  const text = await scrape(router.url);
  return sampleSum(text, 'modelship_router_shadow_comparisons_total', { result }) >= count ? text : undefined;
}, { timeoutMs: 20_000, intervalMs: 50, context: () => JSON.stringify(router.logs.slice(-5)) });

describe('a shadow that answers garbage', () => {
  let mode: HostileAnswer = 'short-fp32';
  let hostile: Awaited<ReturnType<typeof listen>>;
  let router: RouterProcess;
  const http = client(4);
  const answers = HOSTILE_ANSWERS;


  before(async () => {
    hostile = await listen((req, res) => {
      req.resume();
      req.on('end', () => answers[mode](res));
    });
    router = await startRouter(['--max-body-bytes', String(1024 * 1024), '--routes-file', writeRoutes({
      versions: [{ name: 'bad', url: hostile.url, weight: 0 }, { name: 'v1', url: identity.url, weight: 100 }],
      shadow: { version: 'bad', percent: 100 },
    })]);
  });
  after(async () => {
    http.close();
    assert.equal(router.child.exitCode, null, 'the router never exited');
    assert.equal(sampleSum(await scrape(router.url), 'modelship_router_unhandled_rejections_total'), 0, 'no rejection went unhandled');
    assert.equal(await router.stop(), 0);
    hostile.close();
  });

  const primaryAnswers = async () => {
    const res = await http.postJson(`${router.url}/v2/models/scores/infer`, input);
    assert.equal(res.status, 200);
    assert.equal(res.body.model_version, 'v1', 'the client is answered by the primary');
    assert.deepEqual(res.body.outputs[0].data, [1, 2, 3, 4]);
  };

  const cases: Array<[HostileAnswer, string]> = [
    ['short-fp32', 'a shadow answer with a truncated FP32 tensor is counted invalid and the router keeps serving'],
    ['deep', 'a shadow answer nested 200,000 levels deep is counted invalid and the router keeps serving'],
    ['endless', 'a shadow answer without end is read only up to the body limit, counted invalid, and the router keeps serving'],
  ];
  let invalid = 0;
  for (const [which, name] of cases) {
    test(name, async () => {
      mode = which;
      await primaryAnswers();
      await comparisons(router, 'invalid', ++invalid);
      assert.equal(router.child.exitCode, null);
      await primaryAnswers();
      await comparisons(router, 'invalid', ++invalid);
      const text = await scrape(router.url);
      assert.equal(sampleSum(text, 'modelship_router_shadow_comparisons_total', { result: 'compared' }), 0);
      assert.equal(sampleSum(text, 'modelship_router_shadow_bytes'), 0, 'the copies let go of every byte');
    });
  }
});

describe('shadow copies', () => {
  let hole: Awaited<ReturnType<typeof listen>>;
  let received = 0;
  let router: RouterProcess;
  const http = client(1);

  before(async () => {
    // Reads each copy and never answers: every copy sent stays in flight.
    hole = await listen((req) => {
      received++;
      req.resume();
    });
    router = await startRouter(['--shadow-concurrency', '1', '--shadow-queue-size', '100', '--shadow-queue-bytes', '4096', '--routes-file', writeRoutes({
      versions: [{ name: 'hole', url: hole.url, weight: 0 }, { name: 'v1', url: identity.url, weight: 100 }],
      shadow: { version: 'hole', percent: 100 },
    })]);
  });
  after(async () => {
    http.close();
    assert.equal(await router.stop(), 0);
    hole.close();
  });

  test('copies of requests whose primary failed are not sent', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await http.postJson(`${router.url}/v2/models/scores/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
      assert.equal(res.status, 400, 'the primary refuses the request');
    }
    const text = await comparisons(router, 'skipped', 3);
    assert.equal(sampleSum(text, 'modelship_router_shadow_dropped_total', { reason: 'primary_failed' }), 3);
    assert.equal(received, 0, 'the shadow never saw them');
  });

  test('the copies waiting for a stuck shadow are bounded in bytes (--shadow-queue-bytes), the rest dropped', async () => {
    const body = padded(1000);
    let copyBytes = 0;
    for (let i = 0; i < 10; i++) {
      const res = await http.send(`${router.url}/v2/models/scores/infer`, { body, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200);
      copyBytes = Buffer.byteLength(body) + res.body.length; // a copy holds its request and the primary's answer
    }
    const fit = Math.floor(4096 / copyBytes);
    assert.ok(fit >= 1 && fit < 10, `${fit} copies fit`);
    const text = await eventually('the drops to be counted', async () => {
      const metrics = await scrape(router.url);
      return sampleSum(metrics, 'modelship_router_shadow_dropped_total', { reason: 'queue_full' }) === 10 - fit ? metrics : undefined;
    });
    assert.equal(sampleSum(text, 'modelship_router_shadow_bytes'), fit * copyBytes);
    assert.equal(received, 1, 'one copy in flight to the stuck shadow, the others wait');
  });
});

describe('the byte budget', () => {
  let slow: Awaited<ReturnType<typeof listen>>;
  let held: Array<() => void> = [];
  let arrived = 0;
  let router: RouterProcess;
  const http = client(4);
  const budget = 65536;

  before(async () => {
    // Holds every request it has read in full until the test lets it go.
    slow = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        arrived++;
        held.push(() => res.end(JSON.stringify({ model_name: 'scores', model_version: 'slow', outputs: [] })));
      });
    });
    router = await startRouter(['--max-inflight-bytes', String(budget), '--routes-file', writeRoutes({
      versions: [{ name: 'slow', url: slow.url, weight: 0 }, { name: 'v1', url: identity.url, weight: 100 }],
    })]);
  });
  after(async () => {
    http.close();
    assert.equal(await router.stop(), 0);
    slow.close();
  });

  test('past --max-inflight-bytes a request gets 503 at once in the error shape, declared or streamed; once bytes are let go, 200; one larger than the budget 413', async () => {
    const body = padded(40_000);
    const stuck = http.send(`${router.url}/v2/models/scores/versions/slow/infer`, { body, headers: { 'content-type': 'application/json' } });
    await eventually('the slow version to hold the first request', async () => (arrived === 1 ? true : undefined), { intervalMs: 20 });

    const refused = await http.send(`${router.url}/v2/models/scores/infer`, { body, headers: { 'content-type': 'application/json' } });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(JSON.parse(refused.body.toString()).error, new RegExp(`at most ${budget} bytes may be in flight \\(maxInflightBytes, --max-inflight-bytes\\)`));
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(1000)));
        controller.close();
      },
    });
    const chunked = await fetch(`${router.url}/v2/models/scores/infer`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(chunked.status, 503);
    assert.match(((await chunked.json()) as { error: string }).error, /--max-inflight-bytes/);

    for (const release of held.splice(0)) release();
    assert.equal((await stuck).status, 200);
    const res = await http.send(`${router.url}/v2/models/scores/infer`, { body, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    const whole = await http.send(`${router.url}/v2/models/scores/infer`, { body: padded(budget + 1), headers: { 'content-type': 'application/json' } });
    assert.equal(whole.status, 413, 'a body larger than the whole budget could never be held');
    assert.match(JSON.parse(whole.body.toString()).error, new RegExp(`exceeds the budget of ${budget} bytes in flight`));
    const text = await scrape(router.url);
    assert.equal(sampleSum(text, 'modelship_router_requests_total', { version: 'none', route: 'weighted', code: '503' }), 2, 'charged to no version');
    assert.equal(sampleSum(text, 'modelship_router_inflight_bytes'), 0);
  });
});

describe('what the rollout gates count, loops and echoes', () => {
  let router: RouterProcess;
  let routesFile: string;
  let deadUrl: string;
  const http = client(4);
  const numbers = async (candidate: string) => routerWindowNumbers(addExposition(new Map(), await scrape(router.url)), 'v1', candidate).candidate;
  const install = async (table: { versions: Array<{ name: string; url: string; weight: number }> }) => {
    writeRoutes(table, routesFile);
    await eventually('the router to take the table', async () => ((await routesOf(router)).versions[0].name === table.versions[0].name ? true : undefined), { intervalMs: 20 });
  };
  /** OPTIONS * (asterisk-form), which fetch cannot send. */
  const optionsStar = () => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${router.url}`, { method: 'OPTIONS', path: '*' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });

  before(async () => {
    deadUrl = `http://127.0.0.1:${await freePort()}`;
    routesFile = writeRoutes({
      versions: [{ name: 'v2', url: identity.url, weight: 100 }, { name: 'v1', url: identity.url, weight: 0 }, { name: 'dead', url: deadUrl, weight: 0 }],
    });
    router = await startRouter(['--routes-file', routesFile]);
  });
  after(async () => {
    http.close();
    assert.equal(router.child.exitCode, null);
    assert.equal(await router.stop(), 0);
  });

  test('/versions/ requests, metadata and OPTIONS * do not move the gated series; weight-routed inference does', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await http.postJson(`${router.url}/v2/models/scores/infer`, input)).status, 200);
    for (let i = 0; i < 4; i++) assert.equal((await http.postJson(`${router.url}/v2/models/scores/versions/dead/infer`, input)).status, 503);
    // The model server behind 'v2' is version v1: it answers a request pinned to v2 with 404.
    for (let i = 0; i < 3; i++) assert.equal((await http.postJson(`${router.url}/v2/models/scores/versions/v2/infer`, input)).status, 404);
    assert.equal((await http.send(`${router.url}/v2/models/scores`)).status, 200);
    const star = await optionsStar();
    assert.equal(star.status, 400);
    assert.match(JSON.parse(star.body).error, /request target '\*' is not a path/);

    const candidate = await numbers('v2');
    assert.deepEqual([candidate.requests, candidate.errors], [5, 0], 'only the weight-routed requests');
    assert.equal((await numbers('dead')).requests, 0, 'pinned failures are not the canary\'s');
    const text = await scrape(router.url);
    assert.equal(sampleSum(text, 'modelship_router_requests_total', { version: 'dead', route: 'pinned', code: '503' }), 4);
    assert.equal(sampleSum(text, 'modelship_router_requests_total', { version: 'v2', route: 'other' }), 1);
    assert.equal(sampleSum(text, 'modelship_router_requests_total', { version: 'none', route: 'other', code: '400' }), 1, 'OPTIONS * is charged to no version');
  });

  test('a dead upstream routed by weight still counts against its version', async () => {
    await install({ versions: [{ name: 'dead', url: deadUrl, weight: 100 }, { name: 'v1', url: identity.url, weight: 0 }] });
    for (let i = 0; i < 3; i++) assert.equal((await http.postJson(`${router.url}/v2/models/scores/infer`, input)).status, 503);
    const dead = await numbers('dead');
    assert.deepEqual([dead.requests, dead.errors], [3, 3]);
  });

  test('a table pointing at the router itself answers 508 after two hops', async () => {
    await install({ versions: [{ name: 'self', url: router.url, weight: 100 }] });
    const res = await fetch(`${router.url}/v2/models/scores/infer`, { method: 'POST', body: JSON.stringify(input), signal: AbortSignal.timeout(15_000) });
    assert.equal(res.status, 508);
    assert.match(((await res.json()) as { error: string }).error, /routing loop: the request came back to this router/);
    const text = await scrape(router.url);
    assert.equal(sampleSum(text, 'modelship_router_requests_total', { version: 'none', code: '508' }), 1, 'the second hop refused it');
    assert.equal(sampleSum(text, 'modelship_router_requests_total', { version: 'self' }), 1, 'the first hop passed the answer back');
  });

  test('an unknown version with a 10,000-character name is named only as an excerpt', async () => {
    await install({ versions: [{ name: 'v1', url: identity.url, weight: 100 }] });
    const res = await http.postJson(`${router.url}/v2/models/scores/versions/${'x'.repeat(10_000)}/infer`, input);
    assert.equal(res.status, 404);
    assert.match(res.body.error, /^unknown version 'x{60}\.\.\. \(9940 more characters\)': this router serves v1$/);
  });
});

test('a stray unhandled rejection is logged and counted; the router keeps serving', async () => {
  // Loaded before the program, as a dependency with a bug would be: it rejects a promise nobody handles.
  const stray = join(routesDir, 'stray-rejection.mjs');
  writeFileSync(stray, "setTimeout(() => { Promise.reject(new Error('a bug somewhere')); }, 100);\n");
  const router = await startRouter(['--routes-file', writeRoutes({ versions: [{ name: 'v1', url: identity.url, weight: 100 }] })], { NODE_OPTIONS: `--import=${stray}` });
  try {
    await eventually('the rejection to be logged', async () => (router.logs.some((l) => l.message === 'unhandled promise rejection (a bug); the process keeps running' && /a bug somewhere/.test(String(l.error))) ? true : undefined));
    assert.equal(sampleSum(await scrape(router.url), 'modelship_router_unhandled_rejections_total'), 1);
    const http = client(1);
    assert.equal((await http.postJson(`${router.url}/v2/models/scores/infer`, input)).status, 200);
    http.close();
  } finally {
    assert.equal(await router.stop(), 0);
  }
});

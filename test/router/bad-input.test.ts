// Bad input to the router: settings and route tables refused at start with the key at fault (exit 2), a bad
// table on reload refused while the previous one keeps serving, and requests that cannot be served answered
// in the protocol's error shape (503 no version or upstream down, 504 upstream silent, 413, 404), while the
// router keeps running. Failures a model server cannot produce on demand (a keep-alive socket reset, an
// answer cut midway, silence) come from small HTTP and TCP servers in this process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { startServer, runServerCli, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { freePort } from '../support/free-port.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { eventually } from '../support/eventually.ts';
import { loadRouteOptions } from '../../server-image/src/config/route-options.ts';
import { ConfigError } from '../../server-image/src/config/load.ts';
import { RouteTableError, parseRouteTable } from '../../contract/route-table.ts';
import { client, inferBody, routesDir, routesOf, sampleSum, scrape, startRouter, writeRoutes, type RouterProcess } from './router-process.ts';

const row = randomRows(1, MLP.features, 8)[0];
const good = inferBody([row]);

describe('settings and route tables refused at start', () => {
  const refused = async (args: string[], ...messages: RegExp[]) => {
    const { code, stderr } = await runServerCli(['route', ...args]);
    assert.equal(code, 2, stderr);
    for (const message of messages) assert.match(stderr, message);
  };
  const v = (name: string, weight: number) => ({ name, url: 'http://127.0.0.1:1', weight });

  // Each refusal once through the real program (exit 2, message on stderr) ...
  test('bad settings: exit 2 naming the flags', () => refused(['--routes-configmap', 'just-a-name', '--upstream', 'v1:http://x', '--shadow-concurrency', '0'],
    /--routes-configmap: must be NAMESPACE\/NAME of a ConfigMap/, /--upstream\[0\]: must be VERSION=URL/, /--shadow-concurrency: must be >= 1/));
  test('a bad route table: exit 2 naming every key at fault', () => refused(['--routes-file', writeRoutes({ versions: [{ name: 'v1', url: 'ftp://a', wieght: 100 }], shadow: { version: 'v1', percent: 150 } })],
    /invalid route table/, /versions\[0\]\.wieght: unknown key/, /versions\[0\]\.weight: is required/, /versions\[0\]\.url: must be an http:\/\/ or https:\/\/ URL/, /shadow\.percent: must be <= 100/));
  test('a routes file that does not exist: exit 2', () => refused(['--routes-file', join(routesDir, 'missing.json')], /missing\.json: cannot read: ENOENT/));

  // ... and every rule through the same code in this process, which is quicker than a process per case.
  const settings: Array<[string, string[], RegExp]> = [
    ['no route source', [], /exactly one of --routes-file \(MODELSHIP_ROUTES_FILE\) and --routes-configmap/],
    ['two route sources', ['--routes-file', 'a.json', '--routes-configmap', 'ml/iris-routes'], /exactly one of --routes-file/],
    ['a version given twice to --upstream', ['--routes-file', 'a', '--upstream', 'v1=http://a', '--upstream', 'v1=http://b'], /--upstream: version 'v1' is given more than once/],
    ['an unknown flag', ['--routes-file', 'a', '--weights', '5'], /Unknown option '--weights'/],
  ];
  for (const [what, args, message] of settings) {
    test(`settings: ${what}`, () => assert.throws(() => loadRouteOptions(args, {}), (e: Error) => e instanceof ConfigError && message.test(e.message)));
  }
  test('settings: MODELSHIP_UPSTREAM takes a comma-separated list', () => {
    assert.deepEqual(loadRouteOptions(['--routes-file', 'a'], { MODELSHIP_UPSTREAM: 'v1=http://a:1, v2=http://b:2' }).upstream, ['v1=http://a:1', 'v2=http://b:2']);
  });

  const tables: Array<[string, unknown, RegExp[]]> = [
    ['weights that do not sum to 100', { versions: [v('v2', 20), v('v1', 70)] }, [/versions: weights must sum to 100, they sum to 90/]],
    ['every weight 0', { versions: [v('v2', 0), v('v1', 0)] }, [/versions: weights must sum to 100, they sum to 0/]],
    ['a weight over 100', { versions: [v('v1', 120)] }, [/versions\[0\]\.weight: must be <= 100/]],
    ['a fractional weight', { versions: [v('v1', 99.5), v('v2', 0.5)] }, [/versions\[0\]\.weight: must be integer/]],
    ['a version listed twice', { versions: [v('v1', 50), v('v1', 50)] }, [/versions\[1\]\.name: version 'v1' is listed more than once/]],
    ['a shadow version not listed', { versions: [v('v1', 100)], shadow: { version: 'v9', percent: 10 } }, [/shadow\.version: 'v9' is not among the versions \(v1\)/]],
    ['a bad version name', { versions: [v('-v1', 100)] }, [/versions\[0\]\.name: must be a version name/]],
    ['a bad sticky header name', { versions: [v('v1', 100)], stickyHeader: 'x user' }, [/stickyHeader: must be an HTTP header name/]],
    ['no versions key', { routes: [] }, [/routes: unknown key/, /versions: is required/]],
    ['a list instead of a mapping', [1, 2], [/must be a mapping with a 'versions' list/]],
    ['text that is neither JSON nor YAML', '{"versions": [', [/not valid JSON or YAML/]],
  ];
  for (const [what, content, messages] of tables) {
    test(`route table: ${what}`, () => assert.throws(
      () => parseRouteTable(typeof content === 'string' ? content : JSON.stringify(content), 'routes.json'),
      (e: Error) => e instanceof RouteTableError && messages.every((m) => m.test(e.message)) && e.message.startsWith('routes.json: '),
    ));
  }
});

describe('a running router', () => {
  let v1: ServerProcess;
  let router: RouterProcess;
  let routesFile: string;
  const http = client(4);
  const infer = () => http.postJson(`${router.url}/v2/models/mlp/infer`, good);
  const install = async (table: unknown, check: (routes: any) => boolean) => {
    writeRoutes(table, routesFile);
    await eventually('the router to take the table', async () => (check(await routesOf(router)) ? true : undefined), { intervalMs: 10 });
  };
  const served = { versions: [] as Array<{ name: string; url: string; weight: number }> };

  before(async () => {
    v1 = await startServer(['--model', modelPath.mlp(), '--version', 'v1']);
    served.versions = [{ name: 'v1', url: v1.url, weight: 100 }];
    // YAML works as well as JSON.
    routesFile = writeRoutes(`versions:\n  - name: v1\n    url: ${v1.url}\n    weight: 100\n`, join(routesDir, 'running.yaml'));
    router = await startRouter(['--routes-file', routesFile, '--max-body-bytes', '4096', '--upstream-timeout-ms', '500']);
  });
  after(async () => {
    http.close();
    assert.equal(router.child.exitCode, null, 'the router never crashed');
    assert.equal(await router.stop(), 0);
    await v1.stop();
  });

  test('a bad table on reload is refused, naming the key, and the previous table keeps serving', async () => {
    await install({ versions: [{ name: 'v1', url: v1.url, weight: 90 }] }, (r) => r.rejected !== undefined);
    const routes = await routesOf(router);
    assert.match(routes.rejected.error, /versions: weights must sum to 100, they sum to 90/);
    assert.deepEqual(routes.versions, served.versions);
    assert.ok(router.logs.some((l) => l.message === 'route table refused; keeping the current one' && /sum to 90/.test(String(l.error))));
    assert.equal((await infer()).status, 200);
    await install(served, (r) => r.rejected === undefined);
  });

  test('no version ready: 503 with the error shape, and the router is live but not ready', async () => {
    await install({ versions: [] }, (r) => r.versions.length === 0);
    const res = await infer();
    assert.equal(res.status, 503);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.match(res.body.error, /no version of the model is ready/);
    assert.equal((await http.send(`${router.url}/v2/models/mlp`)).status, 503, 'metadata has nowhere to go either');
    assert.equal((await http.send(`${router.url}/v2/health/ready`)).status, 503);
    assert.equal((await http.send(`${router.url}/v2/health/live`)).status, 200);
    assert.ok(sampleSum(await scrape(router.url), 'modelship_router_requests_total', { version: 'none', code: '503' }) >= 2);
    await install(served, (r) => r.versions.length === 1);
    assert.equal((await http.send(`${router.url}/v2/health/ready`)).status, 200);
  });

  test('the chosen version down: 503 naming the version and why, after one retry', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    await install({ versions: [{ name: 'v9', url: closed, weight: 100 }] }, (r) => r.versions[0].name === 'v9');
    const res = await infer();
    assert.equal(res.status, 503);
    assert.match(res.body.error, new RegExp(`version 'v9' is unreachable at ${closed}: ECONNREFUSED \\(after a retry\\)`));
    assert.equal(sampleSum(await scrape(router.url), 'modelship_router_requests_total', { version: 'v9', code: '503' }), 1);
    await install(served, (r) => r.versions[0].name === 'v1');
  });

  test('413 for a body over --max-body-bytes, declared or streamed; then business as usual', async () => {
    const big = JSON.stringify(inferBody(randomRows(40, MLP.features, 9)));
    const declared = await http.send(`${router.url}/v2/models/mlp/infer`, { body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(declared.status, 413);
    assert.match(JSON.parse(declared.body.toString()).error, /exceeds the limit of 4096 bytes/);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(1000)));
        controller.close();
      },
    });
    const chunked = await fetch(`${router.url}/v2/models/mlp/infer`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(chunked.status, 413);
    assert.equal((await infer()).status, 200);
  });

  test('an explicit version that is not listed: 404 with the error shape', async () => {
    const res = await http.postJson(`${router.url}/v2/models/mlp/versions/v7/infer`, good);
    assert.equal(res.status, 404);
    assert.match(res.body.error, /unknown version 'v7': this router serves v1/);
  });

  test('requests the model refuses pass through untouched (the router does not parse them)', async () => {
    const res = await http.send(`${router.url}/v2/models/mlp/infer`, { body: '{"inputs": [', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.body.toString()).error, /malformed JSON/);
  });

  describe('upstreams that misbehave', () => {
    let flaky: HttpServer;
    let silent: TcpServer;
    const sockets = new Set<Socket>();
    let flakyRequests = 0;
    before(async () => {
      // Answers the first request on each connection and resets the connection at the second, as a server
      // that closed an idle keep-alive connection just as it was reused; with ?cut it breaks off mid-answer.
      const perSocket = new WeakMap<Socket, number>();
      flaky = createHttpServer((req, res) => {
        flakyRequests++;
        const n = (perSocket.get(req.socket) ?? 0) + 1;
        perSocket.set(req.socket, n);
        if (req.url?.endsWith('?cut')) {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 });
          res.write('{"outputs": [');
          setTimeout(() => req.socket.destroy(), 20);
          return;
        }
        if (n >= 2) {
          req.socket.resetAndDestroy();
          return;
        }
        req.resume();
        req.on('end', () => res.end(JSON.stringify({ model_name: 'mlp', model_version: 'flaky', outputs: [] })));
      }).listen(0, '127.0.0.1');
      silent = createTcpServer((socket) => {
        sockets.add(socket);
        socket.resume();
      }).listen(0, '127.0.0.1');
      await Promise.all([once(flaky, 'listening'), once(silent, 'listening')]);
    });
    after(() => {
      flaky.close();
      flaky.closeAllConnections();
      silent.close();
      for (const s of sockets) s.destroy();
    });

    test('a reused keep-alive connection reset before any answer is retried once on a new one', async () => {
      await install({ versions: [{ name: 'flaky', url: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`, weight: 100 }] }, (r) => r.versions[0].name === 'flaky');
      flakyRequests = 0;
      // Sequential, so the second request reuses the first one's connection and is reset there.
      const first = await infer();
      const second = await infer();
      assert.deepEqual([first.status, second.status], [200, 200]);
      assert.equal(second.body.model_version, 'flaky');
      assert.equal(flakyRequests, 3, 'the reset request was sent again, once');
    });

    test('an answer that breaks off midway is not retried: the client sees the cut', async () => {
      flakyRequests = 0;
      const path = `${router.url}/v2/models/mlp/infer?cut`;
      await assert.rejects(http.send(path, { body: JSON.stringify(good), headers: { 'content-type': 'application/json' } }));
      assert.equal(flakyRequests, 1, 'never sent twice');
      await eventually('the cut to be counted', async () => (sampleSum(await scrape(router.url), 'modelship_router_requests_total', { version: 'flaky', code: '502' }) === 1 ? true : undefined));
    });

    test('an upstream that does not answer in time: 504 naming the version', async () => {
      await install({ versions: [{ name: 'silent', url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, weight: 100 }] }, (r) => r.versions[0].name === 'silent');
      const res = await infer();
      assert.equal(res.status, 504);
      assert.match(res.body.error, /version 'silent' did not answer within 500 ms/);
      await install(served, (r) => r.versions[0].name === 'v1');
      assert.equal((await infer()).status, 200);
    });
  });
});

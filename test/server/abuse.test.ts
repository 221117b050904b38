// Requests crafted to freeze the server or exhaust its memory: each gets a 4xx naming the limit it broke
// (or a 503 past the byte budget), never a 500; /v2/health/live keeps answering while they are handled;
// and the server answers correctly afterwards. Live-probe latencies are reported, not asserted (timings
// belong in bench/server-abuse.ts).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, postJson, metricValue, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';
import { encodeBinaryRequest } from '../support/binary-protocol.ts';
import { waitFor } from '../support/eventually.ts';
import { MLP } from '../models/zoo.ts';
import { assertClose } from '../support/assertions.ts';

const MiB = 1024 * 1024;
const row = Array.from({ length: 16 }, (_, i) => i / 16);
const good = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: row }] };

interface Answer {
  status: number;
  error: string;
  /** When the whole body had been handed to the kernel, and when the answer arrived (performance.now()). */
  sentAt: number;
  answeredAt: number;
}

/** POST over its own connection, noting when the upload finished and when the answer came. */
function post(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let sentAt = 0;
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-length': String(body.length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let error = '';
        try {
          error = JSON.parse(text).error ?? '';
        } catch {
          error = text;
        }
        resolve({ status: res.statusCode ?? 0, error, sentAt, answeredAt: performance.now() });
      });
    });
    req.on('error', reject);
    req.end(body, () => (sentAt = performance.now()));
  });
}

interface Probe {
  status: number;
  sentAt: number;
  answeredAt: number;
}

/** Probes /v2/health/live one after another (each on a fresh connection) until `work` settles. */
async function probingLive<T>(url: string, work: Promise<T>): Promise<{ result: T; probes: Probe[] }> {
  let done = false;
  const probes: Probe[] = [];
  const prober = (async () => {
    while (!done) {
      const sentAt = performance.now();
      const res = await fetch(`${url}/v2/health/live`, { headers: { connection: 'close' } });
      await res.arrayBuffer();
      probes.push({ status: res.status, sentAt, answeredAt: performance.now() });
      await sleep(5);
    }
  })();
  try {
    return { result: await work, probes };
  } finally {
    done = true;
    await prober;
  }
}

function reportLatency(t: TestContext, probes: Probe[]): void {
  const worst = Math.max(0, ...probes.map((p) => p.answeredAt - p.sentAt));
  t.diagnostic(`${probes.length} live probes, worst latency ${worst.toFixed(0)} ms`);
}

/** Live probes sent after the body was fully sent and answered before the abusive request's answer. */
function probesWhileProcessing(probes: Probe[], answer: Answer): number {
  return probes.filter((p) => p.sentAt > answer.sentAt && p.answeredAt < answer.answeredAt && p.status === 200).length;
}

function deep(levels: number): string {
  return `${'['.repeat(levels)}${']'.repeat(levels)}`;
}

describe('abusive requests to a server with its default limits', () => {
  let server: ServerProcess;
  let infer: string;
  before(async () => {
    server = await startServer(['--model', modelPath.mlp()]);
    infer = `${server.url}/v2/models/mlp/infer`;
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('a million keys in parameters get 400 naming the key limit, and /v2/health/live answers throughout', async (t) => {
    const parameters: Record<string, number> = {};
    for (let i = 0; i < 1_000_000; i++) parameters[`k${i}`] = i;
    const body = Buffer.from(JSON.stringify({ ...good, parameters }));
    const { result, probes } = await probingLive(server.url, post(infer, body));
    assert.equal(result.status, 400, result.error.slice(0, 200));
    assert.match(result.error, /^'parameters' has more than the limit of 128 keys$/);
    assert.ok(probes.length > 0 && probes.every((p) => p.status === 200));
    assert.ok(probesWhileProcessing(probes, result) >= 3, `live probes answered while the body was parsed: ${probesWhileProcessing(probes, result)}`);
    reportLatency(t, probes);
  });

  test('200,000 levels of nesting anywhere in a request are a 400, never a 500', async () => {
    const bodies: Array<[string, string, RegExp]> = [
      ['in data', `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,16],"data":[0,${deep(200_000)}${',0'.repeat(14)}]}]}`, /input 'input': element 1 \(an array of 1 elements\) is not a number for FP32/],
      ['as the whole data', `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,16],"data":${deep(200_000)}}]}`, /input 'input': nested 'data' does not match shape \[1,16\] at depth 1/],
      ['in the shape', `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,${deep(200_000)}],"data":[]}]}`, /input 'input': 'shape' must be an array of non-negative integers, got \[1,an array of 1 elements\]/],
      ['as the id', `{"id":${deep(200_000)},"inputs":[]}`, /'id' must be a string, got an array of 1 elements/],
      ['as a parameter', `{"parameters":{"priority":${deep(200_000)}},"inputs":[]}`, /parameter 'priority' must be a non-negative integer, got an array of 1 elements/],
    ];
    for (const [where, body, message] of bodies) {
      const res = await post(infer, Buffer.from(body));
      assert.equal(res.status, 400, `${where}: ${res.status} ${res.error.slice(0, 200)}`);
      assert.match(res.error, message, where);
    }
  });

  test('a 20 MB bad string comes back as a short excerpt with its length, not as itself', async () => {
    const huge = 'x'.repeat(20_000_000);
    for (const body of [
      { inputs: [{ ...good.inputs[0], data: [huge, ...row.slice(1)] }] },
      { inputs: [{ ...good.inputs[0], name: huge }] },
      { inputs: [{ ...good.inputs[0], shape: huge }] },
    ]) {
      const res = await post(infer, Buffer.from(JSON.stringify(body)));
      assert.equal(res.status, 400);
      assert.ok(res.error.length < 300, `an error of ${res.error.length} characters: ${res.error.slice(0, 300)}`);
      assert.match(res.error, /"x{120}"… \(20000000 characters\)/);
    }
  });

  test('a URL that cannot be percent-decoded is a 400 in the error shape, not a 500', async () => {
    for (const path of ['/v2/models/%E0%A4%A', '/v2/models/mlp/versions/%ZZ/config', '/v2/models/%E0%A4%A/ready']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 400, path);
      assert.match(((await res.json()) as { error: string }).error, /Failed to decode param/);
    }
  });

  test('after all of that the server still answers correctly', async () => {
    const res = await postJson(infer, good);
    assert.equal(res.status, 200);
    assertClose(res.body.outputs[0].data, MLP.reference(row));
  });
});

describe('abusive tensors', () => {
  test('8 million empty BYTES strings get 400 naming the BYTES limit, before any is read', async (t) => {
    // Unbatched, so no batch size stops the shape first: the BYTES count limit must.
    const server = await startServer(['--model', modelPath.identity('BYTES'), '--max-batch-size', '0']);
    try {
      const binary = Buffer.alloc(32_000_000); // 8 M zero length prefixes
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [4_000_000, 2], parameters: { binary_data_size: binary.length } }] }));
      const { result, probes } = await probingLive(server.url, post(`${server.url}/v2/models/identity_BYTES/infer`, Buffer.concat([header, binary]), { 'inference-header-content-length': String(header.length) }));
      assert.equal(result.status, 400, result.error.slice(0, 200));
      assert.match(result.error, /input 'x': shape \[4000000,2\] has more than the limit of 1048576 BYTES elements/);
      assert.ok(probes.every((p) => p.status === 200));
      reportLatency(t, probes);
    } finally {
      await server.stop();
    }
  });

  test('a 40 MB JSON array over the element limit gets 400 naming it, and /v2/health/live answers while it is parsed', async (t) => {
    const server = await startServer(['--model', modelPath.varlen()]);
    try {
      const elements = 20_000_000;
      const body = Buffer.from(`{"inputs":[{"name":"x","datatype":"FP32","shape":[1,${elements}],"data":[${'0,'.repeat(elements - 1)}0]}]}`);
      const { result, probes } = await probingLive(server.url, post(`${server.url}/v2/models/varlen/infer`, body));
      assert.equal(result.status, 400, result.error.slice(0, 200));
      assert.match(result.error, /input 'x': shape \[1,20000000\] has more than the limit of 16777216 elements/);
      assert.ok(probes.every((p) => p.status === 200));
      assert.ok(probesWhileProcessing(probes, result) >= 3, `live probes answered while the body was parsed: ${probesWhileProcessing(probes, result)}`);
      reportLatency(t, probes);
    } finally {
      await server.stop();
    }
  });
});

describe('the byte budget', () => {
  test('past the budget, concurrent big bodies get 503 naming maxInflightBytes, and the server survives', async (t) => {
    const server = await startServer(['--model', modelPath.mlp(), '--max-inflight-bytes', String(100 * MiB), '--max-body-bytes', String(200 * MiB)]);
    try {
      // 12 bodies of 40 MB at once: at most two fit in 100 MB; the rest are refused when their headers arrive.
      const binary = Buffer.alloc(40 * MiB);
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], parameters: { binary_data_size: binary.length } }] }));
      const body = Buffer.concat([header, binary]);
      const { result, probes } = await probingLive(server.url, Promise.all(Array.from({ length: 12 }, () =>
        post(`${server.url}/v2/models/mlp/infer`, body, { 'inference-header-content-length': String(header.length) }).catch((e: Error) => ({ status: 0, error: e.message })))));
      const refused = result.filter((r) => r.status === 503);
      const decoded = result.filter((r) => r.status === 400);
      t.diagnostic(`statuses: ${result.map((r) => r.status).join(' ')}`);
      assert.ok(refused.length >= 1, 'some bodies are refused past the budget');
      for (const r of refused) assert.match(r.error, /at most 104857600 bytes may be in flight \(maxInflightBytes, --max-inflight-bytes\); retry later/);
      for (const r of decoded) assert.match(r.error, /binary_data_size 41943040 does not match 16 FP32 elements/);
      assert.equal(refused.length + decoded.length + result.filter((r) => r.status === 0).length, 12, 'every body is answered 503 or 400 (or cut off after its 503)');
      assert.ok(probes.every((p) => p.status === 200));
      const res = await postJson(`${server.url}/v2/models/mlp/infer`, good);
      assert.equal(res.status, 200, 'the budget is free again once the answers are out');
      // A body that could never fit is told so at once (413), not to retry (503): only its headers are sent.
      const never = await new Promise<{ status: number; error: string }>((resolve, reject) => {
        const req = request(`${server.url}/v2/models/mlp/infer`, { method: 'POST', agent: false, headers: { 'content-length': String(101 * MiB) } }, (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => {
            req.destroy();
            resolve({ status: answer.statusCode ?? 0, error: JSON.parse(Buffer.concat(chunks).toString()).error });
          });
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      assert.equal(never.status, 413);
      assert.match(never.error, /request body of 105906176 bytes exceeds the budget of 104857600 bytes in flight \(maxInflightBytes/);
      assert.equal(server.child.exitCode, null);
    } finally {
      await server.stop();
    }
  });

  test('a client that never reads its answers gets no more work done from its connection, and its answer keeps its bytes reserved until read', async () => {
    // Budget for one large request (16 MB body, 16 MB inputs, 16 MB outputs, a 76 MB JSON answer), not two.
    const server = await startServer(['--model', modelPath.varlen(), '--max-inflight-bytes', String(130 * MiB)]);
    const infer = `${server.url}/v2/models/varlen/infer`;
    let socket: Socket | undefined;
    try {
      // The answer (4 M FP32 as JSON, each like 0.4285714328289032) is far more than the loopback's socket buffers hold.
      const elements = 4_000_000;
      const data = Float32Array.from({ length: elements }, (_, i) => (i % 1000) / 7);
      const { body, headers } = encodeBinaryRequest({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, elements], data }] });
      const head = Buffer.from(`POST /v2/models/varlen/infer HTTP/1.1\r\nhost: test\r\ncontent-length: ${body.length}\r\ninference-header-content-length: ${headers['inference-header-content-length']}\r\n\r\n`);
      const one = Buffer.concat([head, body]);
      socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.pause(); // never reads
      for (let i = 0; i < 4; i++) socket.write(one);
      const succeeded = () => metricValue(server.url, 'modelship_inference_requests_total', { outcome: 'success' });
      await waitFor('the first answer to be computed', async () => (await succeeded()) >= 1);
      // Another client, reading normally, is served meanwhile: only that connection waits.
      const small = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] };
      for (let i = 0; i < 3; i++) assert.equal((await postJson(infer, small)).status, 200);
      assert.equal(await succeeded(), 4, 'the first unread answer and the three read ones; the pipelined requests wait unread');
      // The unread answer still holds its bytes: another large request finds no room.
      const refused = await post(infer, body, headers);
      assert.equal(refused.status, 503);
      assert.match(refused.error, /maxInflightBytes/);
      // Once that client goes away its bytes are free, and its waiting requests are dropped, not computed.
      socket.destroy();
      await waitFor('a large request to find room again', async () => (await post(infer, body, headers)).status === 200);
      assert.equal(await succeeded(), 5);
    } finally {
      socket?.destroy();
      await server.stop();
    }
  });
});

test('a stray unhandled rejection is logged and counted on /metrics; the server keeps serving', async () => {
  // Loaded before the program, as a dependency with a bug would be: it rejects a promise nobody handles, on
  // the main thread (NODE_OPTIONS reaches the ONNX Runtime worker threads too, which the pool restarts).
  const dir = mkdtempSync(join(tmpdir(), 'modelship-stray-'));
  const stray = join(dir, 'stray-rejection.mjs');
  writeFileSync(stray, "import { isMainThread } from 'node:worker_threads';\nif (isMainThread) setTimeout(() => { Promise.reject(new Error('a bug somewhere')); }, 100);\n");
  const server = await startServer(['--model', modelPath.mlp()], { env: { NODE_OPTIONS: `--import=${stray}` } });
  try {
    await waitFor('the rejection to be logged', async () => server.logs.some((l) => l.message === 'unhandled promise rejection (a bug); the process keeps running' && /a bug somewhere/.test(String(l.error))));
    assert.equal(await metricValue(server.url, 'modelship_unhandled_rejections_total'), 1);
    const { status } = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: row }] });
    assert.equal(status, 200);
  } finally {
    assert.equal(await server.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

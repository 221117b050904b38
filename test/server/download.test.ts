// Model downloads against hostile and slow hosts, real HTTP servers on loopback: a host that never answers
// fails the load after the idle timeout, a body that never ends fails at the size cap, a shutdown stops the
// download; in every case no partial file is left behind. A slow download says how far it has got. A store
// that is not there yet, or answers 503, is tried again with backoff; a refusal (404) is not.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startServer, postJson } from '../support/server-process.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { MLP, randomRows } from '../models/zoo.ts';
import { assertClose } from '../support/assertions.ts';
import { waitFor } from '../support/eventually.ts';

async function modelHost(handler: RequestListener): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/mlp.onnx`, server };
}

const close = (server: Server) => {
  server.closeAllConnections();
  server.close();
};

const cacheDir = () => mkdtempSync(join(modelDir, 'cache-'));
const errorOf = (logs: Array<Record<string, unknown>>) => String(logs.find((l) => l.message === 'cannot load model')?.error);

describe('downloading a model', () => {
  test('a host that accepts and never answers fails the load after the idle timeout, said in the log, exit 1', async () => {
    const host = await modelHost(() => { /* never answers */ });
    const cache = cacheDir();
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cache, '--download-idle-timeout-ms', '300', '--download-retries', '0'], { waitReady: false });
      assert.equal(await server.exited, 1);
      assert.ok(server.logs.some((l) => l.message === 'downloading model' && l.url === host.url), 'the download is announced');
      assert.match(errorOf(server.logs), /cannot download model http:\/\/127\.0\.0\.1:\d+\/models\/mlp\.onnx: no answer within 300 ms \(downloadIdleTimeoutMs\)/);
      assert.deepEqual(readdirSync(cache), []);
    } finally {
      close(host.server);
    }
  });

  test('a host that stops sending mid-body fails the load after the idle timeout, its partial file removed', async () => {
    const host = await modelHost((_req, res) => {
      res.writeHead(200, { 'content-length': 1024 * 1024 });
      res.write(Buffer.alloc(1000, 3)); // and then silence
    });
    const cache = cacheDir();
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cache, '--download-idle-timeout-ms', '300', '--download-retries', '0'], { waitReady: false });
      assert.equal(await server.exited, 1);
      assert.match(errorOf(server.logs), /no data for 300 ms after 1000 bytes \(downloadIdleTimeoutMs\)/);
      assert.deepEqual(readdirSync(cache), []);
    } finally {
      close(host.server);
    }
  });

  test('a body that never ends fails at the size cap and its partial file is removed', async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const host = await modelHost((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    });
    const cache = cacheDir();
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cache, '--download-max-bytes', String(1024 * 1024)], { waitReady: false });
      assert.equal(await server.exited, 1);
      assert.match(errorOf(server.logs), /the model is over 1048576 bytes, over the download limit of 1048576 bytes \(downloadMaxBytes\)/);
      assert.deepEqual(readdirSync(cache), []);
    } finally {
      close(host.server);
    }
  });

  test('a declared length over the size cap fails before a byte is written', async () => {
    const host = await modelHost((_req, res) => {
      res.writeHead(200, { 'content-length': 10 * 1024 * 1024 });
      res.write(Buffer.alloc(1024));
    });
    const cache = cacheDir();
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cache, '--download-max-bytes', String(1024 * 1024)], { waitReady: false });
      assert.equal(await server.exited, 1);
      assert.match(errorOf(server.logs), /the model is 10485760 bytes, over the download limit of 1048576 bytes \(downloadMaxBytes\)/);
      assert.deepEqual(readdirSync(cache), []);
    } finally {
      close(host.server);
    }
  });

  test('SIGTERM mid-download stops it, removes the partial file and exits 0', async () => {
    const host = await modelHost((_req, res) => {
      res.writeHead(200, { 'content-length': 100 * 1024 * 1024 });
      res.write(Buffer.alloc(256 * 1024, 1)); // then nothing more: a download in progress
    });
    const cache = cacheDir();
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cache], { waitReady: false });
      await waitFor('the partial file to be written', async () => {
        const partial = readdirSync(cache).find((f) => f.endsWith('.partial'));
        return partial !== undefined && statSync(join(cache, partial)).size > 0;
      }, { intervalMs: 10 });
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      assert.deepEqual(readdirSync(cache), []);
      assert.equal(server.logs.some((l) => l.message === 'cannot load model'), false, 'a shutdown is not a failure to load');
    } finally {
      close(host.server);
    }
  });

  test('a store that answers 503, then refuses connections, then serves: the download is tried again with backoff and the model is served', async () => {
    let requests = 0;
    const model = readFileSync(modelPath.mlp());
    const host = await modelHost((_req, res) => {
      requests++;
      if (requests === 1) {
        res.writeHead(503).end('warming up');
        // The store goes away for a moment (a restart): the next attempt finds nothing listening.
        host.server.close();
        host.server.closeAllConnections();
        setTimeout(() => host.server.listen(port, '127.0.0.1'), 1500);
        return;
      }
      res.writeHead(200, { 'content-length': model.length }).end(model);
    });
    const port = Number(new URL(host.url).port);
    const cache = cacheDir();
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cache]);
      const retries = server.logs.filter((l) => l.message === 'model download failed, trying again');
      assert.ok(retries.length >= 2, `retried after the 503 and the refused connection: ${JSON.stringify(retries)}`);
      assert.match(String(retries[0].error), /HTTP 503/);
      assert.match(String(retries[1].error), /ECONNREFUSED|connect/);
      assert.deepEqual(retries.slice(0, 2).map((r) => r.retryInMs), [1000, 2000], 'backing off');
      const rows = randomRows(1, MLP.features, 4);
      const answer = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: rows.flat() }] });
      assert.equal(answer.status, 200);
      await server.stop();
    } finally {
      close(host.server);
    }
  });

  test('a refusal that will not pass (404) fails the load at once, without a second attempt', async () => {
    let requests = 0;
    const host = await modelHost((_req, res) => {
      requests++;
      res.writeHead(404).end();
    });
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cacheDir()], { waitReady: false });
      assert.equal(await server.exited, 1);
      assert.equal(requests, 1);
      assert.match(errorOf(server.logs), /HTTP 404/);
    } finally {
      close(host.server);
    }
  });

  test('a slow, redirected download logs its progress without the URL query, then the model is served', async () => {
    const bytes = readFileSync(modelPath.mlp());
    const pieces = 8;
    const host = await modelHost(async (req, res) => {
      // As object stores and model hubs do: the model's URL redirects to where its bytes are.
      if (!req.url?.startsWith('/blobs/')) {
        res.writeHead(302, { location: '/blobs/mlp' }).end();
        return;
      }
      res.writeHead(200, { 'content-length': bytes.length });
      const size = Math.ceil(bytes.length / pieces);
      for (let i = 0; i < pieces; i++) {
        res.write(bytes.subarray(i * size, (i + 1) * size));
        await new Promise((r) => setTimeout(r, 150));
      }
      res.end();
    });
    const cache = cacheDir();
    try {
      const presigned = `${host.url}?X-Amz-Signature=secret-signature`;
      const server = await startServer(['--model', presigned, '--name', 'mlp', '--model-cache-dir', cache, '--download-progress-interval-ms', '100']);
      try {
        const progress = server.logs.filter((l) => l.message === 'model download progress');
        assert.ok(progress.length >= 3, `progress was logged: ${JSON.stringify(progress)}`);
        const seen = progress.map((l) => l.bytes as number);
        assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'bytes only grow');
        assert.ok(progress.every((l) => l.totalBytes === bytes.length && l.url === host.url));
        assert.equal(server.logs.find((l) => l.message === 'model downloaded')?.bytes, bytes.length);
        assert.equal(JSON.stringify(server.logs).includes('secret-signature'), false, 'the query string is never logged');
        const row = randomRows(1, MLP.features, 2)[0];
        const res = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: row }] });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assertClose(res.body.outputs[0].data, MLP.reference(row));
        assert.deepEqual(readdirSync(cache).filter((f) => f.endsWith('.partial')), []);
      } finally {
        await server.stop();
      }
    } finally {
      close(host.server);
    }
  });

  test("a private store's token from MODELSHIP_DOWNLOAD_HEADERS is sent and never logged; without it the store's 401 fails the load", async () => {
    const bytes = readFileSync(modelPath.mlp());
    const token = 'Bearer private-store-token-123';
    const host = await modelHost((req, res) => {
      if (req.headers.authorization !== token || req.headers['x-team'] !== 'ml') res.writeHead(401).end('token required');
      else res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    });
    try {
      const refused = await startServer(['--model', host.url, '--model-cache-dir', cacheDir()], { waitReady: false });
      assert.equal(await refused.exited, 1);
      assert.match(errorOf(refused.logs), /cannot download model http:\/\/127\.0\.0\.1:\d+\/models\/mlp\.onnx: HTTP 401/);

      const server = await startServer(['--model', host.url, '--name', 'mlp', '--model-cache-dir', cacheDir()], {
        env: { MODELSHIP_DOWNLOAD_HEADERS: `Authorization: ${token}\nX-Team: ml\n` },
      });
      try {
        const row = randomRows(1, MLP.features, 4)[0];
        const res = await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP.features], data: row }] });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(JSON.stringify(server.logs).includes('private-store-token'), false, 'the token is never logged');
      } finally {
        await server.stop();
      }
    } finally {
      close(host.server);
    }
  });

  test('the headers (an Authorization and a custom key) are not carried on a redirect to another host', async () => {
    const bytes = readFileSync(modelPath.mlp());
    const blobHeaders: Array<Record<string, unknown>> = [];
    const blobs = await modelHost((req, res) => {
      blobHeaders.push({ ...req.headers });
      res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    });
    const store = await modelHost((req, res) => {
      if (req.headers.authorization !== 'Bearer t' || req.headers['x-api-key'] !== 'k') res.writeHead(401).end();
      else res.writeHead(302, { location: blobs.url }).end();
    });
    try {
      const server = await startServer(['--model', store.url, '--model-cache-dir', cacheDir()], { env: { MODELSHIP_DOWNLOAD_HEADERS: 'Authorization: Bearer t\nX-Api-Key: k' } });
      await server.stop();
      assert.equal(blobHeaders.length, 1);
      assert.equal(blobHeaders[0]!.authorization, undefined);
      assert.equal(blobHeaders[0]!['x-api-key'], undefined);
    } finally {
      close(store.server);
      close(blobs.server);
    }
  });

  test('a malformed MODELSHIP_DOWNLOAD_HEADERS fails the load naming the line, not the value', async () => {
    const host = await modelHost((_req, res) => res.writeHead(500).end());
    try {
      const server = await startServer(['--model', host.url, '--model-cache-dir', cacheDir()], { waitReady: false, env: { MODELSHIP_DOWNLOAD_HEADERS: 'Authorization Bearer leaked-token' } });
      assert.equal(await server.exited, 1);
      assert.equal(errorOf(server.logs), 'downloadHeaders line 1: not "Name: value"');
      assert.equal(JSON.stringify(server.logs).includes('leaked-token'), false);
    } finally {
      close(host.server);
    }
  });
});

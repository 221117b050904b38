// s3:// models against a real S3-compatible store (SeaweedFS, its own process, verifying every signature):
// the server signs with the keys in its environment and serves the model; a wrong secret key and a missing
// object fail the load with the store's own error code, naming the object and never the secret; a model of
// tens of MB is streamed to disk and its SHA-256 checked; a transfer cut mid-body leaves no partial file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { createLogger } from '../../contract/logger.ts';
import { resolveModel } from '../../server-image/src/model/source.ts';
import { MLP, WIDE, randomRows } from '../models/zoo.ts';
import { assertClose } from '../support/assertions.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { startSeaweedfs, type S3Store } from '../support/seaweedfs.ts';
import { postJson, startServer } from '../support/server-process.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const cacheDir = () => mkdtempSync(join(modelDir, 's3-cache-'));
const errorOf = (logs: Array<Record<string, unknown>>) => String(logs.find((l) => l.message === 'cannot load model')?.error);
const LIMITS = { maxBytes: 2 * 1024 ** 3, idleTimeoutMs: 5000, progressIntervalMs: 60_000 };

describe('s3:// models from a real S3-compatible store', () => {
  let store: S3Store;
  let mlp: Uint8Array;
  let wide: Uint8Array;
  const storeArgs = () => ['--s3-endpoint', store.endpoint, '--s3-path-style', 'true', '--s3-region', store.region];
  const keys = (secretAccessKey = store.secretAccessKey) => ({ AWS_ACCESS_KEY_ID: store.accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey });

  before(async () => {
    store = await startSeaweedfs();
    mlp = readFileSync(modelPath.mlp());
    wide = readFileSync(modelPath.wide());
    await store.put('mlp/v1/model.onnx', mlp);
    await store.put('wide/v1/model.onnx', wide);
  }, { timeout: 60 * 60_000 }); // the first run builds SeaweedFS (`make kube-binaries` does it ahead)
  after(async () => store?.stop());

  test('a signed download with the keys from the environment: the model is served', async () => {
    const cache = cacheDir();
    const server = await startServer(['--model', `s3://${store.bucket}/mlp/v1/model.onnx`, '--sha256', sha256(mlp), '--model-cache-dir', cache, ...storeArgs()], { env: keys() });
    try {
      const [row] = randomRows(1, MLP.features, 3);
      const res = await postJson(`${server.url}/v2/models/model/infer`, { inputs: [{ name: 'input', shape: [1, MLP.features], datatype: 'FP32', data: row }] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assertClose(res.body.outputs[0].data, MLP.reference(row!));
      assert.ok(server.logs.some((l) => l.message === 'model downloaded' && l.url === `s3://${store.bucket}/mlp/v1/model.onnx at ${store.endpoint}`), 'the download names the object and the store');
      assert.ok(!JSON.stringify(server.logs).includes(store.secretAccessKey), 'the secret key is never logged');
    } finally {
      await server.stop();
    }
  });

  test('a wrong secret key is refused by the store: the error names the object and SignatureDoesNotMatch, never the secret', async () => {
    const cache = cacheDir();
    const wrong = 'not-the-secret-key-0000000000000';
    const server = await startServer(['--model', `s3://${store.bucket}/mlp/v1/model.onnx`, '--model-cache-dir', cache, ...storeArgs()], { waitReady: false, env: keys(wrong) });
    assert.equal(await server.exited, 1);
    const error = errorOf(server.logs);
    assert.match(error, new RegExp(`cannot download model s3://${store.bucket}/mlp/v1/model\\.onnx at http://127\\.0\\.0\\.1:\\d+: HTTP 403 SignatureDoesNotMatch`));
    assert.match(error, /check the access key and secret key/);
    assert.ok(!JSON.stringify(server.logs).includes(wrong), 'the secret key is never logged');
    assert.deepEqual(readdirSync(cache), []);
  });

  test('a missing object fails the load with NoSuchKey, naming the key', async () => {
    const cache = cacheDir();
    const server = await startServer(['--model', `s3://${store.bucket}/mlp/v9/model.onnx`, '--model-cache-dir', cache, ...storeArgs()], { waitReady: false, env: keys() });
    assert.equal(await server.exited, 1);
    assert.match(errorOf(server.logs), new RegExp(`cannot download model s3://${store.bucket}/mlp/v9/model\\.onnx at http://127\\.0\\.0\\.1:\\d+: HTTP 404 NoSuchKey`));
    assert.deepEqual(readdirSync(cache), []);
  });

  test(`a model of ${Math.round(21e6 / 1e6)} MB is streamed to disk, its SHA-256 verified, and served`, async () => {
    assert.ok(wide.length > 20 * 1024 * 1024, `the wide model is tens of MB (${wide.length} bytes)`);
    const cache = cacheDir();
    const server = await startServer(['--model', `s3://${store.bucket}/wide/v1/model.onnx`, '--sha256', sha256(wide), '--model-cache-dir', cache, ...storeArgs()], { env: keys() });
    try {
      const [row] = randomRows(1, WIDE.features, 5);
      const res = await postJson(`${server.url}/v2/models/model/infer`, { inputs: [{ name: 'input', shape: [1, WIDE.features], datatype: 'FP32', data: row }] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assertClose(res.body.outputs[0].data, WIDE.reference(row!), 'the wide model answers', 1e-3);
      const [file] = readdirSync(cache);
      assert.equal(sha256(readFileSync(join(cache, file!))), sha256(wide), 'the file on disk is the object');
    } finally {
      await server.stop();
    }
  });

  test('a checksum that does not match the object refuses the model', async () => {
    const cache = cacheDir();
    const wrongSha = sha256(mlp);
    const server = await startServer(['--model', `s3://${store.bucket}/wide/v1/model.onnx`, '--sha256', wrongSha, '--model-cache-dir', cache, ...storeArgs()], { waitReady: false, env: keys() });
    assert.equal(await server.exited, 1);
    assert.match(errorOf(server.logs), new RegExp(`SHA-256 mismatch, expected ${wrongSha} but the file has ${sha256(wide)}`));
  });

  test('a transfer cut mid-body fails the download and leaves no partial file', async () => {
    // A loopback proxy in front of the store that passes the request on and cuts the answer after 1 MiB.
    const proxy: Server = createServer((client) => {
      const upstream = connect(Number(new URL(store.endpoint).port), '127.0.0.1');
      client.pipe(upstream);
      let passed = 0;
      upstream.on('data', (chunk: Buffer) => {
        passed += chunk.length;
        if (passed > 1024 * 1024) {
          client.destroy();
          upstream.destroy();
        } else client.write(chunk);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const cache = cacheDir();
    try {
      const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      await assert.rejects(resolveModel(`s3://${store.bucket}/wide/v1/model.onnx`, {
        cacheDir: cache, sha256: sha256(wide), download: LIMITS, logger: createLogger('error'),
        s3: { endpoint, region: store.region, pathStyle: true }, env: keys(),
      }), (error: Error) => {
        assert.match(error.message, new RegExp(`cannot download model s3://${store.bucket}/wide/v1/model\\.onnx at ${endpoint}: `));
        return true;
      });
      assert.deepEqual(readdirSync(cache), []);
    } finally {
      proxy.close();
    }
  });

  test('web identity: the ServiceAccount token is exchanged at STS (AssumeRoleWithWebIdentity) for the keys that sign the download', async () => {
    // A real STS is not reachable from here: a loopback one checks the request as AWS's documents it and
    // answers with the store's keys (and a session token SeaweedFS ignores for its static identities).
    const seen: URLSearchParams[] = [];
    const sts = createHttpServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      seen.push(new URLSearchParams(body));
      res.writeHead(200, { 'content-type': 'text/xml' }).end(`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials>
        <AccessKeyId>${store.accessKeyId}</AccessKeyId><SecretAccessKey>${store.secretAccessKey}</SecretAccessKey><SessionToken>session-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>
        </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`);
    });
    sts.listen(0, '127.0.0.1');
    await once(sts, 'listening');
    const tokenFile = join(mkdtempSync(join(modelDir, 'token-')), 'token');
    writeFileSync(tokenFile, 'service-account-jwt\n');
    const cache = cacheDir();
    try {
      const path = await resolveModel(`s3://${store.bucket}/mlp/v1/model.onnx`, {
        cacheDir: cache, sha256: sha256(mlp), download: LIMITS, logger: createLogger('error'),
        s3: { endpoint: store.endpoint, region: store.region, pathStyle: true },
        env: { AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/model-reader', AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${(sts.address() as AddressInfo).port}/` },
      });
      assert.equal(sha256(readFileSync(path)), sha256(mlp));
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.get('Action'), 'AssumeRoleWithWebIdentity');
      assert.equal(seen[0]!.get('RoleArn'), 'arn:aws:iam::123456789012:role/model-reader');
      assert.equal(seen[0]!.get('WebIdentityToken'), 'service-account-jwt');
    } finally {
      sts.close();
    }
  });
});

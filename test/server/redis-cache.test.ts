// The Redis response cache against a real redis-server (Debian's package) that each test starts on a free
// loopback port: answers shared by the pods of one version and by no other version or model file; values
// in Redis read as hostile; Redis killed, paused or absent costs the cache, never a request, and the cache
// comes back with it; a password from the environment.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, RESP_TYPES } from 'redis';
import { startServer, postJson, metricValue, type ServerProcess } from '../support/server-process.ts';
import { modelDir, modelPath } from '../support/model-files.ts';
import { MLP, MLP_RETRAINED, randomRows, writeModel } from '../models/zoo.ts';
import { assertClose } from '../support/assertions.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { waitFor } from '../support/eventually.ts';

const infer = (server: ServerProcess, rows: number[][]) =>
  postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, MLP.features], data: rows }] });

const metric = (server: ServerProcess, name: string, labels?: Record<string, string>) => metricValue(server.url, `modelship_${name}`, labels);

const redisCache = (redis: RedisServer, ...args: string[]) => ['--model', modelPath.mlp(), '--cache', 'redis', '--cache-redis-url', redis.url, ...args];

/** A client of the test's own, to look at and tamper with what the servers stored. */
async function inspect(redis: RedisServer, password?: string) {
  const client = createClient({ url: redis.url, password });
  await client.connect();
  return client;
}

/** Waits until Redis holds `count` answers (writes are fire-and-forget, so they land a little after the answer). */
async function storedAnswers(redis: RedisServer, count: number): Promise<void> {
  const client = await inspect(redis);
  try {
    await waitFor(`${count} answers in redis`, async () => (await client.dbSize()) >= count, { timeoutMs: 10_000, intervalMs: 20 });
  } finally {
    client.destroy();
  }
}

describe('Redis cache shared by the pods of one version', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.dispose());

  test('a second pod of the version is answered from the first one\'s rows; another version or model file gets none of them', async () => {
    const retrained = writeModel(modelDir, 'mlp-retrained.onnx', MLP_RETRAINED.build());
    const [first, second, otherVersion, otherFile] = await Promise.all([
      startServer(redisCache(redis)),
      startServer(redisCache(redis)),
      startServer(redisCache(redis, '--version', '2')),
      startServer(['--model', retrained, '--name', 'mlp', '--cache', 'redis', '--cache-redis-url', redis.url]),
    ]);
    try {
      const rows = randomRows(4, MLP.features, 701);
      assert.equal((await infer(first, rows)).status, 200);
      await storedAnswers(redis, 4);

      const shared = await infer(second, rows);
      assertClose(shared.body.outputs[0].data, rows.flatMap((r) => MLP.reference(r)));
      assert.equal(await metric(second, 'cache_hits_total'), 4);
      assert.equal(await metric(second, 'inference_rows_total'), 0, 'the second pod computed nothing');

      const v2 = await infer(otherVersion, rows);
      assert.equal(v2.status, 200);
      assert.equal(await metric(otherVersion, 'cache_hits_total'), 0, 'version 2 got version 1\'s answers');
      assert.equal(await metric(otherVersion, 'inference_rows_total'), 4);

      const other = await infer(otherFile, rows);
      assert.equal(await metric(otherFile, 'cache_hits_total'), 0, 'another model file under the same name and version got the first one\'s answers');
      assertClose(other.body.outputs[0].data, rows.flatMap((r) => MLP_RETRAINED.reference(r)), 'answers of the retrained model');
    } finally {
      await Promise.all([first, second, otherVersion, otherFile].map((s) => s.stop()));
    }
  });

  test('a garbled, truncated or misplaced value in Redis is a miss, never an answer', async () => {
    const server = await startServer(redisCache(redis, '--version', 'garbled'));
    const client = await inspect(redis);
    try {
      await client.flushAll();
      const rows = randomRows(3, MLP.features, 702);
      await infer(server, rows);
      await storedAnswers(redis, 3);
      const keys = (await client.keys('modelship:mlp:garbled:*')).sort();
      assert.equal(keys.length, 3);
      const values = await Promise.all(keys.map((k) => client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(k) as Promise<Buffer>));
      await client.set(keys[0], Buffer.from('not an answer at all'));
      await client.set(keys[1], values[1].subarray(0, values[1].length - 3));
      await client.set(keys[2], values[0]); // a well-formed answer, but another row's
      const res = await infer(server, rows);
      assert.equal(res.status, 200);
      assertClose(res.body.outputs[0].data, rows.flatMap((r) => MLP.reference(r)), 'a stored value was served as an answer');
      assert.equal(await metric(server, 'cache_errors_total', { kind: 'invalid' }), 3);
      assert.equal(await metric(server, 'cache_hits_total'), 0);
      assert.equal(await metric(server, 'inference_rows_total'), 6);
    } finally {
      client.destroy();
      await server.stop();
    }
  });
});

/** `clients` loops sending one of `rows` at a time until stopped, checking every answer. */
function loadOf(server: ServerProcess, rows: number[][], clients: number) {
  let stopped = false;
  const outcome = { ok: 0, failed: [] as string[] };
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = c; !stopped; i += clients) {
      const row = rows[i % rows.length];
      const res = await infer(server, [row]).catch((error: Error) => ({ status: 0, body: error.message }));
      if (res.status !== 200) outcome.failed.push(`${res.status} ${JSON.stringify(res.body)}`);
      else {
        try {
          assertClose(res.body.outputs[0].data, MLP.reference(row));
          outcome.ok++;
        } catch (error) {
          outcome.failed.push((error as Error).message);
        }
      }
    }
  });
  return { outcome, stop: async () => { stopped = true; await Promise.all(loops); } };
}

describe('Redis failures cost the cache, never a request', () => {
  test('Redis killed and restarted under load: no request fails, and the cache resumes', async () => {
    const redis = await startRedis();
    const server = await startServer(redisCache(redis, '--cache-redis-timeout-ms', '50'));
    const rows = randomRows(20, MLP.features, 801);
    const load = loadOf(server, rows, 8);
    try {
      await waitFor('hits before the restart', async () => (await metric(server, 'cache_hits_total')) > 50);
      await redis.kill();
      await waitFor('lookups skipped while redis is down', async () => (await metric(server, 'cache_errors_total', { kind: 'unavailable' })) > 20);
      const okWhileDown = load.outcome.ok;
      await waitFor('requests answered while redis is down', async () => load.outcome.ok > okWhileDown + 50);
      await redis.start();
      const hitsAtRestart = await metric(server, 'cache_hits_total');
      await waitFor('hits after the restart', async () => (await metric(server, 'cache_hits_total')) > hitsAtRestart + 50);
    } finally {
      await load.stop();
      await server.stop();
      await redis.dispose();
    }
    assert.deepEqual(load.outcome.failed, [], 'requests failed while redis restarted');
    assert.ok(load.outcome.ok > 150);
  });

  test('a Redis that answers nothing (paused) times out to the model, and the cache resumes when it answers', async () => {
    const redis = await startRedis();
    const server = await startServer(redisCache(redis, '--cache-redis-timeout-ms', '30'));
    const rows = randomRows(10, MLP.features, 802);
    const load = loadOf(server, rows, 4);
    try {
      await waitFor('hits', async () => (await metric(server, 'cache_hits_total')) > 20);
      redis.pause();
      await waitFor('lookups timing out', async () => (await metric(server, 'cache_errors_total', { kind: 'timeout' })) > 0);
      const computedWhilePaused = await metric(server, 'inference_rows_total');
      await waitFor('requests computed while redis is paused', async () => (await metric(server, 'inference_rows_total')) > computedWhilePaused + 50);
      redis.resume();
      const hitsAtResume = await metric(server, 'cache_hits_total');
      await waitFor('hits after redis answers again', async () => (await metric(server, 'cache_hits_total')) > hitsAtResume + 20);
    } finally {
      redis.resume();
      await load.stop();
      await server.stop();
      await redis.dispose();
    }
    assert.deepEqual(load.outcome.failed, []);
  });

  test('the server starts and serves while Redis is not there yet, and uses it once it comes', async () => {
    const redis = await startRedis();
    await redis.kill();
    const server = await startServer(redisCache(redis));
    try {
      const rows = randomRows(2, MLP.features, 803);
      for (let i = 0; i < 3; i++) assert.equal((await infer(server, rows)).status, 200);
      assert.ok(await metric(server, 'cache_errors_total', { kind: 'unavailable' }) >= 3);
      assert.equal(await metric(server, 'cache_hits_total'), 0);
      await redis.start();
      await waitFor('the cache in use', async () => {
        await infer(server, rows);
        return (await metric(server, 'cache_hits_total')) > 0;
      });
      assert.ok(server.logs.some((l) => l.message === 'response cache connected to redis'));
    } finally {
      await server.stop();
      await redis.dispose();
    }
  });
});

describe('Redis with a password', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis({ password: 's3cret pass' });
  });
  after(() => redis.dispose());

  test('the password from MODELSHIP_CACHE_REDIS_PASSWORD opens the cache', async () => {
    const server = await startServer(redisCache(redis), { env: { MODELSHIP_CACHE_REDIS_PASSWORD: 's3cret pass' } });
    try {
      const rows = randomRows(1, MLP.features, 901);
      await waitFor('a hit', async () => {
        assert.equal((await infer(server, rows)).status, 200);
        return (await metric(server, 'cache_hits_total')) > 0;
      });
      assert.ok(!JSON.stringify(server.logs).includes('s3cret'), 'the password was logged');
    } finally {
      await server.stop();
    }
  });

  test('a wrong password leaves the server serving without the cache', async () => {
    const server = await startServer(redisCache(redis), { env: { MODELSHIP_CACHE_REDIS_PASSWORD: 'wrong' } });
    try {
      const rows = randomRows(1, MLP.features, 902);
      for (let i = 0; i < 3; i++) assert.equal((await infer(server, rows)).status, 200);
      assert.equal(await metric(server, 'cache_hits_total'), 0);
      await waitFor('the failure logged', async () => server.logs.some((l) => l.message === 'response cache cannot reach redis; serving without the cache until it reconnects'));
    } finally {
      await server.stop();
    }
  });
});

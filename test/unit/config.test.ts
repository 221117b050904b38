// Settings resolution: precedence (flags over environment over config file over defaults), coercion of
// strings from flags and environment, and errors that name the key as the user wrote it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServeOptions, ConfigError } from '../../server-image/src/config/load.ts';
import { envName, flagName } from '../../contract/settings/serve-options.ts';

const dir = mkdtempSync(join(tmpdir(), 'modelship-config-'));
const yaml = (text: string) => {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
};

test('names derive from keys', () => {
  assert.equal(flagName('maxQueueDelayMs'), 'max-queue-delay-ms');
  assert.equal(envName('maxQueueDelayMs'), 'MODELSHIP_MAX_QUEUE_DELAY_MS');
});

test('defaults apply and strings are coerced to numbers', () => {
  const o = loadServeOptions(['--model', 'm.onnx', '--max-queue-delay-ms', '0.25'], {});
  assert.equal(o.port, 8080);
  assert.equal(o.maxBatchSize, 64);
  assert.equal(o.maxQueueDelayMs, 0.25);
  assert.equal(o.executionProvider, 'cpu');
});

test('flags override the environment, which overrides the config file', () => {
  const file = yaml('model: file.onnx\nport: 1000\nmaxBatchSize: 4\ninstances: 3\n');
  const o = loadServeOptions(['--config', file, '--port', '3000'], { MODELSHIP_PORT: '2000', MODELSHIP_MAX_BATCH_SIZE: '16' });
  assert.equal(o.model, 'file.onnx');
  assert.equal(o.port, 3000);
  assert.equal(o.maxBatchSize, 16);
  assert.equal(o.instances, 3);
});

test('MODELSHIP_CONFIG names the config file', () => {
  const file = yaml('model: from-env-config.onnx\n');
  assert.equal(loadServeOptions([], { MODELSHIP_CONFIG: file }).model, 'from-env-config.onnx');
});

test('every problem is reported at once, each naming its source', () => {
  const file = yaml('model: m.onnx\ninstances: 0\nbogus: 1\n');
  assert.throws(
    () => loadServeOptions(['--config', file, '--port=-1'], { MODELSHIP_LOG_LEVEL: 'loud' }),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /config file .*: instances: must be >= 1/);
      assert.match(error.message, /config file .*: bogus: unknown setting/);
      assert.match(error.message, /MODELSHIP_LOG_LEVEL: must be equal to one of the allowed values/);
      assert.match(error.message, /--port: must be >= 0/);
      return true;
    },
  );
});

test('contradictory settings are refused', () => {
  assert.throws(() => loadServeOptions(['--model', 'm', '--priority-levels', '2', '--default-priority-level', '3'], {}),
    /defaultPriorityLevel 3 must not exceed priorityLevels 2/);
  assert.throws(() => loadServeOptions(['--model', 'm', '--sha256', 'abc'], {}), /--sha256: must match pattern/);
});

test('cache settings that cannot work together are refused, naming the setting', () => {
  assert.throws(() => loadServeOptions(['--model', 'm', '--cache', 'redis'], {}), /cache redis requires cacheRedisUrl \(--cache-redis-url or MODELSHIP_CACHE_REDIS_URL\)/);
  assert.throws(() => loadServeOptions(['--model', 'm', '--cache', 'redis'], { MODELSHIP_CACHE_REDIS_URL: 'http://redis:6379' }), /MODELSHIP_CACHE_REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
  assert.throws(() => loadServeOptions(['--model', 'm', '--cache', 'memory', '--cache-max-bytes', '4096', '--cache-max-entry-bytes', '8192'], {}),
    /cacheMaxEntryBytes 8192 must not exceed cacheMaxBytes 4096/);
  assert.throws(() => loadServeOptions(['--model', 'm', '--cache', 'disk'], {}), /--cache: must be equal to one of the allowed values/);
  assert.equal(loadServeOptions(['--model', 'm', '--cache', 'redis', '--cache-redis-url', 'rediss://cache:6380/1'], {}).cacheTtlSeconds, 60);
});

test('a config file that is not a mapping or not YAML is refused with its path', () => {
  assert.throws(() => loadServeOptions(['--config', yaml('- a\n- b\n')], {}), /must be a mapping of settings/);
  assert.throws(() => loadServeOptions(['--config', yaml('model: [unclosed\n')], {}), /invalid YAML/);
  assert.throws(() => loadServeOptions(['--config', join(dir, 'missing.yaml')], {}), /config file .*missing.yaml: ENOENT/);
});

test('the build cache variable of the demo and the tests is no server, router or profile setting, so a server started with it in its environment is unaffected', async () => {
  const { BUILD_CACHE_VARIABLE } = await import('../../cluster/upstream-binaries.ts');
  const { SERVE_OPTIONS } = await import('../../contract/settings/serve-options.ts');
  const { ROUTE_OPTIONS } = await import('../../contract/settings/route-options.ts');
  const { PROFILE_OPTIONS } = await import('../../contract/settings/profile-options.ts');
  const settings = [SERVE_OPTIONS, ROUTE_OPTIONS, PROFILE_OPTIONS].flatMap((table) => Object.keys(table).map(envName));
  assert.ok(!settings.includes(BUILD_CACHE_VARIABLE), `${BUILD_CACHE_VARIABLE} is a setting's variable`);
  // The name it replaced is the response cache's setting, which refuses a directory.
  assert.ok(settings.includes('MODELSHIP_CACHE'));
  assert.throws(() => loadServeOptions(['--model', 'm.onnx'], { MODELSHIP_CACHE: '/root/cache' }), /MODELSHIP_CACHE/);
  assert.equal(loadServeOptions(['--model', 'm.onnx'], { [BUILD_CACHE_VARIABLE]: '/root/cache' }).model, 'm.onnx');
});

// The demo's in-cluster model store (examples/model-store/serve-models.ts) as a process on loopback: it serves
// the files of its folder, and a client's malformed path is a 400, not the end of the store.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/free-port.ts';
import { waitFor } from '../support/eventually.ts';

const STORE = fileURLToPath(new URL('../../examples/model-store/serve-models.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'modelship-store-'));
let store: ChildProcess;
let url: string;

before(async () => {
  writeFileSync(join(dir, 'model.onnx'), Buffer.from([1, 2, 3, 4]));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  store = spawn(process.execPath, [STORE, dir], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
  await waitFor('the store to listen', async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, { timeoutMs: 10_000 });
});
after(async () => {
  if (store.exitCode === null) {
    store.kill('SIGTERM');
    await once(store, 'exit');
  }
  rmSync(dir, { recursive: true, force: true });
});

test('a path that cannot be decoded is a 400, and the store keeps serving its files', async () => {
  assert.equal((await fetch(`${url}/%E0%A4%A`)).status, 400);
  assert.equal(store.exitCode, null, 'the store is still running');
  const answer = await fetch(`${url}/model.onnx`);
  assert.equal(answer.status, 200);
  assert.deepEqual([...new Uint8Array(await answer.arrayBuffer())], [1, 2, 3, 4]);
  assert.equal((await fetch(`${url}/elsewhere.onnx`)).status, 404);
  assert.equal((await fetch(`${url}/model.onnx`, { method: 'DELETE' })).status, 405);
});

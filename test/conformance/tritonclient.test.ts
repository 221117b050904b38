// Conformance with a real client: NVIDIA's tritonclient.http (Python), which uses the binary tensor data
// extension by default, drives the real server. The client is installed from PyPI into a cached virtual
// environment outside the repository on first use.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../../cluster/upstream-binaries.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { modelPath } from '../support/model-files.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const requirements = join(here, 'requirements.txt');

/** A virtual environment with the pinned clients, keyed by the requirements' content. */
function clientEnvironment(): string {
  const key = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const venv = join(cacheRoot(), `py-clients-${key}`);
  const python = join(venv, 'bin', 'python');
  if (!existsSync(join(venv, '.complete'))) {
    console.log(`installing protocol clients into ${venv}`);
    execFileSync('python3', ['-m', 'venv', '--clear', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements], { stdio: 'inherit' });
    execFileSync('touch', [join(venv, '.complete')]);
  }
  return python;
}

let multi: ServerProcess;
let strings: ServerProcess;
let python: string;
before(async () => {
  python = clientEnvironment();
  [multi, strings] = await Promise.all([
    startServer(['--model', modelPath.multi()]),
    startServer(['--model', modelPath.identity('BYTES'), '--name', 'strings']),
  ]);
});
after(async () => {
  await Promise.all([multi?.stop(), strings?.stop()]);
});

test('tritonclient.http: health, metadata, config, binary and JSON tensors, BYTES, errors, statistics', () => {
  const result = spawnSync(python, [join(here, 'tritonclient_check.py'), `127.0.0.1:${multi.port}`, `127.0.0.1:${strings.port}`], { encoding: 'utf8' });
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  const passed = result.stdout.split('\n').filter((l) => l.startsWith('ok ')).length;
  assert.equal(passed, 15, result.stdout);
});

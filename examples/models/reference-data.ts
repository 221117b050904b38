// The reference data of the example MLP and its baseline profile, written by `make models` beside the
// models: what the demo's clients send when they do not drift, and how they drift when they do.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MLP, randomRows } from '../../test/models/zoo.ts';

const SERVER_BIN = fileURLToPath(new URL('../../server-image/bin/modelship-server.js', import.meta.url));

/** The baseline of the MLP's reference data (writeExampleBaseline), for the examples with spec.monitoring. */
export const EXAMPLE_BASELINE = 'mlp-baseline.json';
/** The reference data the baseline profiles: what clients that do not drift send. */
export const REFERENCE_ROWS = randomRows(2000, MLP.features, 11);
/** The drift a demo client makes: these features moved down by 0.8 (of their [-1, 1) range). */
export const DRIFTED_FEATURES = [4, 5, 6, 7];
export const drifted = (rows: number[][]) => rows.map((row) => row.map((v, i) => (DRIFTED_FEATURES.includes(i) ? v - 0.8 : v)));

/**
 * Profiles the reference data with the server's own `profile` command into `dir`/EXAMPLE_BASELINE. A
 * profile equal to the one already there but for its `createdAt` leaves that file as it is: the demo's model
 * store image is tagged by its files' hash, and a new timestamp alone would rebuild and re-import it.
 */
export async function writeExampleBaseline(dir: string): Promise<string> {
  const data = join(dir, 'mlp-reference.jsonl');
  const target = join(dir, EXAMPLE_BASELINE);
  const fresh = `${target}.new`;
  writeFileSync(data, `${REFERENCE_ROWS.map((row) => JSON.stringify({ input: row })).join('\n')}\n`);
  const child = spawn(process.execPath, [SERVER_BIN, 'profile', '--model', join(dir, 'mlp.onnx'), '--data', data, '--out', fresh], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`modelship-server profile failed (${code}): ${stderr.slice(-2000)}`);
  const undated = (file: string) => JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), createdAt: undefined });
  if (existsSync(target) && undated(target) === undated(fresh)) rmSync(fresh);
  else renameSync(fresh, target);
  return target;
}


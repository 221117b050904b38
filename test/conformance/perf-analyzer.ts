// perf_analyzer, Triton's load generator, as a Triton or KServe user runs it: installed on first use from
// the pinned wheels on PyPI (perf-analyzer-requirements.txt) into the cache, outside the repository, then run
// as a child process and its report parsed. Over HTTP it needs no GPU: the CUDA runtime library it links is
// loaded, never used. It also links Debian's libb64: when the system lacks it, the package is fetched with
// `apt-get download` and unpacked into the cache (as bench/nginx.ts does), so no root install is needed.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../../cluster/upstream-binaries.ts';

const requirements = fileURLToPath(new URL('./perf-analyzer-requirements.txt', import.meta.url));

/** What each wheel contributes, and where it goes under the install folder. */
const MEMBERS = [
  { wheel: 'tritonclient-', member: 'tritonclient-2.48.0.data/data/bin/perf_analyzer', target: 'bin/perf_analyzer' },
  { wheel: 'nvidia_cuda_runtime_cu12-', member: 'nvidia/cuda_runtime/lib/libcudart.so.12', target: 'lib/libcudart.so.12' },
];

const EXTRACT = `
import sys, zipfile, os, glob
wheels, root = sys.argv[1], sys.argv[2]
for spec in sys.argv[3:]:
    prefix, member, target = spec.split('|')
    [wheel] = glob.glob(os.path.join(wheels, prefix + '*.whl'))
    path = os.path.join(root, target)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(wheel) as z, open(path, 'wb') as out:
        out.write(z.read(member))
    os.chmod(path, 0o755)
`;

/** Where the libraries go under the install folder: the CUDA runtime, and Debian packages unpacked there. */
const LIBRARY_DIRS = ['lib', 'debian/usr/lib/x86_64-linux-gnu'];

/** Libraries `bin` needs that the dynamic loader cannot find, as ldd names them. */
function missingLibraries(bin: string, env: NodeJS.ProcessEnv): string[] {
  return execFileSync('ldd', [bin], { env, encoding: 'utf8' }).split('\n').filter((line) => line.includes('not found')).map((l) => l.trim().split(' ')[0]);
}

/** Fetches Debian packages with apt-get download (no root needed) and unpacks them under `root`/debian. */
function unpackDebianPackages(packages: string[], root: string): void {
  const debs = join(root, 'debs');
  mkdirSync(debs, { recursive: true });
  try {
    execFileSync('apt-get', ['download', ...packages], { cwd: debs, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const deb of readdirSync(debs)) execFileSync('dpkg-deb', ['-x', join(debs, deb), join(root, 'debian')]);
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
    throw new Error(`perf_analyzer needs Debian's ${packages.join(', ')}; install it (apt-get install ${packages.join(' ')}) or let apt-get download fetch it: ${stderr.trim()}`);
  }
  rmSync(debs, { recursive: true });
}

export interface PerfAnalyzer {
  bin: string;
  env: NodeJS.ProcessEnv;
}

/** Installs perf_analyzer into the cache once (keyed by the pinned requirements) and says how to run it. */
export function perfAnalyzer(): PerfAnalyzer {
  const key = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const root = join(cacheRoot(), `perf-analyzer-${key}`);
  const bin = join(root, 'bin', 'perf_analyzer');
  const env = { ...process.env, LD_LIBRARY_PATH: [...LIBRARY_DIRS.map((d) => join(root, d)), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  if (!existsSync(join(root, '.complete'))) {
    console.log(`installing perf_analyzer into ${root}`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const wheels = join(root, 'wheels');
    try {
      execFileSync('python3', ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '-r', requirements, '-d', wheels], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
      throw new Error(`could not fetch perf_analyzer's wheels (${requirements}) from PyPI with pip: ${stderr.trim()}`);
    }
    execFileSync('python3', ['-c', EXTRACT, wheels, root, ...MEMBERS.map((m) => `${m.wheel}|${m.member}|${m.target}`)]);
    rmSync(wheels, { recursive: true });
    if (missingLibraries(bin, env).includes('libb64.so.0d')) unpackDebianPackages(['libb64-0d'], root);
    const missing = missingLibraries(bin, env);
    if (missing.length > 0) throw new Error(`perf_analyzer cannot load ${missing.join(', ')}`);
    writeFileSync(join(root, '.complete'), '');
  }
  return { bin, env };
}

/** One concurrency level of perf_analyzer's report, in its own units (microseconds, inferences per second). */
export interface Level {
  concurrency: number;
  client: { requests: number; throughput: number; avgUs: number; p50Us: number; p99Us: number };
  /** Its summary of the server's statistics over the same measurement windows (/v2/models/{name}/stats). */
  server: {
    inferences: number;
    executions: number;
    successes: number;
    avgUs: number;
    queueUs: number;
    computeInputUs: number;
    computeInferUs: number;
    computeOutputUs: number;
  };
}

export interface Run {
  code: number | null;
  output: string;
  levels: Level[];
}

const number = (block: string, pattern: RegExp, what: string): number => {
  const match = pattern.exec(block);
  if (!match) throw new Error(`perf_analyzer's report has no ${what}:\n${block}`);
  return Number(match[1]);
};

/** The levels of perf_analyzer's text report (one "Request concurrency: N" block each). */
export function parseReport(output: string): Level[] {
  const blocks = output.split(/^Request concurrency: /m).slice(1);
  return blocks.map((block) => {
    const [client, server = ''] = block.split(/^\s*Server:\s*$/m);
    const breakdown = /Avg request latency: (\d+) usec \(overhead (\d+) usec \+ queue (\d+) usec \+ compute input (\d+) usec \+ compute infer (\d+) usec \+ compute output (\d+) usec\)/.exec(server);
    if (!breakdown) throw new Error(`perf_analyzer's report has no server latency breakdown:\n${block}`);
    const [, avgUs, , queueUs, computeInputUs, computeInferUs, computeOutputUs] = breakdown.map(Number);
    return {
      concurrency: number(block, /^(\d+)/, 'concurrency'),
      client: {
        requests: number(client, /Request count: (\d+)/, 'request count'),
        throughput: number(client, /Throughput: ([\d.]+) infer\/sec/, 'throughput'),
        avgUs: number(client, /Avg latency: (\d+) usec/, 'average latency'),
        p50Us: number(client, /p50 latency: (\d+) usec/, 'p50 latency'),
        p99Us: number(client, /p99 latency: (\d+) usec/, 'p99 latency'),
      },
      server: {
        inferences: number(server, /Inference count: (\d+)/, 'server inference count'),
        executions: number(server, /Execution count: (\d+)/, 'server execution count'),
        successes: number(server, /Successful request count: (\d+)/, 'server request count'),
        avgUs, queueUs, computeInputUs, computeInferUs, computeOutputUs,
      },
    };
  });
}

/**
 * Measurement settings for the tests: concurrency 1 and 64, short windows and a loose stability band, which
 * keep a run to seconds on two cores (the tests check what it reports, not how fast we are). The band is
 * wide because perf_analyzer stops the sweep at a level it finds unstable, and a loaded machine may swing
 * the throughput of three half-second windows by a factor of a few.
 */
export const QUICK_MEASUREMENT: Record<string, string> = {
  '--concurrency-range': '1:64:63',
  '--measurement-interval': '500',
  '--stability-percentage': '500',
  '--max-trials': '10',
};

/** Runs perf_analyzer over HTTP against `url` (host:port): the quick measurement, with `options` (flag -> value) over it. */
export function runPerfAnalyzer(pa: PerfAnalyzer, url: string, model: string, options: Record<string, string> = {}, timeoutMs = 180_000): Promise<Run> {
  const args = ['-m', model, '-u', url, '-i', 'http', ...Object.entries({ ...QUICK_MEASUREMENT, ...options }).flat()];
  return new Promise((resolve, reject) => {
    const child = spawn(pa.bin, args, { env: pa.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, output, levels: code === 0 ? parseReport(output) : [] });
      } catch (error) {
        reject(error);
      }
    });
  });
}

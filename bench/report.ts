// The benchmark's printed report: markdown tables of the in-process limits and of every run, then the
// targets with PASS/MISS, then any errors the load generator saw.
import type { LimitRecord, RunRecord, TargetCheck } from './results.ts';

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const fixed = (digits: number) => (value: number) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const int = fixed(0);
const ms = fixed(2);
const one = fixed(1);

export function limitsTable(limits: LimitRecord[]): string {
  const batches = [...new Set(limits.flatMap((l) => l.byBatch.map((b) => b.batch)))];
  return table(
    ['model', ...batches.map((b) => `batch ${b} samples/s`), 'best', 'other CPU', 'tries'],
    limits.map((l) => [
      l.model,
      ...batches.map((b) => int(l.byBatch.find((x) => x.batch === b)?.samplesPerSec ?? NaN)),
      `${int(l.samplesPerSec)} (batch ${l.bestBatch})`,
      ms(l.otherCores),
      String(l.attempts),
    ]),
  );
}

export function runsTable(runs: RunRecord[]): string {
  return table(
    ['model', 'server', 'body', 'clients', 'req/s', 'p50 ms', 'p99 ms', 'mean batch', 'server CPU', 'bench CPU', 'other CPU', 'tries', 'peak RSS MiB', 'errors'],
    runs.map((r) => [
      r.model, r.server, r.body, String(r.concurrency), int(r.requestsPerSec), ms(r.p50Ms), ms(r.p99Ms),
      one(r.meanBatchSize), ms(r.serverCores), ms(r.benchCores), ms(r.otherCores), String(r.attempts), int(r.peakRssMiB), String(r.errors),
    ]),
  );
}

export function checksList(checks: TargetCheck[]): string {
  return checks
    .map((c) => `- ${c.description} = ${c.value.toFixed(2)}${c.unit === 'x' ? 'x' : ` ${c.unit}`} (target ${c.target}) ${c.pass ? 'PASS' : 'MISS'}`)
    .join('\n');
}

export function errorsList(runs: RunRecord[]): string {
  const failed = runs.filter((r) => r.errors > 0);
  if (failed.length === 0) return 'No errors: every request was answered 200 in the requested format.';
  return failed
    .map((r) => `- ${r.model} ${r.server} ${r.body} @${r.concurrency}: ${r.errors} failed; ${r.errorSamples.join(' | ')}`)
    .join('\n');
}

// The mean batch size modelship-server formed over a run, from its Prometheus histogram
// `modelship_batch_size` scraped before and after: the deltas of its _sum (rows) and _count (batches).
import { httpGet } from './server-process.ts';

export interface BatchTotals {
  rows: number;
  batches: number;
}

const SERIES = /^modelship_batch_size_(sum|count)(?:\{[^}]*\})? (\S+)$/gm;

export async function scrapeBatchTotals(port: number): Promise<BatchTotals> {
  const { status, body } = await httpGet(port, '/metrics');
  if (status !== 200) throw new Error(`GET /metrics answered ${status}`);
  const totals: BatchTotals = { rows: 0, batches: 0 };
  for (const [, series, value] of body.matchAll(SERIES)) {
    if (series === 'sum') totals.rows += Number(value);
    else totals.batches += Number(value);
  }
  return totals;
}

export function meanBatchSize(before: BatchTotals, after: BatchTotals): number {
  const batches = after.batches - before.batches;
  return batches > 0 ? (after.rows - before.rows) / batches : NaN;
}

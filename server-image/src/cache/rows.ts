// Rows in and out of tensors, for answering a batched request partly from the cache. Pure.
import { concatBatch } from '../batching/tensor-batch.ts';
import { allocate, elementCount, type NumericArray, type Tensor, type TensorData } from '../protocol/datatypes.ts';
import type { InferenceRequest } from '../protocol/request.ts';

function pickRows(data: TensorData, perRow: number, rows: readonly number[], datatype: Tensor['datatype']): TensorData {
  if (Array.isArray(data)) return rows.flatMap((r) => data.slice(r * perRow, (r + 1) * perRow));
  const out = allocate(datatype, rows.length * perRow) as NumericArray;
  rows.forEach((r, i) => (out as Uint8Array).set((data as Uint8Array).subarray(r * perRow, (r + 1) * perRow), i * perRow));
  return out;
}

/** The request with only the given rows (in that order), to be computed: the rest were answered already. */
export function takeRows(request: InferenceRequest, rows: readonly number[]): InferenceRequest {
  const inputs = request.inputs.map((t) => {
    const perRow = elementCount(t.shape) / request.rows;
    return { ...t, shape: [rows.length, ...t.shape.slice(1)], data: pickRows(t.data, perRow, rows, t.datatype) };
  });
  return { ...request, inputs, rows: rows.length };
}

/** One row of each named output of a batch's answer, shaped [1, ...]. Views, not copies. */
export function rowOf(outputs: ReadonlyMap<string, Tensor>, names: readonly string[], row: number, rows: number): Tensor[] {
  return names.map((name) => {
    const t = outputs.get(name)!;
    const perRow = elementCount(t.shape) / rows;
    const data = Array.isArray(t.data)
      ? t.data.slice(row * perRow, (row + 1) * perRow)
      : (t.data as Uint8Array).subarray(row * perRow, (row + 1) * perRow) as unknown as NumericArray;
    return { ...t, shape: [1, ...t.shape.slice(1)], data };
  });
}

/**
 * The answer of a whole request from its rows' answers (each the outputs, in the same order, of one row), or
 * undefined when the rows' shapes disagree (a model whose output shape is not a function of the row alone):
 * the caller then computes the request as a whole.
 */
export function assembleRows(rows: ReadonlyArray<readonly Tensor[]>): Map<string, Tensor> | undefined {
  const first = rows[0];
  for (const row of rows) {
    for (let i = 0; i < first.length; i++) {
      const a = first[i].shape;
      const b = row[i].shape;
      if (a.length !== b.length || a.some((d, k) => d !== b[k])) return undefined;
    }
  }
  return new Map(concatBatch(rows as Tensor[][]).map((t) => [t.name, t]));
}

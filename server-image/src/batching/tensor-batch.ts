// Concatenation of requests into one batch along the batch dimension, and the exact split of the batch's
// outputs back to each request. Pure functions over tensors.
import { allocate, elementCount, type NumericArray, type Tensor, type TensorData } from '../protocol/datatypes.ts';
import { internal } from '../protocol/errors.ts';

/** Inputs of several requests (each in the model's input order, equal non-batch shapes) as one batch. */
export function concatBatch(requests: readonly Tensor[][]): Tensor[] {
  if (requests.length === 1) return requests[0];
  return requests[0].map((first, i) => {
    const parts = requests.map((inputs) => inputs[i]);
    const rows = parts.reduce((sum, t) => sum + t.shape[0], 0);
    const shape = [rows, ...first.shape.slice(1)];
    if (Array.isArray(first.data)) {
      return { ...first, shape, data: parts.flatMap((t) => t.data as string[]) };
    }
    const data = allocate(first.datatype, elementCount(shape)) as NumericArray;
    let offset = 0;
    for (const t of parts) {
      (data as Uint8Array).set(t.data as Uint8Array, offset);
      offset += t.data.length;
    }
    return { ...first, shape, data };
  });
}

function sliceRows(data: TensorData, start: number, end: number): TensorData {
  return Array.isArray(data) ? data.slice(start, end) : (data as Uint8Array).subarray(start, end);
}

/** Splits batch outputs into per-request outputs, by the rows each request contributed. */
export function splitBatch(outputs: readonly Tensor[], rowsPerRequest: readonly number[]): Map<string, Tensor>[] {
  if (rowsPerRequest.length === 1) return [new Map(outputs.map((t) => [t.name, t]))];
  const total = rowsPerRequest.reduce((a, b) => a + b, 0);
  const result = rowsPerRequest.map(() => new Map<string, Tensor>());
  for (const tensor of outputs) {
    if (tensor.shape[0] !== total) {
      throw internal(`model output '${tensor.name}' has ${tensor.shape[0]} rows for a batch of ${total}`);
    }
    const rowElements = elementCount(tensor.shape.slice(1));
    let row = 0;
    rowsPerRequest.forEach((rows, r) => {
      const data = sliceRows(tensor.data, row * rowElements, (row + rows) * rowElements);
      result[r].set(tensor.name, { ...tensor, shape: [rows, ...tensor.shape.slice(1)], data });
      row += rows;
    });
  }
  return result;
}

// Numbers out of a tensor's payload, whatever its datatype: FP16 travels as raw bits and 64-bit integers as
// bigints, and drift only needs each element as a plain number. Pure.
import { fp16BitsToNumbers, type Tensor } from '../protocol/datatypes.ts';

/** The elements of a numeric tensor, readable as numbers (bigints are converted by the reader below). */
export type NumericView = ArrayLike<number | bigint>;

export function numericView(tensor: Tensor): NumericView {
  if (Array.isArray(tensor.data)) throw new Error(`tensor '${tensor.name}' is BYTES, which has no numeric distribution`);
  if (tensor.datatype === 'FP16' && tensor.data instanceof Uint16Array) return fp16BitsToNumbers(tensor.data);
  return tensor.data as NumericView;
}

/** Element `i` of a view as a number. */
export function numberAt(view: NumericView, i: number): number {
  const v = view[i];
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Index of the largest finite element of view[start, start+width), or -1 when none is finite. */
export function argmax(view: ArrayLike<number>, start: number, width: number): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < width; i++) {
    const v = view[start + i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

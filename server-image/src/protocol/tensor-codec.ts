// One defensive codec for tensor payloads of the Open Inference Protocol, for requests the server decodes
// and for answers the router compares: a tensor's datatype and shape, and its elements from JSON `data`
// (flat or nested) or from the binary tensor data extension. Pure functions that return values or throw a
// TensorCodecError; what that means for a caller (a 400, an invalid shadow answer) is the caller's business.
//
// Every size is checked before the work it would cost: the element count from the shape before any element
// is read, nesting without recursion (an attacker's 200,000 levels must not overflow the stack), binary
// lengths against the datatype, BYTES length prefixes against what is left. Messages quote client values
// only through `quoteValue` (../excerpt.ts), so a 20 MB bad string never comes back as a 20 MB error.
import { quoteValue } from '../excerpt.ts';
import {
  DATATYPES, isDatatype, numbersToFp16Bits,
  type Datatype, type JsonElementRule, type NumericArray, type TensorData,
} from './datatypes.ts';

export class TensorCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TensorCodecError';
  }
}

export interface CodecLimits {
  /** Most elements in one tensor. */
  maxElements: number;
  /** Most elements in one BYTES tensor (each is a string of its own: far costlier than a number). */
  maxBytesElements: number;
  /** Deepest nesting of a tensor: its rank, and so the depth of its nested JSON `data`. */
  maxRank: number;
}

/** Defaults sized to the default 64 MiB body: 16 Mi FP32 elements, 1 Mi strings, rank 32. */
export const DEFAULT_CODEC_LIMITS: CodecLimits = { maxElements: 16 * 1024 * 1024, maxBytesElements: 1024 * 1024, maxRank: 32 };

export interface TensorHead {
  datatype: Datatype;
  shape: number[];
}

export interface DecodeRules {
  /** Refuse NaN and infinities in floating-point tensors (a model input must be finite). */
  finite?: boolean;
  /** Refuse NUL bytes in BYTES elements (ONNX Runtime passes strings as C strings and would cut them short). */
  noNul?: boolean;
}

/** The datatype named by `value`. */
export function parseDatatype(value: unknown): Datatype {
  if (!isDatatype(value)) throw new TensorCodecError(`unknown datatype ${quoteValue(value)}`);
  return value;
}

/** A shape: an array of at most maxRank non-negative safe integers. */
export function parseShape(value: unknown, limits: CodecLimits): number[] {
  if (!Array.isArray(value)) throw new TensorCodecError(`'shape' must be an array of non-negative integers, got ${quoteValue(value)}`);
  if (value.length > limits.maxRank) throw new TensorCodecError(`'shape' has rank ${value.length}, over the limit of ${limits.maxRank}`);
  for (const d of value) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new TensorCodecError(`'shape' must be an array of non-negative integers, got [${value.map(quoteValue).join(',')}]`);
    }
  }
  return value as number[];
}

/**
 * The element count of a shape, refused past the datatype's limit. Multiplies step by step and stops at the
 * limit, so a shape like [1e15, 1e15] is refused rather than overflowing to a wrong count.
 */
export function checkedElementCount(head: TensorHead, limits: CodecLimits): number {
  const limit = head.datatype === 'BYTES' ? Math.min(limits.maxBytesElements, limits.maxElements) : limits.maxElements;
  if (head.shape.includes(0)) return 0;
  let count = 1;
  for (const d of head.shape) {
    count *= d;
    if (count > limit) {
      const what = head.datatype === 'BYTES' ? 'BYTES elements' : 'elements';
      throw new TensorCodecError(`shape [${head.shape}] has more than the limit of ${limit} ${what}`);
    }
  }
  return count;
}

/**
 * Row-major elements of JSON `data`: flat as it is, or nested exactly as the shape says. Iterative, with
 * the depth bounded by the shape's rank; an array where an element belongs stays an element (and is then
 * refused by the element check), however deep it goes.
 */
export function flattenJsonData(data: unknown, shape: readonly number[]): unknown[] {
  if (!Array.isArray(data)) throw new TensorCodecError(`'data' must be an array, got ${quoteValue(data)}`);
  if (data.length === 0 || !Array.isArray(data[0]) || shape.length <= 1) return data;
  const mismatch = (depth: number) => new TensorCodecError(`nested 'data' does not match shape [${shape}] at depth ${depth}`);
  if (data.length !== shape[0]) throw mismatch(0);
  const flat: unknown[] = [];
  const nodes: unknown[][] = [data];
  const next: number[] = [0];
  while (nodes.length > 0) {
    const depth = nodes.length - 1;
    const node = nodes[depth];
    const i = next[depth];
    if (i === node.length) {
      nodes.pop();
      next.pop();
      continue;
    }
    next[depth] = i + 1;
    const child = node[i];
    if (depth + 1 === shape.length) {
      flat.push(child);
    } else {
      if (!Array.isArray(child) || child.length !== shape[depth + 1]) throw mismatch(depth + 1);
      nodes.push(child);
      next.push(0);
    }
  }
  return flat;
}

/** JSON `data` flattened row-major, exactly as many elements as the shape (within limits) needs; unchecked elements. */
export function jsonElements(head: TensorHead, data: unknown, limits: CodecLimits): unknown[] {
  const count = checkedElementCount(head, limits);
  const values = flattenJsonData(data, head.shape);
  if (values.length !== count) {
    throw new TensorCodecError(`shape [${head.shape}] needs ${count} elements but 'data' has ${values.length}`);
  }
  return values;
}

/** A tensor's elements from JSON `data`, checked element by element against the datatype. */
export function decodeJsonTensor(head: TensorHead, data: unknown, limits: CodecLimits, rules: DecodeRules = {}): TensorData {
  const values = jsonElements(head, data, limits);
  const count = values.length;
  const { datatype } = head;
  const info = DATATYPES[datatype];
  if (!info.array || !info.json) return checkedStrings(values, rules);
  if (datatype === 'FP16') {
    const halves = new Float16Array(count);
    fillChecked(datatype, values, info.json, halves as unknown as NumericArray);
    return numbersToFp16Bits(halves);
  }
  const out = new info.array(count);
  fillChecked(datatype, values, info.json, out);
  return out;
}

function checkedStrings(values: unknown[], rules: DecodeRules): string[] {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'string') throw new TensorCodecError(`BYTES element ${i} must be a string, got ${quoteValue(value)}`);
    if (rules.noNul && value.includes('\0')) throw nulByte(i);
  }
  return values as string[];
}

function fillChecked(datatype: Datatype, values: unknown[], rule: JsonElementRule, out: NumericArray): void {
  const fail = (i: number, why: string): never => {
    throw new TensorCodecError(`element ${i} (${quoteValue(values[i])}) ${why} for ${datatype}`);
  };
  const n = values.length;
  switch (rule.kind) {
    case 'float': {
      const arr = out as Float32Array;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number') fail(i, 'is not a number');
        // JSON.parse turns 1e400 into Infinity; reject non-finite and out-of-range values instead of storing Infinity.
        if (!((v as number) <= rule.max && (v as number) >= -rule.max)) fail(i, 'is not a finite number in range');
        arr[i] = v as number;
      }
      return;
    }
    case 'int': {
      const arr = out as Int32Array;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (!Number.isInteger(v)) fail(i, 'is not an integer');
        if ((v as number) < rule.min || (v as number) > rule.max) fail(i, `is out of range [${rule.min}, ${rule.max}]`);
        arr[i] = v as number;
      }
      return;
    }
    case 'bigint': {
      const arr = out as BigInt64Array;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (!Number.isInteger(v)) fail(i, 'is not an integer');
        const b = BigInt(v as number);
        if (b < rule.min || b > rule.max) fail(i, `is out of range [${rule.min}, ${rule.max}]`);
        arr[i] = b;
      }
      return;
    }
    case 'bool': {
      const arr = out as Uint8Array;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'boolean') fail(i, 'is not a boolean');
        arr[i] = v ? 1 : 0;
      }
      return;
    }
  }
}

/**
 * A tensor's elements from its region of the binary tensor data extension: exactly count x element size
 * bytes for numbers and booleans (little-endian, copied into an aligned array the caller owns), or
 * length-prefixed strings for BYTES.
 */
export function decodeBinaryTensor(head: TensorHead, bytes: Uint8Array, limits: CodecLimits, rules: DecodeRules = {}): TensorData {
  const count = checkedElementCount(head, limits);
  const info = DATATYPES[head.datatype];
  if (!info.array) return decodeBinaryStrings(bytes, count, rules);
  const expected = count * info.byteSize;
  if (bytes.length !== expected) {
    throw new TensorCodecError(`binary_data_size ${bytes.length} does not match ${count} ${head.datatype} elements (${expected} bytes)`);
  }
  const out = new info.array(count);
  new Uint8Array(out.buffer).set(bytes);
  if (rules.finite && (head.datatype === 'FP32' || head.datatype === 'FP64')) checkFinite(out as Float32Array | Float64Array);
  return out;
}

function checkFinite(values: Float32Array | Float64Array): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new TensorCodecError(`element ${i} is ${values[i]}; the model takes finite numbers (the server setting allowNonFinite lets them through)`);
  }
}

/**
 * BYTES elements as the binary extension carries them (each a 4-byte little-endian length, then its UTF-8),
 * in one allocation: a Buffer per string would cost a hundred bytes of object each, a million strings 200 MB.
 */
export function encodeBinaryStrings(strings: readonly string[]): Buffer {
  let size = 4 * strings.length;
  for (const s of strings) size += Buffer.byteLength(s, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const s of strings) {
    const length = out.write(s, offset + 4, 'utf8');
    out.writeUInt32LE(length, offset);
    offset += 4 + length;
  }
  return out;
}

// Strict: invalid UTF-8 is refused rather than silently replaced.
const utf8 = new TextDecoder('utf-8', { fatal: true });

const nulByte = (index: number) =>
  new TensorCodecError(`BYTES element ${index} contains a NUL byte, which ONNX Runtime string tensors cannot carry`);

/**
 * BYTES in the binary extension: `count` elements, each a 4-byte little-endian length and that many bytes
 * of UTF-8. Reads at most `count` elements (so 8 million empty strings against a shape of 4 cost 4 reads),
 * then requires the region to end there.
 */
export function decodeBinaryStrings(bytes: Uint8Array, count: number, rules: DecodeRules = {}): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.length) {
      throw new TensorCodecError(offset === bytes.length
        ? `binary data holds ${i} BYTES elements, the shape needs ${count}`
        : `truncated BYTES length prefix at byte ${offset}`);
    }
    const length = view.getUint32(offset, true);
    offset += 4;
    if (length > bytes.length - offset) throw new TensorCodecError(`BYTES element ${i} claims ${length} bytes, only ${bytes.length - offset} remain`);
    const element = bytes.subarray(offset, offset + length);
    if (rules.noNul && element.includes(0)) throw nulByte(i);
    try {
      out[i] = utf8.decode(element);
    } catch {
      throw new TensorCodecError(`BYTES element ${i} is not valid UTF-8`);
    }
    offset += length;
  }
  if (offset !== bytes.length) {
    throw new TensorCodecError(`binary data holds more than the ${count} BYTES elements the shape needs (${bytes.length - offset} bytes left over)`);
  }
  return out;
}

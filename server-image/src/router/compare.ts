// Shadow comparison: decode the primary's and the shadow's answers to the same request and measure how far
// apart they are. Pure; a response that cannot be decoded or does not line up is a result, never a throw.
//
// Per output: the largest absolute difference and the largest relative difference
// |a - b| / max(|a|, |b|, 1e-12). For classifier-like outputs (floating point, [batch, classes] with at
// least two classes) also how many rows pick the same class (argmax, first index on a tie).
import { DATATYPES, elementCount, isDatatype, type Datatype } from '../protocol/datatypes.ts';
import { excerpt } from '../excerpt.ts';

export interface DecodedOutput {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** Elements as numbers; undefined for BYTES, which are compared for equality only. */
  values?: Float64Array;
  strings?: string[];
}

export type Decoded = { ok: true; outputs: DecodedOutput[] } | { ok: false; reason: string };

export interface OutputComparison {
  name: string;
  maxAbsDiff: number;
  maxRelDiff: number;
  /** Rows compared by argmax, and rows whose argmax agreed; only for classifier-like outputs. */
  top1?: { rows: number; agreements: number };
}

/**
 * compared: both decoded and lined up. mismatch: the shadow's outputs differ in names, shapes or kind.
 * invalid: the shadow's answer cannot be decoded (its fault, like a mismatch). skipped: nothing to judge
 * the shadow by (the primary's own answer cannot be decoded).
 */
export type Comparison =
  | { result: 'compared'; outputs: OutputComparison[]; maxAbsDiff: number; maxRelDiff: number; top1Rows: number; top1Agreements: number }
  | { result: 'mismatch' | 'invalid' | 'skipped'; reason: string };

const REL_FLOOR = 1e-12;
const FLOATING = new Set<Datatype>(['FP16', 'FP32', 'FP64']);
/** No tensor has more dimensions: a longer shape, or JSON data nested deeper, is refused rather than walked. */
export const MAX_RANK = 64;

type Decoding<T> = { ok: true; value: T } | { ok: false; reason: string };
const refused = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/**
 * JSON `data` as a flat list of at most `limit` elements. Nested lists are walked with an explicit stack,
 * not recursion, so an answer nested 200,000 levels deep is refused at MAX_RANK instead of overflowing
 * the call stack.
 */
export function flattenData(data: unknown, limit: number): Decoding<unknown[]> {
  if (!Array.isArray(data)) return refused("'data' is not a list");
  const out: unknown[] = [];
  const stack: Array<{ items: unknown[]; next: number }> = [{ items: data, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.next++];
    if (Array.isArray(item)) {
      if (stack.length >= MAX_RANK) return refused(`'data' is nested deeper than ${MAX_RANK} levels`);
      stack.push({ items: item, next: 0 });
    } else {
      if (out.length >= limit) return refused(`'data' has more than the shape's ${limit} elements`);
      out.push(item);
    }
  }
  return { ok: true, value: out };
}

/**
 * `count` raw little-endian elements (the byte order of every platform Node runs on) as numbers; the byte
 * length must be exactly count times the datatype's size, checked before any typed array is made.
 */
export function numbersFromBytes(datatype: Exclude<Datatype, 'BYTES'>, bytes: Uint8Array, count: number): Decoding<Float64Array> {
  const size = DATATYPES[datatype].byteSize;
  if (bytes.length !== count * size) return refused(`${bytes.length} bytes of ${datatype} for ${count} elements of ${size} bytes`);
  // A copy of just the region (a Buffer's slice() would share its pool), whose offset inside the body need
  // not be aligned for the typed array.
  const buffer = new Uint8Array(bytes).buffer;
  const typed = datatype === 'FP16' ? new Float16Array(buffer) : new DATATYPES[datatype].array!(buffer);
  const out = new Float64Array(typed.length);
  for (let i = 0; i < typed.length; i++) out[i] = Number(typed[i]);
  return { ok: true, value: out };
}

/** `count` length-prefixed strings (4-byte little-endian length, then UTF-8) filling `bytes` exactly. */
export function stringsFromBytes(bytes: Uint8Array, count: number): Decoding<string[]> {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  let at = 0;
  while (at < view.length) {
    if (out.length === count) return refused(`BYTES data holds more than the shape's ${count} elements`);
    if (at + 4 > view.length) return refused(`BYTES element ${out.length}: its 4-byte length is cut off`);
    const length = view.readUInt32LE(at);
    if (length > view.length - at - 4) return refused(`BYTES element ${out.length}: length ${length} runs past the data`);
    out.push(view.toString('utf8', at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (out.length !== count) return refused(`BYTES data holds ${out.length} elements for the shape's ${count}`);
  return { ok: true, value: out };
}

const isShape = (shape: unknown): shape is number[] =>
  Array.isArray(shape) && shape.length <= MAX_RANK && shape.every((d) => Number.isSafeInteger(d) && d >= 0);

/** One output of an answer's header; a binary one's bytes start at `offset.at` in the body, which moves past them. */
function decodeOutput(raw: Record<string, any>, body: Buffer, offset: { at: number }): Decoding<DecodedOutput> {
  const { name, datatype, shape } = raw ?? {};
  if (typeof name !== 'string' || !isDatatype(datatype) || !isShape(shape)) {
    return refused(`output ${excerpt(JSON.stringify(name) ?? 'without a name', 60)}: missing or bad name, datatype or shape`);
  }
  const label = `output '${excerpt(name, 60)}'`;
  const count = elementCount(shape);
  const size = raw.parameters?.binary_data_size;
  if (size !== undefined) {
    if (!Number.isSafeInteger(size) || size < 0 || offset.at + size > body.length) return refused(`${label}: binary_data_size ${excerpt(String(size), 30)} exceeds the body`);
    const bytes = body.subarray(offset.at, offset.at + size);
    offset.at += size;
    const decoded = datatype === 'BYTES' ? stringsFromBytes(bytes, count) : numbersFromBytes(datatype, bytes, count);
    if (!decoded.ok) return refused(`${label}: ${decoded.reason}`);
    return { ok: true, value: datatype === 'BYTES' ? { name, datatype, shape, strings: decoded.value as string[] } : { name, datatype, shape, values: decoded.value as Float64Array } };
  }
  const data = flattenData(raw.data, count);
  if (!data.ok) return refused(`${label}: ${data.reason}`);
  if (data.value.length !== count) return refused(`${label}: ${data.value.length} elements for shape [${shape}]`);
  return {
    ok: true,
    value: datatype === 'BYTES'
      ? { name, datatype, shape, strings: data.value.map(String) }
      : { name, datatype, shape, values: Float64Array.from(data.value, Number) }, // BOOL's true/false become 1/0
  };
}

/**
 * An infer response body: JSON, or (binary tensor extension) a JSON header of `headerLength` bytes followed
 * by each binary output's `binary_data_size` bytes in output order. Every element count and byte length is
 * checked against the shape and the datatype before anything is allocated from it: whatever the body, the
 * result is a decoding or a reason, never a throw.
 */
export function decodeInferResponse(body: Buffer, headerLength?: string): Decoded {
  const jsonLength = headerLength === undefined ? body.length : Number(headerLength);
  if (!Number.isSafeInteger(jsonLength) || jsonLength < 0 || jsonLength > body.length) {
    return { ok: false, reason: `Inference-Header-Content-Length ${excerpt(String(headerLength), 30)} does not fit a body of ${body.length} bytes` };
  }
  let header: { outputs?: unknown };
  try {
    header = JSON.parse(body.toString('utf8', 0, jsonLength));
  } catch (error) {
    return { ok: false, reason: `malformed JSON: ${excerpt((error as Error).message)}` };
  }
  if (!header || !Array.isArray(header.outputs)) return { ok: false, reason: "no 'outputs' list" };
  const outputs: DecodedOutput[] = [];
  const offset = { at: jsonLength };
  for (const raw of header.outputs as Array<Record<string, any>>) {
    const output = decodeOutput(raw, body, offset);
    if (!output.ok) return output;
    outputs.push(output.value);
  }
  return { ok: true, outputs };
}

function differences(a: Float64Array, b: Float64Array): { abs: number; rel: number } {
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    let d = Math.abs(x - y);
    if (Number.isNaN(d)) d = Infinity; // one side NaN, or infinities of opposite sign
    if (d > abs) abs = d;
    const r = d / Math.max(Math.abs(x), Math.abs(y), REL_FLOOR);
    if (r > rel || Number.isNaN(r)) rel = Number.isNaN(r) ? Infinity : r;
  }
  return { abs, rel };
}

function argmax(values: Float64Array, start: number, length: number): number {
  let best = 0;
  for (let j = 1; j < length; j++) if (values[start + j] > values[start + best]) best = j;
  return best;
}

function isClassifierLike(o: DecodedOutput): boolean {
  return FLOATING.has(o.datatype) && o.shape.length === 2 && o.shape[1] >= 2;
}

function compareOutput(p: DecodedOutput, s: DecodedOutput): OutputComparison {
  if (p.strings || s.strings) {
    const equal = p.strings!.every((v, i) => v === s.strings![i]);
    return { name: p.name, maxAbsDiff: equal ? 0 : Infinity, maxRelDiff: equal ? 0 : Infinity };
  }
  const { abs, rel } = differences(p.values!, s.values!);
  const comparison: OutputComparison = { name: p.name, maxAbsDiff: abs, maxRelDiff: rel };
  if (isClassifierLike(p)) {
    const [rows, classes] = p.shape;
    let agreements = 0;
    for (let r = 0; r < rows; r++) if (argmax(p.values!, r * classes, classes) === argmax(s.values!, r * classes, classes)) agreements++;
    comparison.top1 = { rows, agreements };
  }
  return comparison;
}

/** Compares two decoded answers output by output (matched by name); different names or shapes are a mismatch. */
export function compareDecoded(primary: DecodedOutput[], shadow: DecodedOutput[]): Comparison {
  const names = (outputs: DecodedOutput[]) => outputs.map((o) => o.name).sort().join(', ');
  if (names(primary) !== names(shadow)) return { result: 'mismatch', reason: `outputs differ: [${excerpt(names(primary))}] vs [${excerpt(names(shadow))}]` };
  const byName = new Map(shadow.map((o) => [o.name, o]));
  const outputs: OutputComparison[] = [];
  for (const p of primary) {
    const s = byName.get(p.name)!;
    const label = `output '${excerpt(p.name, 60)}'`;
    if (p.shape.join(',') !== s.shape.join(',')) return { result: 'mismatch', reason: `${label}: shape [${p.shape}] vs [${s.shape}]` };
    if ((p.datatype === 'BYTES') !== (s.datatype === 'BYTES')) return { result: 'mismatch', reason: `${label}: datatype ${p.datatype} vs ${s.datatype}` };
    outputs.push(compareOutput(p, s));
  }
  return {
    result: 'compared',
    outputs,
    maxAbsDiff: outputs.reduce((m, o) => Math.max(m, o.maxAbsDiff), 0),
    maxRelDiff: outputs.reduce((m, o) => Math.max(m, o.maxRelDiff), 0),
    top1Rows: outputs.reduce((n, o) => n + (o.top1?.rows ?? 0), 0),
    top1Agreements: outputs.reduce((n, o) => n + (o.top1?.agreements ?? 0), 0),
  };
}

/**
 * Decodes both bodies and compares them. A shadow answer that cannot be decoded is invalid; a primary
 * answer that cannot be decoded leaves nothing to judge the shadow by, so the pair is skipped.
 */
export function compareResponses(
  primary: { body: Buffer; headerLength?: string },
  shadow: { body: Buffer; headerLength?: string },
): Comparison {
  const p = decodeInferResponse(primary.body, primary.headerLength);
  if (!p.ok) return { result: 'skipped', reason: `primary response: ${p.reason}` };
  const s = decodeInferResponse(shadow.body, shadow.headerLength);
  if (!s.ok) return { result: 'invalid', reason: `shadow response: ${s.reason}` };
  return compareDecoded(p.outputs, s.outputs);
}

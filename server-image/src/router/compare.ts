// Shadow comparison: decode the primary's and the shadow's answers to the same request and measure how far
// apart they are. Pure; a response that cannot be decoded or does not line up is a result, never a throw.
//
// Per output: the largest absolute difference and the largest relative difference
// |a - b| / max(|a|, |b|, 1e-12). For classifier-like outputs (floating point, [batch, classes] with at
// least two classes) also how many rows pick the same class (argmax, first index on a tie).
import type { Datatype, NumericArray } from '../protocol/datatypes.ts';
import {
  DEFAULT_CODEC_LIMITS, TensorCodecError, decodeBinaryTensor, decodeJsonTensor, jsonElements, parseDatatype, parseShape,
} from '../protocol/tensor-codec.ts';
import { excerpt, quoteValue } from '../excerpt.ts';

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
/** Answers are decoded with the server's own limits on tensors (rank, elements, BYTES elements). */
const LIMITS = DEFAULT_CODEC_LIMITS;

type Decoding<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Elements of the binary extension as numbers: FP16 arrives as its raw bits, 64-bit integers as bigints. */
function binaryNumbers(datatype: Datatype, data: NumericArray): Float64Array {
  const typed = datatype === 'FP16' ? new Float16Array(data.buffer, data.byteOffset, data.length) : data;
  return Float64Array.from(typed as ArrayLike<number | bigint>, Number);
}

/**
 * JSON elements as numbers. The server writes NaN and infinities as null (JSON has neither), so null is
 * NaN; BOOL's true and false are 1 and 0. Anything else is not an answer of that datatype.
 */
function jsonNumbers(datatype: Datatype, values: unknown[]): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number') out[i] = v;
    else if (v === null) out[i] = NaN;
    else if (datatype === 'BOOL' && typeof v === 'boolean') out[i] = v ? 1 : 0;
    else throw new TensorCodecError(`element ${i} (${quoteValue(v)}) is not a number`);
  }
  return out;
}

/**
 * One output of an answer's header, decoded through the shared tensor codec (protocol/tensor-codec.ts):
 * the shape's element count within limits before any element is read, nested JSON walked without recursion,
 * binary lengths checked against the datatype, BYTES length prefixes against the data. A binary output's
 * bytes start at `offset.at` in the body, which moves past them.
 */
function decodeOutput(raw: Record<string, any>, body: Buffer, offset: { at: number }): Decoding<DecodedOutput> {
  const name: unknown = raw?.name;
  if (typeof name !== 'string') return { ok: false, reason: `an output with a bad name (${quoteValue(name)})` };
  try {
    const datatype = parseDatatype(raw.datatype);
    const shape = parseShape(raw.shape, LIMITS);
    const head = { datatype, shape };
    const size = raw.parameters?.binary_data_size;
    if (size !== undefined) {
      if (!Number.isSafeInteger(size) || size < 0 || offset.at + size > body.length) throw new TensorCodecError(`binary_data_size ${quoteValue(size)} exceeds the body`);
      const data = decodeBinaryTensor(head, body.subarray(offset.at, offset.at + size), LIMITS);
      offset.at += size;
      return { ok: true, value: datatype === 'BYTES' ? { name, datatype, shape, strings: data as string[] } : { name, datatype, shape, values: binaryNumbers(datatype, data as NumericArray) } };
    }
    if (datatype === 'BYTES') return { ok: true, value: { name, datatype, shape, strings: decodeJsonTensor(head, raw.data, LIMITS) as string[] } };
    return { ok: true, value: { name, datatype, shape, values: jsonNumbers(datatype, jsonElements(head, raw.data, LIMITS)) } };
  } catch (error) {
    if (error instanceof TensorCodecError) return { ok: false, reason: `output '${excerpt(name, 60)}': ${error.message}` };
    throw error;
  }
}

/**
 * An infer response body: JSON, or (binary tensor extension) a JSON header of `headerLength` bytes followed
 * by each binary output's `binary_data_size` bytes in output order. Whatever the body, the result is a
 * decoding or a reason, never a throw.
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

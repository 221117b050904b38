// Shadow comparison: decode the primary's and the shadow's answers to the same request and measure how far
// apart they are. Pure; a response that cannot be decoded or does not line up is a result, never a throw.
//
// Per output: the largest absolute difference and the largest relative difference
// |a - b| / max(|a|, |b|, 1e-12). For classifier-like outputs (floating point, [batch, classes] with at
// least two classes) also how many rows pick the same class (argmax, first index on a tie).
import { DATATYPES, isDatatype, type Datatype } from '../protocol/datatypes.ts';

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

export type Comparison =
  | { result: 'compared'; outputs: OutputComparison[]; maxAbsDiff: number; maxRelDiff: number; top1Rows: number; top1Agreements: number }
  | { result: 'mismatch'; reason: string };

const REL_FLOOR = 1e-12;
const FLOATING = new Set<Datatype>(['FP16', 'FP32', 'FP64']);

function flatten(data: unknown, out: unknown[]): unknown[] {
  if (Array.isArray(data)) for (const d of data) flatten(d, out);
  else out.push(data);
  return out;
}

function elementCount(shape: number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Raw little-endian elements (the byte order of every platform Node runs on) copied into numbers. */
function numbersFromBytes(datatype: Datatype, bytes: Uint8Array): Float64Array {
  // A copy of just the region (a Buffer's slice() would share its pool), whose offset inside the body need
  // not be aligned for the typed array.
  const buffer = new Uint8Array(bytes).buffer;
  const typed = datatype === 'FP16' ? new Float16Array(buffer) : new DATATYPES[datatype].array!(buffer);
  const out = new Float64Array(typed.length);
  for (let i = 0; i < typed.length; i++) out[i] = Number(typed[i]);
  return out;
}

function stringsFromBytes(bytes: Uint8Array): string[] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  for (let at = 0; at + 4 <= view.length;) {
    const length = view.readUInt32LE(at);
    out.push(view.toString('utf8', at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/**
 * An infer response body: JSON, or (binary tensor extension) a JSON header of `headerLength` bytes followed
 * by each binary output's `binary_data_size` bytes in output order.
 */
export function decodeInferResponse(body: Buffer, headerLength?: string): Decoded {
  const jsonLength = headerLength === undefined ? body.length : Number(headerLength);
  if (!Number.isInteger(jsonLength) || jsonLength < 0 || jsonLength > body.length) {
    return { ok: false, reason: `Inference-Header-Content-Length ${headerLength} does not fit a body of ${body.length} bytes` };
  }
  let header: { outputs?: unknown };
  try {
    header = JSON.parse(body.toString('utf8', 0, jsonLength));
  } catch (error) {
    return { ok: false, reason: `malformed JSON: ${(error as Error).message}` };
  }
  if (!header || !Array.isArray(header.outputs)) return { ok: false, reason: "no 'outputs' list" };
  const outputs: DecodedOutput[] = [];
  let offset = jsonLength;
  for (const raw of header.outputs as Array<Record<string, any>>) {
    const { name, datatype, shape } = raw ?? {};
    if (typeof name !== 'string' || !isDatatype(datatype) || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      return { ok: false, reason: `output ${JSON.stringify(name)}: missing or bad name, datatype or shape` };
    }
    const size = raw.parameters?.binary_data_size;
    let output: DecodedOutput;
    if (size !== undefined) {
      if (!Number.isInteger(size) || size < 0 || offset + size > body.length) return { ok: false, reason: `output '${name}': binary_data_size ${size} exceeds the body` };
      const bytes = body.subarray(offset, offset + size);
      offset += size;
      output = datatype === 'BYTES' ? { name, datatype, shape, strings: stringsFromBytes(bytes) } : { name, datatype, shape, values: numbersFromBytes(datatype, bytes) };
    } else {
      const data = flatten(raw.data, []);
      output = datatype === 'BYTES'
        ? { name, datatype, shape, strings: data.map(String) }
        : { name, datatype, shape, values: Float64Array.from(data, Number) }; // BOOL's true/false become 1/0
    }
    const length = output.values?.length ?? output.strings!.length;
    if (length !== elementCount(shape)) return { ok: false, reason: `output '${name}': ${length} elements for shape [${shape}]` };
    outputs.push(output);
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
  if (names(primary) !== names(shadow)) return { result: 'mismatch', reason: `outputs differ: [${names(primary)}] vs [${names(shadow)}]` };
  const byName = new Map(shadow.map((o) => [o.name, o]));
  const outputs: OutputComparison[] = [];
  for (const p of primary) {
    const s = byName.get(p.name)!;
    if (p.shape.join(',') !== s.shape.join(',')) return { result: 'mismatch', reason: `output '${p.name}': shape [${p.shape}] vs [${s.shape}]` };
    if ((p.datatype === 'BYTES') !== (s.datatype === 'BYTES')) return { result: 'mismatch', reason: `output '${p.name}': datatype ${p.datatype} vs ${s.datatype}` };
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

/** Decodes both bodies and compares them; an undecodable body is a mismatch, with the reason. */
export function compareResponses(
  primary: { body: Buffer; headerLength?: string },
  shadow: { body: Buffer; headerLength?: string },
): Comparison {
  const p = decodeInferResponse(primary.body, primary.headerLength);
  if (!p.ok) return { result: 'mismatch', reason: `primary response: ${p.reason}` };
  const s = decodeInferResponse(shadow.body, shadow.headerLength);
  if (!s.ok) return { result: 'mismatch', reason: `shadow response: ${s.reason}` };
  return compareDecoded(p.outputs, s.outputs);
}

// Decoding and validation of an Open Inference Protocol infer request, JSON or with the binary tensor
// data extension, against the model's signature. Everything a client can get wrong is caught here and
// answered with a 400 that names the input and the problem; nothing malformed reaches the batcher.
import {
  DATATYPES, elementCount, isDatatype, numbersToFp16Bits,
  type Datatype, type JsonElementRule, type NumericArray, type Tensor, type TensorData,
} from './datatypes.ts';
import { badRequest } from './errors.ts';
import type { ModelSignature, TensorSpec } from '../model/signature.ts';

export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface InferenceRequest {
  id?: string;
  parameters: Record<string, unknown>;
  /** In the model's input order. */
  inputs: Tensor[];
  outputs: RequestedOutput[];
  /** Rows along the batch dimension (1 for a model without one). */
  rows: number;
  /** Requested priority level; 0 or absent means the default level. */
  priority: number;
  /** Requested queue timeout in microseconds (Triton's `timeout` parameter); 0 or absent means the default. */
  timeoutUs: number;
  /** Key of the non-batch shapes: only requests with equal keys can share a batch. */
  batchKey: string;
}

export interface DecodeLimits {
  maxBatchSize: number;
}

/** Splits a body into the JSON header and the binary region of the binary tensor data extension. */
export function splitBody(body: Buffer, headerLengthValue: string | string[] | undefined): { header: Buffer; binary?: Buffer } {
  if (headerLengthValue === undefined) return { header: body };
  const raw = Array.isArray(headerLengthValue) ? headerLengthValue[0] : headerLengthValue;
  const length = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(length)) {
    throw badRequest(`header Inference-Header-Content-Length: '${raw}' is not a non-negative integer`);
  }
  if (length > body.length) {
    throw badRequest(`header Inference-Header-Content-Length: ${length} exceeds the body's ${body.length} bytes`);
  }
  return { header: body.subarray(0, length), binary: body.subarray(length) };
}

export function parseJsonHeader(header: Buffer): unknown {
  try {
    return JSON.parse(header.toString('utf8'));
  } catch (error) {
    throw badRequest(`malformed JSON in request body: ${(error as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function nonNegativeInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw badRequest(`${what} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function decodeInferRequest(
  body: unknown,
  binary: Buffer | undefined,
  signature: ModelSignature,
  limits: DecodeLimits,
): InferenceRequest {
  if (!isObject(body)) throw badRequest('request body must be a JSON object');
  const { id, parameters = {}, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string') throw badRequest(`'id' must be a string, got ${JSON.stringify(id)}`);
  if (!isObject(parameters)) throw badRequest(`'parameters' must be an object`);
  if (!Array.isArray(inputs)) throw badRequest(`'inputs' must be an array of tensors`);

  const priority = parameters.priority === undefined ? 0 : nonNegativeInteger(parameters.priority, "parameter 'priority'");
  const timeoutUs = parameters.timeout === undefined ? 0 : nonNegativeInteger(parameters.timeout, "parameter 'timeout'");
  const binaryOutputDefault = parameters.binary_data_output ?? false;
  if (typeof binaryOutputDefault !== 'boolean') throw badRequest(`parameter 'binary_data_output' must be a boolean`);

  const binaryReader = new BinaryReader(binary);
  const byName = new Map<string, Tensor>();
  for (const [index, raw] of inputs.entries()) {
    if (!isObject(raw) || typeof raw.name !== 'string') throw badRequest(`inputs[${index}] must be an object with a string 'name'`);
    const spec = signature.inputs.find((s) => s.name === raw.name);
    if (!spec) {
      throw badRequest(`unknown input '${raw.name}'; the model's inputs are ${signature.inputs.map((s) => `'${s.name}'`).join(', ')}`);
    }
    if (byName.has(spec.name)) throw badRequest(`input '${spec.name}' is given more than once`);
    byName.set(spec.name, decodeInput(raw, spec, binaryReader));
  }
  binaryReader.assertConsumed();

  const missing = signature.inputs.filter((s) => !byName.has(s.name));
  if (missing.length > 0) throw badRequest(`missing input ${missing.map((s) => `'${s.name}'`).join(', ')}`);
  const ordered = signature.inputs.map((s) => byName.get(s.name)!);

  const rows = signature.batchable ? checkBatchRows(ordered, limits.maxBatchSize) : 1;
  const batchKey = ordered.map((t) => (signature.batchable ? t.shape.slice(1) : t.shape).join('x')).join('|');

  return {
    id,
    parameters,
    inputs: ordered,
    outputs: decodeRequestedOutputs(outputs, signature, binaryOutputDefault),
    rows,
    priority,
    timeoutUs,
    batchKey,
  };
}

function checkBatchRows(inputs: Tensor[], maxBatchSize: number): number {
  const rows = inputs[0].shape[0];
  for (const t of inputs) {
    if (t.shape[0] !== rows) {
      throw badRequest(`input '${t.name}' has ${t.shape[0]} rows in the batch dimension but input '${inputs[0].name}' has ${rows}`);
    }
  }
  if (rows < 1) throw badRequest(`input '${inputs[0].name}': the batch dimension must be at least 1`);
  if (maxBatchSize > 0 && rows > maxBatchSize) {
    throw badRequest(`input '${inputs[0].name}': batch of ${rows} rows exceeds the model's max_batch_size of ${maxBatchSize}`);
  }
  return rows;
}

function decodeRequestedOutputs(outputs: unknown, signature: ModelSignature, binaryDefault: boolean): RequestedOutput[] {
  if (outputs === undefined) return signature.outputs.map((s) => ({ name: s.name, binary: binaryDefault }));
  if (!Array.isArray(outputs)) throw badRequest(`'outputs' must be an array`);
  const seen = new Set<string>();
  return outputs.map((raw, index) => {
    if (!isObject(raw) || typeof raw.name !== 'string') throw badRequest(`outputs[${index}] must be an object with a string 'name'`);
    if (!signature.outputs.some((s) => s.name === raw.name)) {
      throw badRequest(`unknown output '${raw.name}'; the model's outputs are ${signature.outputs.map((s) => `'${s.name}'`).join(', ')}`);
    }
    if (seen.has(raw.name)) throw badRequest(`output '${raw.name}' is requested more than once`);
    seen.add(raw.name);
    const params = raw.parameters ?? {};
    if (!isObject(params)) throw badRequest(`output '${raw.name}': 'parameters' must be an object`);
    const binary = params.binary_data ?? binaryDefault;
    if (typeof binary !== 'boolean') throw badRequest(`output '${raw.name}': parameter 'binary_data' must be a boolean`);
    return { name: raw.name, binary };
  });
}

function decodeInput(raw: Record<string, unknown>, spec: TensorSpec, binary: BinaryReader): Tensor {
  const name = spec.name;
  if (!isDatatype(raw.datatype)) throw badRequest(`input '${name}': unknown datatype ${JSON.stringify(raw.datatype)}`);
  if (raw.datatype !== spec.datatype) {
    throw badRequest(`input '${name}': datatype ${raw.datatype} does not match the model's ${spec.datatype}`);
  }
  const shape = decodeShape(raw.shape, spec);
  const count = elementCount(shape);
  const params = raw.parameters ?? {};
  if (!isObject(params)) throw badRequest(`input '${name}': 'parameters' must be an object`);

  let data: TensorData;
  if (params.binary_data_size !== undefined) {
    if (raw.data !== undefined) throw badRequest(`input '${name}': has both 'data' and binary_data_size`);
    const size = nonNegativeInteger(params.binary_data_size, `input '${name}': parameter 'binary_data_size'`);
    data = binary.read(name, spec.datatype, size, count);
  } else {
    if (raw.data === undefined) throw badRequest(`input '${name}': has neither 'data' nor parameter 'binary_data_size'`);
    data = decodeJsonData(name, spec.datatype, raw.data, count, shape);
  }
  return { name, datatype: spec.datatype, shape, data };
}

function decodeShape(value: unknown, spec: TensorSpec): number[] {
  const name = spec.name;
  if (!Array.isArray(value) || !value.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw badRequest(`input '${name}': 'shape' must be an array of non-negative integers, got ${JSON.stringify(value)}`);
  }
  const shape = value as number[];
  if (shape.length !== spec.shape.length) {
    throw badRequest(`input '${name}': shape [${shape}] has rank ${shape.length}, the model expects rank ${spec.shape.length} [${spec.shape}]`);
  }
  for (let i = 0; i < shape.length; i++) {
    if (spec.shape[i] !== -1 && spec.shape[i] !== shape[i]) {
      throw badRequest(`input '${name}': shape [${shape}] does not match the model's [${spec.shape}] at dimension ${i}`);
    }
  }
  return shape;
}

/** Flattens nested JSON arrays (row-major) after checking that their structure matches the shape. */
function flatten(name: string, data: unknown[], shape: number[]): unknown[] {
  if (data.length === 0 || !Array.isArray(data[0])) return data;
  const flat: unknown[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      flat.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw badRequest(`input '${name}': nested 'data' does not match shape [${shape}] at depth ${depth}`);
    }
    for (const child of node) walk(child, depth + 1);
  };
  walk(data, 0);
  return flat;
}

function decodeJsonData(name: string, datatype: Datatype, raw: unknown, count: number, shape: number[]): TensorData {
  if (!Array.isArray(raw)) throw badRequest(`input '${name}': 'data' must be an array`);
  const values = flatten(name, raw, shape);
  if (values.length !== count) {
    throw badRequest(`input '${name}': shape [${shape}] needs ${count} elements but 'data' has ${values.length}`);
  }
  const info = DATATYPES[datatype];
  if (!info.array || !info.json) {
    for (let i = 0; i < count; i++) {
      const value = values[i];
      if (typeof value !== 'string') throw badRequest(`input '${name}': BYTES element ${i} must be a string, got ${JSON.stringify(value)}`);
      if (value.includes('\0')) throw nulByte(name, i);
    }
    return values as string[];
  }
  if (datatype === 'FP16') {
    const halves = new Float16Array(count);
    fillChecked(name, datatype, values, info.json, halves as unknown as NumericArray);
    return numbersToFp16Bits(halves);
  }
  const out = new info.array(count);
  fillChecked(name, datatype, values, info.json, out);
  return out;
}

function fillChecked(name: string, datatype: Datatype, values: unknown[], rule: JsonElementRule, out: NumericArray): void {
  const fail = (i: number, why: string): never => {
    throw badRequest(`input '${name}': element ${i} (${JSON.stringify(values[i]) ?? String(values[i])}) ${why} for ${datatype}`);
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

/** Reads consecutive tensors from the binary region, checking every declared size against the shape. */
class BinaryReader {
  private offset = 0;
  private readonly binary: Buffer | undefined;
  constructor(binary: Buffer | undefined) {
    this.binary = binary;
  }

  read(name: string, datatype: Datatype, size: number, count: number): TensorData {
    const available = (this.binary?.length ?? 0) - this.offset;
    if (size > available) {
      throw badRequest(`input '${name}': binary_data_size ${size} exceeds the ${available} bytes of binary data left in the body`);
    }
    const bytes = this.binary!.subarray(this.offset, this.offset + size);
    this.offset += size;
    const info = DATATYPES[datatype];
    if (!info.array) return readBinaryStrings(name, bytes, count);
    const expected = count * info.byteSize;
    if (size !== expected) {
      throw badRequest(`input '${name}': binary_data_size ${size} does not match ${count} ${datatype} elements (${expected} bytes)`);
    }
    // Copy into a fresh, aligned buffer that this request owns (it may be transferred to a worker).
    const out = new info.array(count);
    new Uint8Array(out.buffer).set(bytes);
    if (info.json?.kind === 'float' && datatype !== 'FP16') checkFinite(name, out as Float32Array | Float64Array);
    return out;
  }

  assertConsumed(): void {
    const length = this.binary?.length ?? 0;
    if (this.offset !== length) {
      throw badRequest(`binary data has ${length} bytes but the inputs declare ${this.offset} (binary_data_size)`);
    }
  }
}

function checkFinite(name: string, values: Float32Array | Float64Array): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw badRequest(`input '${name}': element ${i} is ${values[i]}; the model takes finite numbers`);
  }
}

// ONNX string tensors hold UTF-8 text, and onnxruntime-node passes them as C strings: invalid UTF-8 would be
// silently replaced and a NUL byte would silently cut the element short. Refuse both instead.
const utf8 = new TextDecoder('utf-8', { fatal: true });

const nulByte = (name: string, index: number) =>
  badRequest(`input '${name}': BYTES element ${index} contains a NUL byte, which ONNX Runtime string tensors cannot carry`);

/** BYTES in the binary extension: each element is a 4-byte little-endian length followed by its bytes. */
function readBinaryStrings(name: string, bytes: Buffer, count: number): string[] {
  const out: string[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) throw badRequest(`input '${name}': truncated BYTES length prefix at byte ${offset}`);
    const length = bytes.readUInt32LE(offset);
    offset += 4;
    if (offset + length > bytes.length) throw badRequest(`input '${name}': BYTES element ${out.length} claims ${length} bytes, only ${bytes.length - offset} remain`);
    const element = bytes.subarray(offset, offset + length);
    if (element.includes(0)) throw nulByte(name, out.length);
    try {
      out.push(utf8.decode(element));
    } catch {
      throw badRequest(`input '${name}': BYTES element ${out.length} is not valid UTF-8, which ONNX string tensors require`);
    }
    offset += length;
  }
  if (out.length !== count) throw badRequest(`input '${name}': binary data holds ${out.length} BYTES elements, the shape needs ${count}`);
  return out;
}

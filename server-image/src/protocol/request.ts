// Decoding and validation of an Open Inference Protocol infer request, JSON or with the binary tensor
// data extension, against the model's signature. Everything a client can get wrong is caught here and
// answered with a 400 that names the input and the problem; nothing malformed reaches the batcher.
import type { Tensor } from './datatypes.ts';
import { InferenceError, badRequest } from './errors.ts';
import { EXCERPT_CHARS, quoteValue } from '../excerpt.ts';
import {
  TensorCodecError, checkedElementCount, decodeBinaryTensor, decodeJsonTensor, parseDatatype, parseShape,
  type CodecLimits, type DecodeRules, type TensorHead,
} from './tensor-codec.ts';
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
  tensors: CodecLimits;
  /** Most keys in any 'parameters' object (of the request, an input or an output). */
  maxParameters: number;
  /** Let NaN and infinities through in floating-point inputs (refused when absent). */
  allowNonFinite?: boolean;
}

/**
 * A whole infer request body, from bytes to a checked request. Whatever goes wrong on the way is the
 * client's bytes' doing, so it is a 400, never a 500: a failure the decoder did not foresee becomes one too.
 */
export function decodeInferBody(
  body: Buffer,
  headerLength: string | string[] | undefined,
  signature: ModelSignature,
  limits: DecodeLimits,
): InferenceRequest {
  try {
    const { header, binary } = splitBody(body, headerLength);
    return decodeInferRequest(parseJsonHeader(header), binary, signature, limits);
  } catch (error) {
    if (error instanceof InferenceError) throw error;
    throw badRequest(`request could not be decoded: ${quoteValue((error as Error).message ?? String(error))}`);
  }
}

/** Splits a body into the JSON header and the binary region of the binary tensor data extension. */
export function splitBody(body: Buffer, headerLengthValue: string | string[] | undefined): { header: Buffer; binary?: Buffer } {
  if (headerLengthValue === undefined) return { header: body };
  const raw = Array.isArray(headerLengthValue) ? headerLengthValue[0] : headerLengthValue;
  const length = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(length)) {
    throw badRequest(`header Inference-Header-Content-Length: ${quoted(raw)} is not a non-negative integer`);
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

/** A client-supplied name or header, quoted as the messages quote names, cut short when it is long. */
const quoted = (value: string) => (value.length <= EXCERPT_CHARS ? `'${value}'` : quoteValue(value));

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A 'parameters' object with at most `max` keys (counted without listing them: there may be a million). */
function checkParameters(value: unknown, what: string, max: number): asserts value is Record<string, unknown> {
  if (!isObject(value)) throw badRequest(`${what} must be an object`);
  let keys = 0;
  for (const key in value) {
    if (Object.hasOwn(value, key) && ++keys > max) throw badRequest(`${what} has more than the limit of ${max} keys`);
  }
}

function nonNegativeInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw badRequest(`${what} must be a non-negative integer, got ${quoteValue(value)}`);
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
  if (id !== undefined && typeof id !== 'string') throw badRequest(`'id' must be a string, got ${quoteValue(id)}`);
  checkParameters(parameters, "'parameters'", limits.maxParameters);
  if (!Array.isArray(inputs)) throw badRequest(`'inputs' must be an array of tensors`);

  const priority = parameters.priority === undefined ? 0 : nonNegativeInteger(parameters.priority, "parameter 'priority'");
  const timeoutUs = parameters.timeout === undefined ? 0 : nonNegativeInteger(parameters.timeout, "parameter 'timeout'");
  const binaryOutputDefault = parameters.binary_data_output ?? false;
  if (typeof binaryOutputDefault !== 'boolean') throw badRequest(`parameter 'binary_data_output' must be a boolean`);

  // Every input's head (datatype, shape, element count) and the batch are checked before any element is read.
  const heads = new Map<string, InputHead>();
  for (const [index, raw] of inputs.entries()) {
    if (!isObject(raw) || typeof raw.name !== 'string') throw badRequest(`inputs[${index}] must be an object with a string 'name'`);
    const spec = signature.inputs.find((s) => s.name === raw.name);
    if (!spec) {
      throw badRequest(`unknown input ${quoted(raw.name)}; the model's inputs are ${signature.inputs.map((s) => `'${s.name}'`).join(', ')}`);
    }
    if (heads.has(spec.name)) throw badRequest(`input '${spec.name}' is given more than once`);
    heads.set(spec.name, decodeInputHead(raw, spec, limits));
  }
  const missing = signature.inputs.filter((s) => !heads.has(s.name));
  if (missing.length > 0) throw badRequest(`missing input ${missing.map((s) => `'${s.name}'`).join(', ')}`);
  const orderedHeads = signature.inputs.map((s) => heads.get(s.name)!);
  const rows = signature.batchable ? checkBatchRows(orderedHeads, limits.maxBatchSize) : 1;

  // In the order the client wrote them, as that is the order of their binary regions.
  const binaryReader = new BinaryReader(binary);
  const byName = new Map<string, Tensor>();
  const rules = limits.allowNonFinite ? NON_FINITE_INPUT_RULES : INPUT_RULES;
  for (const head of heads.values()) byName.set(head.name, decodeInputData(head, binaryReader, limits.tensors, rules));
  binaryReader.assertConsumed();
  const ordered = signature.inputs.map((s) => byName.get(s.name)!);

  const batchKey = ordered.map((t) => (signature.batchable ? t.shape.slice(1) : t.shape).join('x')).join('|');

  return {
    id,
    parameters,
    inputs: ordered,
    outputs: decodeRequestedOutputs(outputs, signature, binaryOutputDefault, limits.maxParameters),
    rows,
    priority,
    timeoutUs,
    batchKey,
  };
}

function checkBatchRows(inputs: InputHead[], maxBatchSize: number): number {
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

function decodeRequestedOutputs(outputs: unknown, signature: ModelSignature, binaryDefault: boolean, maxParameters: number): RequestedOutput[] {
  if (outputs === undefined) return signature.outputs.map((s) => ({ name: s.name, binary: binaryDefault }));
  if (!Array.isArray(outputs)) throw badRequest(`'outputs' must be an array`);
  const seen = new Set<string>();
  return outputs.map((raw, index) => {
    if (!isObject(raw) || typeof raw.name !== 'string') throw badRequest(`outputs[${index}] must be an object with a string 'name'`);
    if (!signature.outputs.some((s) => s.name === raw.name)) {
      throw badRequest(`unknown output ${quoted(raw.name)}; the model's outputs are ${signature.outputs.map((s) => `'${s.name}'`).join(', ')}`);
    }
    if (seen.has(raw.name)) throw badRequest(`output '${raw.name}' is requested more than once`);
    seen.add(raw.name);
    const params = raw.parameters ?? {};
    checkParameters(params, `output '${raw.name}': 'parameters'`, maxParameters);
    const binary = params.binary_data ?? binaryDefault;
    if (typeof binary !== 'boolean') throw badRequest(`output '${raw.name}': parameter 'binary_data' must be a boolean`);
    return { name: raw.name, binary };
  });
}

/** A codec failure is the client's: a 400 naming the input. */
function asBadRequest<T>(name: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof TensorCodecError) throw badRequest(`input '${name}': ${error.message}`);
    throw error;
  }
}

/** An input's name, datatype, shape and where its data is, checked against the model before any element is read. */
interface InputHead extends TensorHead {
  name: string;
  raw: Record<string, unknown>;
  binarySize?: number;
}

function decodeInputHead(raw: Record<string, unknown>, spec: TensorSpec, limits: DecodeLimits): InputHead {
  const name = spec.name;
  const datatype = asBadRequest(name, () => parseDatatype(raw.datatype));
  if (datatype !== spec.datatype) {
    throw badRequest(`input '${name}': datatype ${datatype} does not match the model's ${spec.datatype}`);
  }
  const shape = asBadRequest(name, () => parseShape(raw.shape, limits.tensors));
  if (shape.length !== spec.shape.length) {
    throw badRequest(`input '${name}': shape [${shape}] has rank ${shape.length}, the model expects rank ${spec.shape.length} [${spec.shape}]`);
  }
  for (let i = 0; i < shape.length; i++) {
    if (spec.shape[i] !== -1 && spec.shape[i] !== shape[i]) {
      throw badRequest(`input '${name}': shape [${shape}] does not match the model's [${spec.shape}] at dimension ${i}`);
    }
  }
  const head: InputHead = { name, datatype, shape, raw };
  asBadRequest(name, () => checkedElementCount(head, limits.tensors));
  const params = raw.parameters ?? {};
  checkParameters(params, `input '${name}': 'parameters'`, limits.maxParameters);
  if (params.binary_data_size !== undefined) {
    if (raw.data !== undefined) throw badRequest(`input '${name}': has both 'data' and binary_data_size`);
    head.binarySize = nonNegativeInteger(params.binary_data_size, `input '${name}': parameter 'binary_data_size'`);
  } else if (raw.data === undefined) {
    throw badRequest(`input '${name}': has neither 'data' nor parameter 'binary_data_size'`);
  }
  return head;
}

const INPUT_RULES: DecodeRules = { finite: true, noNul: true };
/** With `allowNonFinite`. JSON numbers out of a datatype's range stay refused: they are typos, not NaN. */
const NON_FINITE_INPUT_RULES: DecodeRules = { finite: false, noNul: true };

function decodeInputData(head: InputHead, binary: BinaryReader, limits: CodecLimits, rules: DecodeRules): Tensor {
  const { name, datatype, shape } = head;
  const data = head.binarySize === undefined
    ? asBadRequest(name, () => decodeJsonTensor(head, head.raw.data, limits, rules))
    : asBadRequest(name, () => decodeBinaryTensor(head, binary.take(name, head.binarySize!), limits, rules));
  return { name, datatype, shape, data };
}

/** Hands out consecutive regions of the binary data, checking every declared size against what is left. */
class BinaryReader {
  private offset = 0;
  private readonly binary: Buffer | undefined;
  constructor(binary: Buffer | undefined) {
    this.binary = binary;
  }

  take(name: string, size: number): Buffer {
    const available = (this.binary?.length ?? 0) - this.offset;
    if (size > available) {
      throw badRequest(`input '${name}': binary_data_size ${size} exceeds the ${available} bytes of binary data left in the body`);
    }
    const bytes = this.binary!.subarray(this.offset, this.offset + size);
    this.offset += size;
    return bytes;
  }

  assertConsumed(): void {
    const length = this.binary?.length ?? 0;
    if (this.offset !== length) {
      throw badRequest(`binary data has ${length} bytes but the inputs declare ${this.offset} (binary_data_size)`);
    }
  }
}

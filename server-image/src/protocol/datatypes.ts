// The Open Inference Protocol's datatypes, mapped to ONNX Runtime's tensor types and the typed arrays that
// carry them. One table, so the decoder, the encoder, the batcher and the worker agree on every type.

export type Datatype =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64'
  | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'FP32' | 'FP64' | 'BYTES';

export type NumericArray =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array;

/** Tensor payload: a typed array for numbers and booleans (FP16 as its raw bits), strings for BYTES. */
export type TensorData = NumericArray | string[];

export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

type ArrayCtor = { new (length: number): NumericArray; new (buffer: ArrayBuffer): NumericArray };

export interface DatatypeInfo {
  /** Element type name in onnxruntime-node (`Tensor.type`). */
  ortType: string;
  /** Triton model-configuration name. */
  tritonType: string;
  /** Bytes per element in the binary tensor extension; 0 for BYTES (length-prefixed). */
  byteSize: number;
  /** Typed array holding the elements; undefined for BYTES. */
  array?: ArrayCtor;
  /** How a JSON element is checked and stored; undefined for BYTES. */
  json?: JsonElementRule;
}

export type JsonElementRule =
  | { kind: 'bool' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bigint'; min: bigint; max: bigint }
  | { kind: 'float'; max: number };

const FP16_MAX = 65504;
const FP32_MAX = 3.4028234663852886e38;

export const DATATYPES: Record<Datatype, DatatypeInfo> = {
  BOOL: { ortType: 'bool', tritonType: 'TYPE_BOOL', byteSize: 1, array: Uint8Array, json: { kind: 'bool' } },
  UINT8: { ortType: 'uint8', tritonType: 'TYPE_UINT8', byteSize: 1, array: Uint8Array, json: { kind: 'int', min: 0, max: 255 } },
  UINT16: { ortType: 'uint16', tritonType: 'TYPE_UINT16', byteSize: 2, array: Uint16Array, json: { kind: 'int', min: 0, max: 65535 } },
  UINT32: { ortType: 'uint32', tritonType: 'TYPE_UINT32', byteSize: 4, array: Uint32Array, json: { kind: 'int', min: 0, max: 4294967295 } },
  UINT64: { ortType: 'uint64', tritonType: 'TYPE_UINT64', byteSize: 8, array: BigUint64Array, json: { kind: 'bigint', min: 0n, max: 18446744073709551615n } },
  INT8: { ortType: 'int8', tritonType: 'TYPE_INT8', byteSize: 1, array: Int8Array, json: { kind: 'int', min: -128, max: 127 } },
  INT16: { ortType: 'int16', tritonType: 'TYPE_INT16', byteSize: 2, array: Int16Array, json: { kind: 'int', min: -32768, max: 32767 } },
  INT32: { ortType: 'int32', tritonType: 'TYPE_INT32', byteSize: 4, array: Int32Array, json: { kind: 'int', min: -2147483648, max: 2147483647 } },
  INT64: { ortType: 'int64', tritonType: 'TYPE_INT64', byteSize: 8, array: BigInt64Array, json: { kind: 'bigint', min: -9223372036854775808n, max: 9223372036854775807n } },
  FP16: { ortType: 'float16', tritonType: 'TYPE_FP16', byteSize: 2, array: Uint16Array, json: { kind: 'float', max: FP16_MAX } },
  FP32: { ortType: 'float32', tritonType: 'TYPE_FP32', byteSize: 4, array: Float32Array, json: { kind: 'float', max: FP32_MAX } },
  FP64: { ortType: 'float64', tritonType: 'TYPE_FP64', byteSize: 8, array: Float64Array, json: { kind: 'float', max: Number.MAX_VALUE } },
  BYTES: { ortType: 'string', tritonType: 'TYPE_STRING', byteSize: 0 },
};

const BY_ORT_TYPE = new Map(Object.entries(DATATYPES).map(([name, info]) => [info.ortType, name as Datatype]));

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && Object.hasOwn(DATATYPES, value);
}

/** The protocol datatype for an onnxruntime-node element type, or undefined when the protocol has none. */
export function datatypeFromOrt(ortType: string): Datatype | undefined {
  return BY_ORT_TYPE.get(ortType);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A zeroed tensor payload of the given type and length (BYTES: empty strings). */
export function allocate(datatype: Datatype, length: number): TensorData {
  const ctor = DATATYPES[datatype].array;
  return ctor ? new ctor(length) : new Array<string>(length).fill('');
}

// FP16 travels as raw bits; JSON speaks in numbers. Float16Array (Node 24) does the rounding both ways.
export function fp16BitsToNumbers(bits: Uint16Array): Float16Array {
  return new Float16Array(bits.buffer, bits.byteOffset, bits.length);
}

export function numbersToFp16Bits(values: Float16Array): Uint16Array {
  return new Uint16Array(values.buffer, values.byteOffset, values.length);
}

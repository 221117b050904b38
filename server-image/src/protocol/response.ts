// Encoding of an infer response: JSON, or JSON header plus binary region when any requested output asks
// for binary data (the binary tensor data extension that tritonclient uses by default).
import { fp16BitsToNumbers, type Tensor, type TensorData } from './datatypes.ts';
import type { RequestedOutput } from './request.ts';

export interface EncodedResponse {
  body: Buffer;
  headers: Record<string, string>;
}

export interface ResponseContext {
  modelName: string;
  modelVersion: string;
  id?: string;
  requested: RequestedOutput[];
}

function jsonData(tensor: Tensor): unknown[] {
  const { data, datatype } = tensor;
  if (Array.isArray(data)) return data;
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (datatype === 'FP16') return Array.from(fp16BitsToNumbers(data as Uint16Array));
  if (datatype === 'INT64' || datatype === 'UINT64') return Array.from(data as BigInt64Array, Number);
  return Array.from(data as Float32Array);
}

function binaryData(data: TensorData): Buffer {
  if (!Array.isArray(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const parts: Buffer[] = [];
  for (const s of data) {
    const bytes = Buffer.from(s, 'utf8');
    const prefix = Buffer.allocUnsafe(4);
    prefix.writeUInt32LE(bytes.length, 0);
    parts.push(prefix, bytes);
  }
  return Buffer.concat(parts);
}

export function encodeInferResponse(ctx: ResponseContext, outputs: Map<string, Tensor>): EncodedResponse {
  const binaryParts: Buffer[] = [];
  const encoded = ctx.requested.map(({ name, binary }) => {
    const tensor = outputs.get(name)!;
    const head = { name, datatype: tensor.datatype, shape: tensor.shape };
    if (!binary) return { ...head, data: jsonData(tensor) };
    const bytes = binaryData(tensor.data);
    binaryParts.push(bytes);
    return { ...head, parameters: { binary_data_size: bytes.length } };
  });
  const header = {
    model_name: ctx.modelName,
    model_version: ctx.modelVersion,
    ...(ctx.id !== undefined ? { id: ctx.id } : {}),
    outputs: encoded,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (binaryParts.length === 0) {
    return { body: json, headers: { 'content-type': 'application/json' } };
  }
  return {
    body: Buffer.concat([json, ...binaryParts]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(json.length),
    },
  };
}

// A client's side of the binary tensor data extension, written from the protocol description (not from the
// server's code), so the tests check the server against the format rather than against itself.
type Typed = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

export interface BinaryInput {
  name: string;
  datatype: string;
  shape: number[];
  /** Raw elements, or strings for BYTES. */
  data: Typed | string[];
}

function bytesOf(data: Typed | string[]): Buffer {
  if (!Array.isArray(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat(data.flatMap((s) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return [len, b];
  }));
}

export function encodeBinaryRequest(request: {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: BinaryInput[];
  outputs?: Array<{ name: string; binary: boolean }>;
}): { body: Buffer; headers: Record<string, string> } {
  const blobs = request.inputs.map((i) => bytesOf(i.data));
  const header = {
    ...(request.id ? { id: request.id } : {}),
    ...(request.parameters ? { parameters: request.parameters } : {}),
    inputs: request.inputs.map((i, n) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: { binary_data_size: blobs[n].length } })),
    ...(request.outputs ? { outputs: request.outputs.map((o) => ({ name: o.name, parameters: { binary_data: o.binary } })) } : {}),
  };
  const json = Buffer.from(JSON.stringify(header));
  return {
    body: Buffer.concat([json, ...blobs]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
  };
}

export interface DecodedOutput {
  name: string;
  datatype: string;
  shape: number[];
  parameters: Record<string, any>;
  data?: unknown[];
  bytes: Buffer;
}

export function decodeBinaryResponse(body: Buffer, headerLength: string | null): { header: any; outputs: DecodedOutput[] } {
  const length = headerLength === null ? body.length : Number(headerLength);
  const header = JSON.parse(body.subarray(0, length).toString('utf8'));
  let offset = length;
  const outputs = header.outputs.map((o: any) => {
    const size = o.parameters?.binary_data_size;
    const bytes = size === undefined ? Buffer.alloc(0) : body.subarray(offset, offset + size);
    if (size !== undefined) offset += size;
    return { parameters: {}, ...o, bytes };
  });
  if (offset !== body.length) throw new Error(`binary response has ${body.length - offset} unexplained bytes`);
  return { header, outputs };
}

/** Decodes length-prefixed BYTES elements. */
export function decodeBinaryStrings(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const len = bytes.readUInt32LE(offset);
    out.push(bytes.toString('utf8', offset + 4, offset + 4 + len));
    offset += 4 + len;
  }
  return out;
}

/** Copies raw little-endian bytes into a fresh typed array of the given kind. */
export function typedFrom<T>(ctor: { new (buffer: ArrayBuffer): T }, bytes: Buffer): T {
  return new ctor(Uint8Array.from(bytes).buffer);
}

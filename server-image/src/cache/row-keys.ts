// The cache key of each row of a request. Pure.
//
// A key is the SHA-256 of what decides a row's answer: the model (name, version and the model file's
// SHA-256, so another version or a retrained file never gets this one's answers), the requested outputs, and
// the row's input bytes after decoding: every input's name, datatype, row shape and elements. Decoded
// elements are canonical whatever the client wrote: JSON `1`, `1.0` and `1e0`, nested or flat `data`, and
// the same values sent as binary tensors all give the same bytes, and so the same key.
//
// Request parameters are left out: `priority`, `timeout` and `binary_data_output` change when and how an
// answer is sent, not what it is, and the server passes no parameter to the model. A parameter that came
// to change answers would have to join the key here.
import { hash } from 'node:crypto';
import { DATATYPES, elementCount, type Tensor } from '../protocol/datatypes.ts';
import type { InferenceRequest } from '../protocol/request.ts';
import { encodeBinaryStrings } from '../protocol/tensor-codec.ts';

/** Which model's answers these are. */
export interface CacheIdentity {
  name: string;
  version: string;
  /** SHA-256 of the model file, hex. */
  sha256: string;
}

/** Bumped when the key or the stored answer changes shape, so old entries are never read as new ones. */
export const CACHE_FORMAT = 1;

export interface RowKeys {
  /** The store key of each row, in row order. */
  keys: string[];
  /** Each key's digest, which its stored answer's check covers, so that an answer is only ever read for its key. */
  digests: Buffer[];
}

/** The requested output names, sorted: the order a client lists them in does not change the answers. */
export function cachedOutputNames(request: InferenceRequest): string[] {
  return request.outputs.map((o) => o.name).sort();
}

/**
 * The keys of a request's rows: each row of a batched request is its own entry, so that a row seen before
 * is answered whatever rows it came with. A model without a batch dimension has one row, the whole request.
 */
export function rowKeys(identity: CacheIdentity, request: InferenceRequest, batchable: boolean): RowKeys {
  const rows = batchable ? request.rows : 1;
  // What every row of the request shares, hashed with each row. (One-shot hash() over one buffer costs a third
  // of createHash().update()...; the shared part is a few hundred bytes, cheaper to hash again than to hash twice.)
  const common = Buffer.from(JSON.stringify({
    format: CACHE_FORMAT,
    model: [identity.name, identity.version, identity.sha256],
    outputs: cachedOutputNames(request),
    inputs: request.inputs.map((t) => [t.name, t.datatype, batchable ? t.shape.slice(1) : t.shape]),
  }));
  const prefix = `modelship:${identity.name}:${identity.version}:`;
  const keys = new Array<string>(rows);
  const digests = new Array<Buffer>(rows);
  for (let row = 0; row < rows; row++) {
    const parts = [common];
    for (const tensor of request.inputs) rowBytes(parts, tensor, row, rows);
    const digest = hash('sha256', Buffer.concat(parts), 'buffer');
    digests[row] = digest;
    keys[row] = prefix + digest.toString('base64url');
  }
  return { keys, digests };
}

/** Appends one row of a tensor to `parts`: its bytes as a binary tensor would carry them. */
function rowBytes(parts: Buffer[], tensor: Tensor, row: number, rows: number): void {
  const perRow = elementCount(tensor.shape) / rows;
  const { data } = tensor;
  if (Array.isArray(data)) {
    // BYTES: each string length-prefixed, so ['ab', 'c'] and ['a', 'bc'] differ.
    parts.push(encodeBinaryStrings(data.slice(row * perRow, (row + 1) * perRow)));
    return;
  }
  const size = DATATYPES[tensor.datatype].byteSize;
  parts.push(Buffer.from(data.buffer, data.byteOffset + row * perRow * size, perRow * size));
}

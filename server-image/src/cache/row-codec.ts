// One row's answer as stored bytes, and back. Pure. What comes back from a store is decoded as hostile: a
// value that is truncated, garbled, of another format or written for another key decodes to undefined (a
// miss), never to a wrong answer. A SHA-256 over the key's digest and the payload catches all of these,
// even a changed byte inside the numbers; the payload is still parsed with every length checked.
//
// Layout: 'MSC' + CACHE_FORMAT (4 bytes), SHA-256(key digest + payload) (32), then the payload: the output
// count (u16), then per output
// its name (u16 length + UTF-8), datatype (u8, index in DATATYPE_CODES), rank (u8), dims (u32 each), data
// length (u32) and data as the binary tensor extension carries it (little-endian elements; BYTES
// length-prefixed). Little-endian throughout.
import { hash } from 'node:crypto';
import { DATATYPES, type Datatype, type Tensor, type TensorData } from '../protocol/datatypes.ts';
import { decodeBinaryTensor, encodeBinaryStrings, type CodecLimits } from '../protocol/tensor-codec.ts';
import { CACHE_FORMAT } from './row-keys.ts';

const MAGIC = Buffer.from([0x4d, 0x53, 0x43, CACHE_FORMAT]);
const CHECK_BYTES = 32;
const DATATYPE_CODES = Object.keys(DATATYPES) as Datatype[];
const MAX_RANK = 32;

function dataBytes(data: TensorData): Buffer {
  return Array.isArray(data) ? encodeBinaryStrings(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The stored form of one row's outputs (in the order given, which is cachedOutputNames'). In a buffer of its
 * own, not a slice of Node's shared pool: an in-process store keeps it, and a pooled slice would keep its
 * whole 8 KiB slab alive.
 */
export function encodeRow(digest: Buffer, outputs: readonly Tensor[]): Buffer {
  const names = outputs.map((t) => Buffer.from(t.name, 'utf8'));
  const datas = outputs.map((t) => dataBytes(t.data));
  const header = MAGIC.length + CHECK_BYTES;
  let size = header + 2;
  outputs.forEach((t, i) => (size += 2 + names[i].length + 2 + 4 * t.shape.length + 4 + datas[i].length));
  const out = Buffer.allocUnsafeSlow(size);
  MAGIC.copy(out, 0);
  let at = out.writeUInt16LE(outputs.length, header);
  outputs.forEach((t, i) => {
    at = out.writeUInt16LE(names[i].length, at);
    at += names[i].copy(out, at);
    at = out.writeUInt8(DATATYPE_CODES.indexOf(t.datatype), at);
    at = out.writeUInt8(t.shape.length, at);
    for (const d of t.shape) at = out.writeUInt32LE(d, at);
    at = out.writeUInt32LE(datas[i].length, at);
    at += datas[i].copy(out, at);
  });
  checkOf(digest, out.subarray(header)).copy(out, MAGIC.length);
  return out;
}

/** What binds a payload to its key: SHA-256 over the key's digest and the payload. */
function checkOf(digest: Buffer, payload: Buffer): Buffer {
  return hash('sha256', Buffer.concat([digest, payload]), 'buffer');
}

/** What a row's stored answer must be: for its key, these outputs of these datatypes, one row of each. */
export interface RowExpectation {
  digest: Buffer;
  outputs: ReadonlyArray<{ name: string; datatype: Datatype }>;
  /** The model has a batch dimension: every output's first dimension is 1. */
  batchable: boolean;
}

class Garbled extends Error {}

/** A bounds-checked reader: any read past the end throws Garbled. */
class Reader {
  private at = 0;
  private readonly bytes: Buffer;
  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }
  take(length: number): Buffer {
    if (length > this.bytes.length - this.at) throw new Garbled();
    const slice = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return slice;
  }
  u8(): number {
    return this.take(1)[0];
  }
  u16(): number {
    return this.take(2).readUInt16LE(0);
  }
  u32(): number {
    return this.take(4).readUInt32LE(0);
  }
  get done(): boolean {
    return this.at === this.bytes.length;
  }
}

/** One row's outputs from a stored value, or undefined when the value is not a valid answer for this key. */
export function decodeRow(value: Buffer, expected: RowExpectation): Tensor[] | undefined {
  // No element count can exceed the value's own bytes (a BYTES element takes at least its 4-byte prefix).
  const limits: CodecLimits = { maxElements: value.length, maxBytesElements: Math.floor(value.length / 4), maxRank: MAX_RANK };
  try {
    const reader = new Reader(value);
    if (!reader.take(MAGIC.length).equals(MAGIC)) return undefined;
    if (!reader.take(CHECK_BYTES).equals(checkOf(expected.digest, value.subarray(MAGIC.length + CHECK_BYTES)))) return undefined;
    if (reader.u16() !== expected.outputs.length) return undefined;
    const tensors: Tensor[] = [];
    for (const spec of expected.outputs) {
      const name = reader.take(reader.u16()).toString('utf8');
      const datatype = DATATYPE_CODES[reader.u8()];
      if (name !== spec.name || datatype !== spec.datatype) return undefined;
      const rank = reader.u8();
      if (rank > MAX_RANK || (expected.batchable && rank === 0)) return undefined;
      const shape = Array.from({ length: rank }, () => reader.u32());
      if (expected.batchable && shape[0] !== 1) return undefined;
      const data = decodeBinaryTensor({ datatype, shape }, reader.take(reader.u32()), limits);
      tensors.push({ name, datatype, shape, data });
    }
    return reader.done ? tensors : undefined;
  } catch {
    // Garbled lengths, counts that do not match the data, invalid UTF-8: all a miss.
    return undefined;
  }
}

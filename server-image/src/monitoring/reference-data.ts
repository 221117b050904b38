// Reference data as data scientists have it, turned into batched tensors of the model's inputs: JSON lines
// (one row per line: an object of input name -> the row's values, nested or flat, or for a model with one
// input a bare array; null is a missing value) and NumPy's .npy (one array [rows, ...] for a model with one
// input). Pure: the bytes come from profile-command.ts. Every refusal says where (line, input, field).
import { DATATYPES, allocate, numbersToFp16Bits, type NumericArray, type Tensor } from '../protocol/datatypes.ts';
import { rowElements, BaselineError } from './baseline.ts';
import type { ModelSignature, TensorSpec } from '../model/signature.ts';

/** The model's inputs as batched tensors of `rows` rows. */
export type ReferenceTensors = Tensor[];

function rowWidth(spec: TensorSpec, signature: ModelSignature): number {
  if (!signature.batchable) throw new BaselineError(`the model has no batch dimension on every input and output; profiling needs one`);
  if (spec.datatype === 'BYTES') throw new BaselineError(`input '${spec.name}' is BYTES; profiling reads numeric inputs only`);
  const width = rowElements(spec.shape, true);
  if (width === undefined) throw new BaselineError(`input '${spec.name}' has a dynamic dimension besides the batch [${spec.shape}]; profiling needs fixed rows`);
  return width;
}

/** Writes plain numbers into the model's datatype (NaN stays NaN where the type can hold it). */
function typed(spec: TensorSpec, values: Float64Array, where: () => string): NumericArray {
  const info = DATATYPES[spec.datatype];
  if (spec.datatype === 'FP16') return numbersToFp16Bits(Float16Array.from(values));
  const out = allocate(spec.datatype, values.length) as NumericArray;
  const float = info.json?.kind === 'float';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!float && !Number.isFinite(v)) throw new BaselineError(`${where()}: element ${i} is missing or not finite, which ${spec.datatype} cannot hold`);
    if (out instanceof BigInt64Array || out instanceof BigUint64Array) out[i] = BigInt(Math.trunc(v));
    else out[i] = v;
  }
  return out;
}

function flatten(value: unknown, into: number[], where: () => string, depth = 0): void {
  if (depth > 32) throw new BaselineError(`${where()}: nested more than 32 deep`);
  if (Array.isArray(value)) {
    for (const v of value) flatten(v, into, where, depth + 1);
  } else if (value === null) {
    into.push(NaN);
  } else if (typeof value === 'number') {
    into.push(value);
  } else if (typeof value === 'boolean') {
    into.push(value ? 1 : 0);
  } else {
    throw new BaselineError(`${where()}: ${JSON.stringify(value)?.slice(0, 40)} is not a number`);
  }
}

/** Rows of JSON lines, taken one line at a time (so a file can be streamed), then made into tensors. */
export class JsonLinesRows {
  private readonly signature: ModelSignature;
  private readonly widths: number[];
  private readonly columns: number[][];
  rows = 0;

  constructor(signature: ModelSignature) {
    this.signature = signature;
    this.widths = signature.inputs.map((spec) => rowWidth(spec, signature));
    this.columns = signature.inputs.map(() => []);
  }

  /** Takes line `lineNumber` (1-based); blank lines are skipped. */
  add(line: string, lineNumber: number): void {
    if (line.trim() === '') return;
    const { signature } = this;
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch (error) {
      throw new BaselineError(`line ${lineNumber}: not JSON: ${(error as Error).message}`);
    }
    const bare = Array.isArray(doc);
    if (bare && signature.inputs.length !== 1) throw new BaselineError(`line ${lineNumber}: a bare array, but the model has ${signature.inputs.length} inputs; write an object of input name -> values`);
    if (!bare && (typeof doc !== 'object' || doc === null)) throw new BaselineError(`line ${lineNumber}: must be an object of input name -> values, or an array`);
    signature.inputs.forEach((spec, k) => {
      const where = () => `line ${lineNumber}: input '${spec.name}'`;
      const value = bare ? doc : (doc as Record<string, unknown>)[spec.name];
      if (value === undefined) throw new BaselineError(`${where()}: missing`);
      const before = this.columns[k].length;
      flatten(value, this.columns[k], where);
      const got = this.columns[k].length - before;
      if (got !== this.widths[k]) throw new BaselineError(`${where()}: ${got} values, the model's row has ${this.widths[k]}`);
    });
    this.rows++;
  }

  tensors(): ReferenceTensors {
    return this.signature.inputs.map((spec, k) => ({
      name: spec.name,
      datatype: spec.datatype,
      shape: [this.rows, ...spec.shape.slice(1)],
      data: typed(spec, Float64Array.from(this.columns[k]), () => `input '${spec.name}'`),
    }));
  }
}

/** Reads at most `maxRows` rows of JSON lines held in a string (blank lines skipped). */
export function tensorsFromJsonLines(text: string, signature: ModelSignature, maxRows: number): ReferenceTensors {
  const rows = new JsonLinesRows(signature);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && rows.rows < maxRows; i++) rows.add(lines[i], i + 1);
  return rows.tensors();
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

type NpyReader = (view: DataView, offset: number) => number;

/** NumPy dtype strings this reader takes: little-endian (or single-byte) numbers and booleans. */
const NPY_TYPES: Record<string, { size: number; read: NpyReader }> = {
  '<f2': { size: 2, read: (v, o) => v.getFloat16(o, true) },
  '<f4': { size: 4, read: (v, o) => v.getFloat32(o, true) },
  '<f8': { size: 8, read: (v, o) => v.getFloat64(o, true) },
  '|i1': { size: 1, read: (v, o) => v.getInt8(o) },
  '|u1': { size: 1, read: (v, o) => v.getUint8(o) },
  '|b1': { size: 1, read: (v, o) => v.getUint8(o) },
  '<i2': { size: 2, read: (v, o) => v.getInt16(o, true) },
  '<u2': { size: 2, read: (v, o) => v.getUint16(o, true) },
  '<i4': { size: 4, read: (v, o) => v.getInt32(o, true) },
  '<u4': { size: 4, read: (v, o) => v.getUint32(o, true) },
  '<i8': { size: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  '<u8': { size: 8, read: (v, o) => Number(v.getBigUint64(o, true)) },
};

/** Parses the header of a .npy file (format versions 1 to 3): dtype, shape and where the data starts. */
export function npyHeader(bytes: Buffer): { descr: string; shape: number[]; dataOffset: number } {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(NPY_MAGIC)) throw new BaselineError('not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) throw new BaselineError(`.npy format version ${major} is not one this reader knows (1 to 3)`);
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLength > bytes.length) throw new BaselineError('.npy header runs past the end of the file');
  const header = bytes.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLength);
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new BaselineError(`.npy header is not a dictionary of descr, fortran_order and shape: ${header.trim().slice(0, 120)}`);
  if (fortran === 'True') throw new BaselineError('.npy array is in Fortran order; save it C-ordered (numpy.ascontiguousarray)');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new BaselineError(`.npy shape (${shapeText}) is not a list of sizes`);
  return { descr, shape, dataOffset: start + headerLength };
}

/** The bytes of a .npy file's header, at most: format 1.0 allows 64 KiB, and ours checks 2.0/3.0 against it. */
export const NPY_MAX_HEADER_BYTES = 65536 + 12;

export interface NpyLayout {
  /** Bytes per element. */
  size: number;
  /** Rows to read (at most maxRows) and elements per row. */
  rows: number;
  width: number;
  dataOffset: number;
  read: NpyReader;
}

/** Where the rows are in a .npy file for a model with one input, from its header; refuses what does not fit. */
export function npyLayout(header: Buffer, signature: ModelSignature, maxRows: number): NpyLayout {
  if (signature.inputs.length !== 1) throw new BaselineError(`a .npy file holds one array, but the model has ${signature.inputs.length} inputs; use JSON lines`);
  const spec = signature.inputs[0];
  const width = rowWidth(spec, signature);
  const { descr, shape, dataOffset } = npyHeader(header);
  const type = NPY_TYPES[descr];
  if (!type) throw new BaselineError(`.npy dtype '${descr}' is not one this reader takes (${Object.keys(NPY_TYPES).join(', ')})`);
  if (shape.length < 1) throw new BaselineError('.npy array is a scalar; it needs a first dimension of rows');
  const fileWidth = shape.slice(1).reduce((a, b) => a * b, 1);
  if (fileWidth !== width) throw new BaselineError(`.npy rows have shape (${shape.slice(1)}), ${fileWidth} elements; the model's input '${spec.name}' row has ${width}`);
  return { size: type.size, rows: Math.min(shape[0], maxRows), width, dataOffset, read: type.read };
}

/** The model's input from the `layout.rows` rows of a .npy file's data (`data` starts at the first row). */
export function tensorsFromNpy(data: Buffer, layout: NpyLayout, signature: ModelSignature): ReferenceTensors {
  const spec = signature.inputs[0];
  const count = layout.rows * layout.width;
  if (data.length < count * layout.size) throw new BaselineError(`.npy data is shorter than its shape says (${data.length} bytes for ${layout.rows} rows of ${layout.width})`);
  const view = new DataView(data.buffer, data.byteOffset, count * layout.size);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = layout.read(view, i * layout.size);
  return [{ name: spec.name, datatype: spec.datatype, shape: [layout.rows, ...spec.shape.slice(1)], data: typed(spec, values, () => `input '${spec.name}'`) }];
}

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

/** Reads at most `maxRows` rows of JSON lines (blank lines skipped). */
export function tensorsFromJsonLines(text: string, signature: ModelSignature, maxRows: number): ReferenceTensors {
  const widths = signature.inputs.map((spec) => rowWidth(spec, signature));
  const columns = signature.inputs.map(() => [] as number[]);
  let rows = 0;
  let lineNumber = 0;
  for (const line of text.split('\n')) {
    lineNumber++;
    if (line.trim() === '') continue;
    if (rows >= maxRows) break;
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
      const before = columns[k].length;
      flatten(value, columns[k], where);
      const got = columns[k].length - before;
      if (got !== widths[k]) throw new BaselineError(`${where()}: ${got} values, the model's row has ${widths[k]}`);
    });
    rows++;
  }
  return signature.inputs.map((spec, k) => ({
    name: spec.name,
    datatype: spec.datatype,
    shape: [rows, ...spec.shape.slice(1)],
    data: typed(spec, Float64Array.from(columns[k]), () => `input '${spec.name}'`),
  }));
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

/** Reads at most `maxRows` rows of a .npy array [rows, ...] for a model with one input. */
export function tensorsFromNpy(bytes: Buffer, signature: ModelSignature, maxRows: number): ReferenceTensors {
  if (signature.inputs.length !== 1) throw new BaselineError(`a .npy file holds one array, but the model has ${signature.inputs.length} inputs; use JSON lines`);
  const spec = signature.inputs[0];
  const width = rowWidth(spec, signature);
  const { descr, shape, dataOffset } = npyHeader(bytes);
  const type = NPY_TYPES[descr];
  if (!type) throw new BaselineError(`.npy dtype '${descr}' is not one this reader takes (${Object.keys(NPY_TYPES).join(', ')})`);
  if (shape.length < 1) throw new BaselineError('.npy array is a scalar; it needs a first dimension of rows');
  const fileWidth = shape.slice(1).reduce((a, b) => a * b, 1);
  if (fileWidth !== width) throw new BaselineError(`.npy rows have shape (${shape.slice(1)}), ${fileWidth} elements; the model's input '${spec.name}' row has ${width}`);
  const rows = Math.min(shape[0], maxRows);
  const count = rows * width;
  if (dataOffset + shape[0] * width * type.size > bytes.length) throw new BaselineError(`.npy data is shorter than its shape (${shape}) says`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataOffset, count * type.size);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = type.read(view, i * type.size);
  return [{ name: spec.name, datatype: spec.datatype, shape: [rows, ...spec.shape.slice(1)], data: typed(spec, values, () => `input '${spec.name}'`) }];
}

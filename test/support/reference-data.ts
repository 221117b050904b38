// Reference data files for the profile command, as data scientists have them: JSON lines and NumPy .npy
// (version 1.0, little-endian float32, C order), written from plain rows.
import { writeFileSync } from 'node:fs';

export function writeJsonLines(path: string, inputName: string, rows: number[][]): string {
  writeFileSync(path, `${rows.map((row) => JSON.stringify({ [inputName]: row })).join('\n')}\n`);
  return path;
}

export function writeNpyFloat32(path: string, rows: number[][]): string {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows.length}, ${rows[0].length}), }`;
  // The header is padded with spaces and ends with a newline so that the data starts at a multiple of 64.
  const headerLength = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const header = Buffer.alloc(10 + headerLength, 0x20);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(header);
  header.writeUInt16LE(headerLength, 8);
  header.write(dict, 10, 'latin1');
  header[header.length - 1] = 0x0a;
  const data = Float32Array.from(rows.flat());
  writeFileSync(path, Buffer.concat([header, Buffer.from(data.buffer)]));
  return path;
}

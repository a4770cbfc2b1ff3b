/**
 * Reads and writes NumPy `.npy` files holding float32 arrays. The default backbone's weights are shipped as one
 * `.npy` per tensor, and the PyTorch cross-check exchanges tensors in this format, so only the subset numpy
 * writes for `np.save(float32_array)` is accepted: little-endian float32, C order, format versions 1.0–3.0.
 */
import { readFile } from 'node:fs/promises';
import { NpadInputError } from '../errors.js';

/** A float32 array read from a `.npy` file. */
export interface NpyArray {
  /** Dimensions, outermost first (C order); `[]` for a scalar. */
  shape: number[];
  /** The values in C (row-major) order. */
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
/** Descriptors numpy writes for little-endian float32 ('=' and '|' only on little-endian hosts, as here). */
const FLOAT32_DESCRS = new Set(['<f4', '=f4', 'float32']);

/** Reads a float32 `.npy` file; anything else is rejected with an error naming the file and the problem. */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new NpadInputError(`${path}: cannot read .npy file (${(e as Error).message})`, path);
  }
  return parseNpy(bytes, path);
}

/** Parses `.npy` bytes (see {@link readNpy}); `source` names the file in error messages. */
export function parseNpy(bytes: Uint8Array, source = '<npy bytes>'): NpyArray {
  const fail = (problem: string): never => {
    throw new NpadInputError(`${source}: ${problem}`, source);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy file (missing \\x93NUMPY magic)');
  const major = bytes[6] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Version 1 stores the header length in 2 bytes; versions 2 and 3 (long headers, UTF-8) in 4.
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('truncated .npy header');
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    return fail(`unsupported .npy format version ${major}.${bytes[7]} (expected 1.0, 2.0 or 3.0)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) fail('truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { descr, fortranOrder, shape } = parseHeader(header, fail);
  if (!FLOAT32_DESCRS.has(descr)) fail(`dtype '${descr}' is not supported; expected little-endian float32 ('<f4')`);
  if (fortranOrder && shape.length > 1) fail('Fortran-order arrays are not supported; save a C-order array');
  const count = shape.reduce((a, b) => a * b, 1);
  const available = bytes.length - dataStart;
  if (available !== count * 4) {
    fail(`shape (${shape.join(', ')}) needs ${count * 4} data bytes, the file has ${available}`);
  }
  // A view where the data are 4-byte aligned, as numpy writes them (headers padded to 64 bytes) into a buffer of
  // their own; a copy otherwise, since a Float32Array view needs the alignment. (Copying every weight file was 35 ms
  // of each backbone load, most of it the page faults of the fresh 34 MB.)
  const offset = bytes.byteOffset + dataStart;
  if (offset % 4 === 0) return { shape, data: new Float32Array(bytes.buffer, offset, count) };
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart));
  return { shape, data };
}

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/** Parses the Python dict literal numpy writes, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`. */
function parseHeader(header: string, fail: (problem: string) => never): NpyHeader {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    return fail(`malformed .npy header ${JSON.stringify(header.trim())}`);
  }
  const shape: number[] = [];
  for (const part of shapeText.split(',')) {
    const t = part.trim();
    if (t === '') continue; // "(3,)" leaves an empty last element
    if (!/^\d+L?$/.test(t)) fail(`malformed shape (${shapeText}) in .npy header`);
    shape.push(Number.parseInt(t, 10));
  }
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** Encodes a float32 array as `.npy` (version 1.0) bytes, as `np.save` would. */
export function encodeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`encodeNpy: ${data.length} values for shape [${shape.join(', ')}]`);
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shapeText}), }`;
  // numpy pads the header with spaces and a newline so that the data starts at a multiple of 64 bytes.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

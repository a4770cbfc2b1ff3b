/**
 * The safetensors file format (https://github.com/huggingface/safetensors):
 *
 *   8 bytes   N, unsigned 64-bit little-endian: the length of the header
 *   N bytes   UTF-8 JSON object: `{ "<name>": { "dtype": "F32", "shape": [2, 3],
 *             "data_offsets": [begin, end] }, ..., "__metadata__": { "<key>": "<string>" } }`,
 *             padded with spaces so that the byte buffer starts 8-byte aligned
 *   rest      the byte buffer; `data_offsets` are relative to its start, `end` is
 *             one past the last byte; values are little-endian, row-major, packed
 *
 * Reading follows the reference implementation's rules: the tensors' byte ranges,
 * sorted, must tile the buffer exactly from 0 to its end (no gap, no overlap, no
 * trailing bytes), and each range's length must be product(shape) × itemsize.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { NpadInputError } from '../errors.js';
import { fileError } from '../io/fileErrors.js';
import { isRecord } from '../util/isRecord.js';

/** Element types npad reads and writes (a subset of the safetensors dtypes). */
export type DType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'I8';

/** One tensor: its element type, shape (row-major) and raw little-endian bytes. */
export interface TensorEntry {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsContent {
  /** Tensors in file (offset) order. */
  tensors: Map<string, TensorEntry>;
  /** The free-form `__metadata__` string map; empty when the file has none. */
  metadata: Record<string, string>;
}

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  U8: 1,
  I8: 1,
};

/**
 * Writing order of dtypes, largest alignment first, as the reference writer does:
 * with an 8-aligned buffer start this keeps every tensor aligned to its itemsize,
 * so readers can view the bytes in place.
 */
const WRITE_ORDER: readonly DType[] = ['I64', 'F64', 'F32', 'I32', 'BF16', 'F16', 'U8', 'I8'];

/** The reference implementation refuses headers larger than this (a DoS guard). */
const MAX_HEADER_BYTES = 100_000_000;

/** Key of the free-form string map in the header. */
const METADATA_KEY = '__metadata__';

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/** A tensor's place in the buffer, as the header declares it. */
interface TensorSlot {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** The validated header. */
interface ParsedHeader {
  slots: TensorSlot[];
  metadata: Record<string, string>;
}

/**
 * Parses a whole safetensors file held in memory. Tensor data are views into
 * `bytes` (no copy).
 *
 * @param bytes the file's content
 * @param file the file's path, used in error messages
 * @param kind what the file is to the user, used in "damaged <kind>" messages
 * @throws NpadInputError (message starting with `file`) if the file is not a valid
 *   safetensors file or uses a dtype npad does not support
 */
export function readSafetensors(
  bytes: Uint8Array,
  file: string,
  kind = 'safetensors file',
): SafetensorsContent {
  const headerLength = parseHeaderLength(bytes.subarray(0, 8), bytes.length, file, kind);
  const dataStart = 8 + headerLength;
  const header = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, file, kind);
  const tensors = new Map<string, TensorEntry>();
  for (const s of header.slots) {
    tensors.set(s.name, {
      dtype: s.dtype,
      shape: s.shape,
      data: bytes.subarray(dataStart + s.begin, dataStart + s.end),
    });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Reads and parses a safetensors file. Each tensor is read into its own buffer
 * (so it is aligned for typed-array views, and files over 2 GiB work).
 *
 * @param path the file to read
 * @param kind what the file is to the user, used in "damaged <kind>" messages
 * @throws NpadInputError (message starting with `path`) if the file is missing,
 *   unreadable, or not a valid safetensors file
 */
export async function readSafetensorsFile(
  path: string,
  kind = 'safetensors file',
): Promise<SafetensorsContent> {
  const opened = await openSafetensorsFile(path, kind);
  return { tensors: await opened.tensors, metadata: opened.metadata };
}

/** A safetensors file whose header is read and checked, and whose tensors are still being read. */
export interface OpenedSafetensors {
  /** The free-form `__metadata__` string map; empty when the file has none. */
  metadata: Record<string, string>;
  /** Each tensor's element type and shape, in file order, as the header declares them. */
  shapes: { name: string; dtype: DType; shape: number[] }[];
  /** The tensors, in file order, once read (the file is closed then, or on failure). */
  tensors: Promise<Map<string, TensorEntry>>;
}

/**
 * Reads and checks a safetensors file's header now and starts reading its tensors ({@link readSafetensorsFile}),
 * so that the caller can act on the header (a model's configuration) while the data arrive. A failure of the
 * tensors' read is left for whoever awaits `tensors`: it is never an unhandled rejection.
 * @throws NpadInputError (message starting with `path`) if the file is missing, unreadable, or its header invalid
 */
export async function openSafetensorsFile(path: string, kind = 'safetensors file'): Promise<OpenedSafetensors> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError(err, path, 'read');
  }
  const failed = (err: unknown): NpadInputError => (err instanceof NpadInputError ? err : fileError(err, path, 'read'));
  let header: ParsedHeader;
  let dataStart: number;
  try {
    const size = (await handle.stat()).size;
    const prefix = await readExactly(handle, 0, Math.min(8, size), path);
    const headerLength = parseHeaderLength(prefix, size, path, kind);
    dataStart = 8 + headerLength;
    const headerBytes = await readExactly(handle, 8, headerLength, path);
    header = parseHeader(headerBytes, size - dataStart, path, kind);
  } catch (err) {
    await handle.close();
    throw failed(err);
  }
  const tensors = (async () => {
    try {
      const out = new Map<string, TensorEntry>();
      for (const s of header.slots) out.set(s.name, { dtype: s.dtype, shape: s.shape, data: await readExactly(handle, dataStart + s.begin, s.end - s.begin, path) });
      return out;
    } catch (err) {
      throw failed(err);
    } finally {
      await handle.close();
    }
  })();
  tensors.catch(() => {});
  return { metadata: header.metadata, shapes: header.slots.map(({ name, dtype, shape }) => ({ name, dtype, shape })), tensors };
}

/** Reads `length` bytes at `position`, looping because reads may come back short. */
async function readExactly(
  handle: FileHandle,
  position: number,
  length: number,
  path: string,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    // A single read is capped well below 2 GiB, the most one call accepts.
    const want = Math.min(length - done, 1 << 30);
    const { bytesRead } = await handle.read(out, done, want, position + done);
    if (bytesRead === 0) {
      throw new NpadInputError(`${path}: the file got shorter while it was being read`, path);
    }
    done += bytesRead;
  }
  return out;
}

/**
 * Validates the 8-byte header-length prefix against the file size and returns N.
 * @param prefix the first (up to) 8 bytes of the file
 * @param fileSize the whole file's size in bytes
 */
function parseHeaderLength(prefix: Uint8Array, fileSize: number, file: string, kind: string): number {
  if (fileSize < 8) {
    throw new NpadInputError(
      `${file}: not a safetensors file: it is only ${fileSize} bytes long (at least 8 are needed)`,
      file,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new NpadInputError(
      `${file}: not a safetensors file: its first 8 bytes give a header length of ${n} bytes, ` +
        `more than the ${MAX_HEADER_BYTES}-byte limit`,
      file,
    );
  }
  const length = Number(n);
  if (8 + length > fileSize) {
    throw new NpadInputError(
      `${file}: damaged ${kind} (or not a safetensors file): the header is ${length} bytes ` +
        `but the file has only ${fileSize - 8} bytes after the length field`,
      file,
    );
  }
  return length;
}

/**
 * Decodes and validates the JSON header.
 * @param headerBytes the N header bytes
 * @param available how many bytes the file has after the header
 */
function parseHeader(headerBytes: Uint8Array, available: number, file: string, kind: string): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new NpadInputError(`${file}: not a safetensors file: the header is not valid UTF-8`, file);
  }
  // The reference writer starts the header with '{'; anything else is not this format.
  if (!text.startsWith('{')) {
    throw new NpadInputError(`${file}: not a safetensors file: the header is not a JSON object`, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new NpadInputError(
      `${file}: damaged ${kind} (or not a safetensors file): the header is not valid JSON (${detail})`,
      file,
    );
  }
  if (!isRecord(json)) {
    throw new NpadInputError(`${file}: not a safetensors file: the header is not a JSON object`, file);
  }
  let metadata: Record<string, string> = {};
  const slots: TensorSlot[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value, file, kind);
    else slots.push(parseSlot(name, value, file, kind));
  }
  checkLayout(slots, available, file, kind);
  return { slots, metadata };
}

/** Validates `__metadata__`: a flat map of strings to strings. */
function parseMetadata(value: unknown, file: string, kind: string): Record<string, string> {
  if (!isRecord(value)) {
    throw new NpadInputError(`${file}: damaged ${kind}: "${METADATA_KEY}" is not a JSON object`, file);
  }
  const entries = Object.entries(value);
  for (const [key, v] of entries) {
    if (typeof v !== 'string') {
      throw new NpadInputError(
        `${file}: damaged ${kind}: "${METADATA_KEY}" entry ${JSON.stringify(key)} is not a string`,
        file,
      );
    }
  }
  // fromEntries defines own properties, so a key like "__proto__" stays data.
  return Object.fromEntries(entries) as Record<string, string>;
}

/** Validates one tensor's header entry: dtype, shape, offsets and their agreement. */
function parseSlot(name: string, value: unknown, file: string, kind: string): TensorSlot {
  const where = `${file}: damaged ${kind}: tensor ${JSON.stringify(name)}`;
  if (!isRecord(value)) throw new NpadInputError(`${where} is not described by a JSON object`, file);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') throw new NpadInputError(`${where} has no "dtype" string`, file);
  if (!isDType(dtype)) {
    throw new NpadInputError(
      `${file}: tensor ${JSON.stringify(name)} has dtype ${JSON.stringify(dtype)}, which npad does not ` +
        `support (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`,
      file,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new NpadInputError(`${where} has a "shape" that is not a list of non-negative integers`, file);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new NpadInputError(`${where} has "data_offsets" that are not two non-negative integers`, file);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new NpadInputError(`${where} ends (${end}) before it begins (${begin})`, file);
  const count = elementCount(shape as number[]);
  const bytes = count === undefined ? undefined : count * DTYPE_SIZE[dtype];
  if (bytes === undefined || !Number.isSafeInteger(bytes)) {
    throw new NpadInputError(`${where} has a shape too large to exist: [${shape.join(', ')}]`, file);
  }
  if (bytes !== end - begin) {
    throw new NpadInputError(
      `${where} has shape [${shape.join(', ')}] of ${dtype} (${bytes} bytes) ` +
        `but its data_offsets span ${end - begin} bytes`,
      file,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * Checks that the byte ranges, sorted, tile [0, total) exactly and that the file
 * holds exactly `total` bytes after the header. Sorts `slots` by offset in place.
 * (JSON.parse keeps only the last of duplicate keys; a dropped duplicate with its
 * own bytes leaves a gap, which this check then reports.)
 */
function checkLayout(slots: TensorSlot[], available: number, file: string, kind: string): void {
  slots.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let next = 0;
  let previous: TensorSlot | undefined;
  for (const s of slots) {
    if (s.begin < next && previous !== undefined) {
      throw new NpadInputError(
        `${file}: damaged ${kind}: tensors ${JSON.stringify(previous.name)} and ` +
          `${JSON.stringify(s.name)} overlap (bytes ${s.begin} to ${Math.min(next, s.end)})`,
        file,
      );
    }
    if (s.begin > next) {
      throw new NpadInputError(
        `${file}: damaged ${kind}: bytes ${next} to ${s.begin} of the tensor data belong to no tensor`,
        file,
      );
    }
    next = s.end;
    previous = s;
  }
  if (next !== available) {
    const unit = next === 1 ? 'byte' : 'bytes';
    throw new NpadInputError(
      `${file}: damaged ${kind}: header says ${next} ${unit} of tensors but the file has ${available}`,
      file,
    );
  }
}

/** Product of the dimensions, or undefined once it exceeds exact integer range. */
function elementCount(shape: readonly number[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/**
 * Serializes tensors into safetensors bytes, returned as chunks to write in order:
 * first the length prefix and header, then each tensor's bytes (the caller's
 * arrays, not copies), so that large models need not be joined into one buffer.
 *
 * The output matches the reference writer byte for byte: tensors ordered by
 * dtype alignment (largest first) then name, compact JSON with `__metadata__`
 * first (omitted when empty; keys sorted), header padded with spaces to a
 * multiple of 8.
 *
 * @throws RangeError if a tensor's byte length disagrees with its shape and dtype,
 *   or a tensor is named `__metadata__` (caller bugs, not user input)
 */
export function encodeSafetensors(
  tensors: Map<string, { dtype: DType; shape: number[]; data: Uint8Array }>,
  metadata: Record<string, string>,
): Uint8Array[] {
  const ordered = [...tensors].sort(
    ([an, a], [bn, b]) => WRITE_ORDER.indexOf(a.dtype) - WRITE_ORDER.indexOf(b.dtype) || compareUtf8(an, bn),
  );
  const parts: string[] = [];
  const metaKeys = Object.keys(metadata).sort(compareUtf8);
  if (metaKeys.length > 0) {
    // Built by hand: a JS object would move integer-like keys to the front.
    const fields = metaKeys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of ordered) {
    checkTensor(name, t);
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += t.data.length;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...ordered.map(([, t]) => t.data)];
}

/** Rejects a tensor whose bytes disagree with its description. */
function checkTensor(name: string, t: { dtype: DType; shape: number[]; data: Uint8Array }): void {
  if (name === METADATA_KEY) throw new RangeError(`a tensor cannot be named ${METADATA_KEY}`);
  if (!isDType(t.dtype)) throw new RangeError(`tensor ${JSON.stringify(name)}: unknown dtype ${String(t.dtype)}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(`tensor ${JSON.stringify(name)}: shape [${t.shape.join(', ')}] is not a list of counts`);
  }
  const count = elementCount(t.shape);
  if (count === undefined || count * DTYPE_SIZE[t.dtype] !== t.data.length) {
    throw new RangeError(
      `tensor ${JSON.stringify(name)}: shape [${t.shape.join(', ')}] of ${t.dtype} ` +
        `does not match its ${t.data.length} bytes`,
    );
  }
}

/**
 * Orders strings by Unicode code point, which is the order of their UTF-8 bytes
 * (Rust's and Python's string order). JS `<` compares UTF-16 code units, which
 * differs for characters above U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---------------------------------------------------------------------------
// Element conversion
// ---------------------------------------------------------------------------

/**
 * The tensor's values as float32. For F32 data that is aligned (as it is from
 * {@link readSafetensorsFile}) on a little-endian host, the result is a view
 * sharing memory with `entry.data`; otherwise it is a fresh array. F64 and
 * integers are rounded to the nearest float32; F16 and BF16 convert exactly.
 */
export function toFloat32(entry: TensorEntry): Float32Array {
  const { data } = entry;
  switch (entry.dtype) {
    case 'F32':
      return new Float32Array(...viewArgs(data, 4));
    case 'F64':
      return Float32Array.from(new Float64Array(...viewArgs(data, 8)));
    case 'F16':
      return float16BitsToFloat32(new Uint16Array(...viewArgs(data, 2)));
    case 'BF16':
      return bfloat16BitsToFloat32(new Uint16Array(...viewArgs(data, 2)));
    case 'I64': {
      const ints = new BigInt64Array(...viewArgs(data, 8));
      const out = new Float32Array(ints.length);
      for (let i = 0; i < ints.length; i++) out[i] = Number(ints[i]);
      return out;
    }
    case 'I32':
      return Float32Array.from(new Int32Array(...viewArgs(data, 4)));
    case 'U8':
      return Float32Array.from(data);
    case 'I8':
      return Float32Array.from(new Int8Array(data.buffer, data.byteOffset, data.length));
  }
}

/**
 * The tensor's elements as the typed array of its dtype, without conversion
 * (F16/BF16 as Uint16Array bit patterns). Like {@link toFloat32}, a view sharing
 * memory with `entry.data` when aligned on a little-endian host, else a copy.
 */
export function toTypedArray(
  entry: TensorEntry,
): Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array | Int8Array {
  const { data } = entry;
  switch (entry.dtype) {
    case 'F32':
      return new Float32Array(...viewArgs(data, 4));
    case 'F64':
      return new Float64Array(...viewArgs(data, 8));
    case 'F16':
    case 'BF16':
      return new Uint16Array(...viewArgs(data, 2));
    case 'I64':
      return new BigInt64Array(...viewArgs(data, 8));
    case 'I32':
      return new Int32Array(...viewArgs(data, 4));
    case 'U8':
      return data;
    case 'I8':
      return new Int8Array(data.buffer, data.byteOffset, data.length);
  }
}

/**
 * The little-endian bytes of a typed array, as safetensors stores them: a view of
 * the array's memory on a little-endian host (no copy), a byte-swapped copy otherwise.
 */
export function littleEndianBytes(a: ArrayBufferView): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const size = 'BYTES_PER_ELEMENT' in a && typeof a.BYTES_PER_ELEMENT === 'number' ? a.BYTES_PER_ELEMENT : 1;
  if (HOST_LITTLE_ENDIAN || size === 1) return bytes;
  const copy = new Uint8Array(bytes);
  for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return copy;
}

/**
 * Arguments for a typed-array view of little-endian `data` with `size`-byte
 * elements: the bytes in place when aligned on a little-endian host, else an
 * aligned copy (byte-swapped on a big-endian host).
 */
function viewArgs(data: Uint8Array, size: number): [ArrayBufferLike, number, number] {
  const count = data.length / size;
  if (HOST_LITTLE_ENDIAN && data.byteOffset % size === 0) return [data.buffer, data.byteOffset, count];
  const copy = new Uint8Array(data);
  if (!HOST_LITTLE_ENDIAN) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return [copy.buffer, 0, count];
}

/**
 * Converts IEEE 754 binary16 bit patterns to float32, exactly (every half value,
 * subnormals included, is a float32). Works on bits so that infinities keep their
 * sign and NaNs keep sign and payload.
 */
export function float16BitsToFloat32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  float16BitsInto(h, out, 0);
  return out;
}

/**
 * Converts binary16 bit patterns into `target` from `offset` on, as {@link float16BitsToFloat32} does. Loading a
 * model file converts hundreds of millions of values, so this reads a table of every pattern's float32 bits
 * (256 KiB, made once): 3 ns a value against 6–9 ns for decoding the bits one by one (measured, 35 M values).
 */
export function float16BitsInto(h: Uint16Array, target: Float32Array, offset: number): void {
  if (offset < 0 || offset + h.length > target.length) throw new RangeError(`${h.length} values do not fit at ${offset} of ${target.length}`);
  const table = halfTable();
  const out = new Int32Array(target.buffer, target.byteOffset + offset * 4, h.length); // bits, so NaN payloads stay
  for (let i = 0; i < h.length; i++) out[i] = table[h[i]!]!;
}

let halfBits: Int32Array | undefined;

/**
 * The float32 bit pattern of each of the 65 536 binary16 patterns (made once), for loops that convert pieces of a
 * tensor in place without a view per piece (engine/packedPrecision.ts expandPrecisions).
 */
export function halfTable(): Int32Array {
  if (halfBits === undefined) {
    halfBits = new Int32Array(65536);
    for (let h = 0; h < 65536; h++) halfBits[h] = half16ToSingleBits(h);
  }
  return halfBits;
}

/** One binary16 bit pattern to the float32 bit pattern of the same value. */
function half16ToSingleBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, NaN
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal: rebias 15 → 127
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal half (mant × 2^-24) is a normal float32: shift the leading 1 into the
  // implicit position, lowering the exponent once per shift.
  let e = 113; // biased float32 exponent of 2^-14, the half subnormal scale
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** Converts bfloat16 bit patterns to float32 (exact: bf16 is float32's top half). */
function bfloat16BitsToFloat32(h: Uint16Array): Float32Array {
  const out = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = (h[i] ?? 0) << 16;
  return new Float32Array(out.buffer);
}

/**
 * Converts float32 values to IEEE 754 binary16 bit patterns, rounding to nearest
 * with ties to even (so 65520 and above become infinity, and values below 2^-25
 * become zero). NaNs stay NaN (quiet, sign and top payload bits kept).
 */
export function float32ToFloat16Bits(x: Float32Array): Uint16Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = singleToHalf16Bits(bits[i] ?? 0);
  return out;
}

/** One float32 bit pattern to binary16 bits, round to nearest even. */
function singleToHalf16Bits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const abs = f & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff); // NaN, forced quiet
  if (abs >= 0x477ff000) return sign | 0x7c00; // ≥ 65520 (or inf): overflows to inf
  if (abs >= 0x38800000) {
    // Normal half: rebias exponent 127 → 15, then drop 13 mantissa bits. A carry
    // out of the mantissa correctly bumps the exponent.
    return sign | roundShiftEven(abs - 0x38000000, 13);
  }
  if (abs < 0x33000000) return sign; // below 2^-25: rounds to ±0
  // Subnormal half: value / 2^-24 = mantissa(with implicit 1) × 2^(e - 126).
  const e = abs >>> 23;
  const mant = (abs & 0x7fffff) | 0x800000;
  return sign | roundShiftEven(mant, 126 - e);
}

/** `m >> s` rounded to nearest, ties to even (1 ≤ s ≤ 24, m < 2^31). */
function roundShiftEven(m: number, s: number): number {
  const q = m >>> s;
  const rest = m & ((1 << s) - 1);
  const half = 1 << (s - 1);
  return rest > half || (rest === half && (q & 1) === 1) ? q + 1 : q;
}

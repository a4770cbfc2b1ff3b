/**
 * A small decoder for Windows BMP files.
 *
 * Why it exists: the libvips build that ships with sharp 0.35 has no *magick
 * loader, so sharp rejects BMP with "unsupported image format". BMP is still
 * common on factory cameras, so npad reads the uncompressed variants itself.
 *
 * Supported: BI_RGB with 1, 4, 8 (paletted), 24 and 32 bits per pixel, and
 * BI_BITFIELDS / BI_ALPHABITFIELDS with 16 or 32 bits per pixel; bottom-up and
 * top-down rows; the OS/2 12-byte header and the 40/52/56/108/124-byte Windows
 * headers. Not supported (rejected with a message): RLE4, RLE8, embedded
 * JPEG/PNG and CMYK variants.
 */
import { NpadInputError } from '../errors.js';
import type { RgbImage } from './rgbImage.js';

/** Width and height of a BMP, read from its header. */
export interface BmpSize {
  /** pixels per row */
  width: number;
  /** number of rows */
  height: number;
}

/** Everything the pixel decoder needs, parsed from the two BMP headers. */
interface BmpHeader extends BmpSize {
  /** byte offset of the first pixel row */
  pixelOffset: number;
  /** bits per pixel: 1, 4, 8, 16, 24 or 32 */
  bitCount: number;
  /** BI_* compression code */
  compression: number;
  /** true when the first stored row is the top one (negative height) */
  topDown: boolean;
  /** palette as RGB triples in [0,255], empty for true-colour files */
  palette: Uint8Array;
  /** channel masks for BI_BITFIELDS, null otherwise */
  masks: { r: number; g: number; b: number; a: number } | null;
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;
const COMPRESSION_NAMES: Record<number, string> = {
  1: 'RLE8',
  2: 'RLE4',
  4: 'JPEG',
  5: 'PNG',
  11: 'CMYK',
  12: 'CMYK RLE8',
  13: 'CMYK RLE4',
};

/** True when the bytes start with the BMP signature "BM". */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/**
 * Reads the size of a BMP from its header without decoding the pixels.
 * @param bytes the whole file, or at least its headers
 * @param name file name used in error messages
 * @throws NpadInputError when the header is missing or malformed
 */
export function bmpSize(bytes: Uint8Array, name: string): BmpSize {
  const { width, height } = parseHeader(bytes, name);
  return { width, height };
}

/**
 * Decodes an uncompressed BMP to interleaved RGB in [0,1].
 * @param bytes the whole file
 * @param name file name used in error messages
 * @param limitInputPixels largest width × height accepted, checked before any
 *   pixel memory is allocated (a guard against decompression bombs)
 * @throws NpadInputError on a malformed, truncated, too large or unsupported file
 */
export function decodeBmp(bytes: Uint8Array, name: string, limitInputPixels: number): RgbImage {
  const header = parseHeader(bytes, name);
  const { width, height, bitCount } = header;
  if (width * height > limitInputPixels) {
    throw new NpadInputError(
      `${name}: image is ${width}×${height} = ${width * height} pixels, over the limit of ${limitInputPixels} (limitInputPixels)`,
      name,
    );
  }
  // Rows are padded to a multiple of 4 bytes.
  const stride = Math.ceil((width * bitCount) / 32) * 4;
  const needed = header.pixelOffset + stride * height;
  if (bytes.length < needed) {
    throw new NpadInputError(
      `${name}: truncated BMP (${bytes.length} bytes, the pixel data needs ${needed})`,
      name,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(width * height * 3);
  const readPixel = pixelReader(header, view, name);
  for (let y = 0; y < height; y++) {
    const rowStart = header.pixelOffset + stride * (header.topDown ? y : height - 1 - y);
    for (let x = 0; x < width; x++) {
      readPixel(rowStart, x, data, (y * width + x) * 3);
    }
  }
  if (header.masks !== null && header.masks.a !== 0) {
    applyBitfieldAlpha(header, view, data);
  }
  return { width, height, data };
}

/** Parses the file header and the DIB header, validating every field used. */
function parseHeader(bytes: Uint8Array, name: string): BmpHeader {
  const fail = (problem: string): NpadInputError =>
    new NpadInputError(`${name}: not a decodable image (BMP ${problem})`, name);
  if (!isBmp(bytes)) throw fail('signature "BM" missing');
  if (bytes.length < 14 + 12) throw fail('header truncated');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const dibSize = view.getUint32(14, true);
  if (bytes.length < 14 + Math.min(dibSize, 40)) throw fail('header truncated');

  let width: number;
  let rawHeight: number;
  let bitCount: number;
  let compression = BI_RGB;
  let paletteEntries = 0;
  let paletteEntrySize = 4;
  if (dibSize === 12) {
    // OS/2 BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries.
    width = view.getUint16(18, true);
    rawHeight = view.getInt16(20, true);
    bitCount = view.getUint16(24, true);
    paletteEntrySize = 3;
  } else if (dibSize >= 40) {
    width = view.getInt32(18, true);
    rawHeight = view.getInt32(22, true);
    bitCount = view.getUint16(28, true);
    compression = view.getUint32(30, true);
    paletteEntries = view.getUint32(46, true);
  } else {
    throw fail(`header size ${dibSize} not supported`);
  }
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) throw fail(`size ${width}×${rawHeight} is invalid`);

  const compressionName = COMPRESSION_NAMES[compression];
  if (compressionName !== undefined) throw fail(`compression ${compressionName} not supported`);
  const bitfields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  if (compression !== BI_RGB && !bitfields) throw fail(`compression code ${compression} not supported`);
  const allowed = bitfields ? [16, 32] : [1, 4, 8, 24, 32];
  if (!allowed.includes(bitCount)) {
    throw fail(`${bitCount} bits per pixel not supported${bitfields ? ' with bit fields' : ''}`);
  }

  let masks: BmpHeader['masks'] = null;
  if (bitfields) {
    // Masks follow a 40-byte header, or sit inside a V2+ header at the same place.
    const maskCount = compression === BI_ALPHABITFIELDS || dibSize >= 56 ? 4 : 3;
    const end = 14 + 40 + maskCount * 4;
    if (bytes.length < end) throw fail('bit-field masks truncated');
    masks = {
      r: view.getUint32(54, true),
      g: view.getUint32(58, true),
      b: view.getUint32(62, true),
      a: maskCount === 4 ? view.getUint32(66, true) : 0,
    };
    if (masks.r === 0 || masks.g === 0 || masks.b === 0) throw fail('bit-field mask is zero');
  }

  let palette = new Uint8Array(0);
  if (bitCount <= 8) {
    const count = paletteEntries === 0 ? 1 << bitCount : paletteEntries;
    if (count > 1 << bitCount) throw fail(`palette of ${count} colours is too large`);
    // The palette follows the DIB header (and the masks for BI_BITFIELDS, never paletted).
    const start = 14 + dibSize;
    if (bytes.length < start + count * paletteEntrySize) throw fail('palette truncated');
    palette = new Uint8Array(count * 3);
    for (let i = 0; i < count; i++) {
      const at = start + i * paletteEntrySize;
      // Stored as B, G, R(, reserved).
      palette[i * 3] = bytes[at + 2]!;
      palette[i * 3 + 1] = bytes[at + 1]!;
      palette[i * 3 + 2] = bytes[at]!;
    }
  }
  if (pixelOffset < 14 + dibSize) throw fail(`pixel data offset ${pixelOffset} lies inside the header`);
  return { width, height, pixelOffset, bitCount, compression, topDown: rawHeight < 0, palette, masks };
}

/** Writes one pixel's RGB in [0,1] at out[at..at+2]. */
type PixelReader = (rowStart: number, x: number, out: Float32Array, at: number) => void;

/** Picks the per-pixel reader for the file's bit depth and compression. */
function pixelReader(h: BmpHeader, view: DataView, name: string): PixelReader {
  if (h.masks !== null) {
    const masks = h.masks;
    const read = h.bitCount === 16
      ? (o: number) => view.getUint16(o, true)
      : (o: number) => view.getUint32(o, true);
    const bytesPerPixel = h.bitCount / 8;
    return (rowStart, x, out, at) => {
      const v = read(rowStart + x * bytesPerPixel);
      out[at] = maskedValue(v, masks.r);
      out[at + 1] = maskedValue(v, masks.g);
      out[at + 2] = maskedValue(v, masks.b);
    };
  }
  if (h.bitCount === 24 || h.bitCount === 32) {
    // BI_RGB 32-bit: the fourth byte is "reserved" and often left at 0 by
    // writers, so it is ignored (as PIL and Windows do) rather than read as alpha.
    const bytesPerPixel = h.bitCount / 8;
    return (rowStart, x, out, at) => {
      const o = rowStart + x * bytesPerPixel;
      out[at] = view.getUint8(o + 2) / 255;
      out[at + 1] = view.getUint8(o + 1) / 255;
      out[at + 2] = view.getUint8(o) / 255;
    };
  }
  // Paletted: pixels are packed most-significant bits first.
  const bits = h.bitCount;
  const perByte = 8 / bits;
  const valueMask = (1 << bits) - 1;
  const colours = h.palette.length / 3;
  return (rowStart, x, out, at) => {
    const byte = view.getUint8(rowStart + Math.floor(x / perByte));
    const shift = 8 - bits * (1 + (x % perByte));
    const index = (byte >> shift) & valueMask;
    if (index >= colours) {
      throw new NpadInputError(`${name}: not a decodable image (BMP palette index ${index} out of range)`, name);
    }
    out[at] = h.palette[index * 3]! / 255;
    out[at + 1] = h.palette[index * 3 + 1]! / 255;
    out[at + 2] = h.palette[index * 3 + 2]! / 255;
  };
}

/** Extracts the field under `mask` from `v` and scales it to [0,1]. */
function maskedValue(v: number, mask: number): number {
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return ((v & mask) >>> shift) / max;
}

/**
 * Composites a bit-field alpha channel onto black, like decodeRgb does for other
 * formats. An alpha channel that is 0 everywhere is taken as "unused" and left
 * out, because many writers fill the field with zeros.
 */
function applyBitfieldAlpha(h: BmpHeader, view: DataView, data: Float32Array): void {
  const mask = h.masks?.a ?? 0;
  const bytesPerPixel = h.bitCount / 8;
  const stride = Math.ceil((h.width * h.bitCount) / 32) * 4;
  const alpha = new Float32Array(h.width * h.height);
  let anyNonZero = false;
  for (let y = 0; y < h.height; y++) {
    const rowStart = h.pixelOffset + stride * (h.topDown ? y : h.height - 1 - y);
    for (let x = 0; x < h.width; x++) {
      const o = rowStart + x * bytesPerPixel;
      const v = h.bitCount === 16 ? view.getUint16(o, true) : view.getUint32(o, true);
      const a = maskedValue(v, mask);
      alpha[y * h.width + x] = a;
      if (a !== 0) anyNonZero = true;
    }
  }
  if (!anyNonZero) return;
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i]!;
    data[i * 3]! *= a;
    data[i * 3 + 1]! *= a;
    data[i * 3 + 2]! *= a;
  }
}

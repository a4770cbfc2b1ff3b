/**
 * Small real image files of every format npad reads, made in memory (sharp for PNG, JPEG, TIFF, GIF, WebP; a
 * hand-written encoder for BMP, which sharp cannot write), and header surgery on them: the decompression bombs
 * (tiny files declaring huge sizes) and the fuzz test's header-field mutations.
 */
import sharp, { type Sharp } from 'sharp';

/** A 16×16 gradient, RGB, as raw 8-bit samples. */
export function gradientPixels(width = 16, height = 16, channels = 3): Buffer {
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) out[(y * width + x) * channels + c] = c === 3 ? 200 : (x * 16 + y * 7 + c * 50) & 255;
    }
  }
  return out;
}

function raw(width = 16, height = 16, channels: 3 | 4 = 3): Sharp {
  return sharp(gradientPixels(width, height, channels), { raw: { width, height, channels } });
}

/** Options of {@link makeBmp}. */
export interface BmpOptions {
  width?: number;
  height?: number;
  /** 24 (BI_RGB), 8 (paletted, grey palette) or 32 (BI_BITFIELDS with an alpha mask) */
  bitCount?: 8 | 24 | 32;
}

/** A BMP laid out as Windows writes it (40-byte header; 108-byte V4 header for 32-bit bit fields). */
export function makeBmp(options: BmpOptions = {}): Buffer {
  const { width = 16, height = 16, bitCount = 24 } = options;
  const dibSize = bitCount === 32 ? 108 : 40;
  const paletteSize = bitCount === 8 ? 256 * 4 : 0;
  const stride = Math.ceil((width * bitCount) / 32) * 4;
  const pixelOffset = 14 + dibSize + paletteSize;
  const out = Buffer.alloc(pixelOffset + stride * height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(pixelOffset, 10);
  out.writeUInt32LE(dibSize, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(bitCount, 28);
  out.writeUInt32LE(bitCount === 32 ? 3 : 0, 30);
  out.writeUInt32LE(bitCount === 8 ? 256 : 0, 46);
  if (bitCount === 32) [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000].forEach((m, i) => out.writeUInt32LE(m >>> 0, 54 + i * 4));
  if (bitCount === 8) for (let i = 0; i < 256; i++) out.writeUInt32LE((i << 16) | (i << 8) | i, 14 + dibSize + i * 4);
  const px = gradientPixels(width, height, 3);
  for (let y = 0; y < height; y++) {
    const row = pixelOffset + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = [px[(y * width + x) * 3]!, px[(y * width + x) * 3 + 1]!, px[(y * width + x) * 3 + 2]!];
      if (bitCount === 8) out[row + x] = r;
      else if (bitCount === 24) out.set([b, g, r], row + x * 3);
      else out.writeUInt32LE(((200 << 24) | (r << 16) | (g << 8) | b) >>> 0, row + x * 4);
    }
  }
  return out;
}

/** The base files of every format, by name (e.g. "png-rgb8"), 16×16 unless the name says otherwise. */
export async function sampleImages(): Promise<Map<string, Buffer>> {
  const frames = [await raw().png().toBuffer(), await raw().negate().png().toBuffer()];
  const animated = sharp(frames, { join: { animated: true } });
  const entries: [string, Promise<Buffer> | Buffer][] = [
    ['png-rgb8', raw().png().toBuffer()],
    ['png-rgba8', raw(16, 16, 4).png().toBuffer()],
    ['png-grey16', raw().toColourspace('grey16').png().toBuffer()],
    ['png-palette', raw().png({ palette: true }).toBuffer()],
    ['jpeg', raw().jpeg().toBuffer()],
    ['jpeg-progressive', raw().jpeg({ progressive: true }).toBuffer()],
    ['jpeg-cmyk', raw().toColourspace('cmyk').jpeg().toBuffer()],
    ['tiff-lzw', raw().tiff({ compression: 'lzw' }).toBuffer()],
    ['tiff-none', raw().tiff({ compression: 'none' }).toBuffer()],
    ['tiff-cmyk', raw().toColourspace('cmyk').tiff({ compression: 'none' }).toBuffer()],
    ['gif-animated', animated.clone().gif().toBuffer()],
    ['webp-animated', animated.clone().webp({ lossless: true }).toBuffer()],
    ['webp', raw().webp().toBuffer()],
    ['bmp-24', makeBmp()],
    ['bmp-8', makeBmp({ bitCount: 8 })],
    ['bmp-32-bitfields', makeBmp({ bitCount: 32 })],
  ];
  const out = new Map<string, Buffer>();
  for (const [name, bytes] of entries) out.set(name, await bytes);
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 as PNG chunks use it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG with its IHDR width and height replaced (and the chunk's CRC fixed, so the header stays valid). */
export function pngWithSize(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  // Signature (8), IHDR length (4) and type (4), then width and height.
  out.writeUInt32BE(width >>> 0, 16);
  out.writeUInt32BE(height >>> 0, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

/** A JPEG with its frame header (SOF) size replaced. */
export function jpegWithSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length; ) {
    if (out[i] !== 0xff) break;
    const marker = out[i + 1]!;
    const length = out.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc2) {
      out.writeUInt16BE(height & 0xffff, i + 5);
      out.writeUInt16BE(width & 0xffff, i + 7);
      return out;
    }
    i += 2 + length;
  }
  throw new Error('no SOF marker found');
}

/** A BMP with its header width and height replaced (the pixel data left as it was). */
export function bmpWithSize(bmp: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(bmp);
  out.writeInt32LE(width | 0, 18);
  out.writeInt32LE(height | 0, 22);
  return out;
}

/** Byte offsets of the value fields of a little-endian TIFF's first IFD entries with the given tags. */
function tiffEntries(tiff: Buffer): Map<number, number> {
  if (tiff.toString('latin1', 0, 2) !== 'II') throw new Error('only little-endian TIFF');
  const ifd = tiff.readUInt32LE(4);
  const count = tiff.readUInt16LE(ifd);
  const entries = new Map<number, number>();
  for (let k = 0; k < count; k++) entries.set(tiff.readUInt16LE(ifd + 2 + k * 12), ifd + 2 + k * 12);
  return entries;
}

/** A TIFF with its ImageWidth and ImageLength tags replaced (as LONG values). */
export function tiffWithSize(tiff: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(tiff);
  const entries = tiffEntries(out);
  for (const [tag, value] of [[256, width], [257, height]] as const) {
    const at = entries.get(tag);
    if (at === undefined) throw new Error(`TIFF tag ${tag} missing`);
    out.writeUInt16LE(4, at + 2); // LONG
    out.writeUInt32LE(1, at + 4);
    out.writeUInt32LE(value >>> 0, at + 8);
  }
  return out;
}

/** Offsets of a TIFF's first-IFD entries (tag → entry offset), for the fuzz test's field mutations. */
export function tiffEntryOffsets(tiff: Buffer): number[] {
  return [...tiffEntries(tiff).values()];
}

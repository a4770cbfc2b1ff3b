/**
 * Decoding image files to floating-point RGB.
 *
 * sharp (libvips) decodes PNG, JPEG, TIFF, GIF and WebP; BMP, which the libvips
 * build shipped with sharp cannot read, goes through ./bmp.ts. Every failure
 * caused by the file itself becomes an NpadInputError whose message starts with
 * the file name.
 *
 * Choices, for reproducibility:
 * - alpha is composited onto black (rgb × alpha), so a transparent pixel reads
 *   as black whatever colour it stores. (PIL's `convert('RGB')` instead drops
 *   alpha and keeps the stored colour; the two agree on opaque images.)
 * - EXIF orientation is applied (a phone or camera photo taken upright is seen
 *   upright, and maps come back in the orientation a viewer shows). PIL's
 *   `Image.open` does not apply it; the benchmark datasets carry no orientation
 *   tag, so their pixels, masks and reference features are unaffected.
 * - animated and multi-page files give their first frame/page.
 * - 16-bit samples are scaled by 1/65535 straight from 16 bits, so 257·k reads
 *   as exactly k/255 and nothing is lost by going through 8 bits.
 *
 * Decompression bombs: besides the pixel limit, a file must hold enough bytes
 * for the size it declares ({@link checkDataSize}). Decoders fill missing data
 * with grey rather than fail (libjpeg on a cut-short scan, libwebp on an
 * animation canvas with a tiny frame), so a 400-byte file declaring
 * 9000×9000 pixels would otherwise decode, taking 1.2 GB and seconds, to an
 * image that is mostly invented.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { Metadata, OutputInfo, SharpOptions } from 'sharp';
import { NpadInputError } from '../errors.js';
import { fileError } from '../io/fileErrors.js';
import { decodeBmp, isBmp, bmpSize } from './bmp.js';
import type { RgbImage } from './rgbImage.js';

/** Options for {@link decodeRgb}. */
export interface DecodeOptions {
  /**
   * Largest width × height decoded; larger images are refused before their
   * pixels are decoded, which guards against decompression bombs (a few KB of
   * PNG that inflate to gigabytes). Default {@link DEFAULT_LIMIT_INPUT_PIXELS}.
   */
  limitInputPixels?: number;
  /**
   * Seconds the decoder may work on one image before it is stopped and the image refused (libvips checks the
   * limit as it goes). Default {@link DEFAULT_DECODE_TIMEOUT_S}; at least 1.
   */
  timeoutSeconds?: number;
}

/** Default pixel limit: 100 megapixels, far above any inspection camera frame. */
export const DEFAULT_LIMIT_INPUT_PIXELS = 100_000_000;

/** Default decode time limit: a 100-megapixel TIFF decodes in a few seconds on a 2-core machine. */
export const DEFAULT_DECODE_TIMEOUT_S = 30;

/**
 * Decodes an image file or an in-memory encoded image to RGB in [0,1].
 *
 * Accepts PNG, JPEG, TIFF, BMP (and GIF/WebP), 8- or 16-bit, grey, grey+alpha,
 * RGB, RGBA or CMYK. Alpha is composited onto black; CMYK is converted to sRGB
 * by libvips; only the first frame of an animated or multi-page file is read.
 *
 * @param input a file path, or the bytes of an encoded image
 * @param name name used in error messages; defaults to the path, or
 *   `"<buffer>"` for a Buffer
 * @param options decoding limits
 * @throws NpadInputError when the file is missing, empty, truncated, not an
 *   image, too large, or of an unsupported sample format
 */
export async function decodeRgb(
  input: string | Buffer,
  name?: string,
  options: DecodeOptions = {},
): Promise<RgbImage> {
  const label = name ?? (typeof input === 'string' ? input : '<buffer>');
  const limit = validateLimit(options.limitInputPixels);
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_DECODE_TIMEOUT_S;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) throw new RangeError(`decode timeoutSeconds must be an integer ≥ 1, got ${timeoutSeconds}`);
  const bytes = typeof input === 'string' ? await readImageFile(input, label) : input;
  if (bytes.length === 0) throw new NpadInputError(`${label}: empty file (0 bytes)`, label);
  if (isBmp(bytes)) return decodeBmp(bytes, label, limit);

  const meta = await readMetadata(bytes, label);
  // Checked here rather than left to sharp, whose message names neither size.
  checkPixelLimit(meta.width, meta.height, limit, label);
  checkDataSize(bytes, meta.format, meta.width, meta.height, label);
  const sharpOptions = sharpInputOptions(limit);
  const sixteen = bitDepth(meta, label) === 16;
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes, sharpOptions)
      .timeout({ seconds: timeoutSeconds })
      // rgb16 keeps 16-bit samples; asking for srgb would round them to 8 bits.
      .toColourspace(sixteen ? 'rgb16' : 'srgb')
      .raw({ depth: sixteen ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (/timeout/i.test(err instanceof Error ? err.message : String(err))) {
      throw new NpadInputError(`${label}: not decoded within ${timeoutSeconds} s (an image that slow to decode is refused)`, label);
    }
    throw notDecodable(label, err);
  }
  const { data, info } = decoded;
  if (info.channels !== 3 && info.channels !== 4) {
    throw new NpadInputError(`${label}: not a decodable image (${info.channels} channels after conversion to RGB)`, label);
  }
  const samples = sixteen ? asUint16(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return {
    width: info.width,
    height: info.height,
    data: toUnitRgb(samples, info.channels, sixteen ? 65535 : 255),
  };
}

/**
 * Reads an image file's bytes, turning file-system failures into messages a
 * user can act on.
 * @param path file to read
 * @param name name used in error messages (default: the path)
 * @throws NpadInputError when the file is missing, a folder, unreadable or empty
 */
export async function readImageFile(path: string, name: string = path): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    // Any read failure of an image is reported against the image, never as a bug.
    const e = fileError(err, path, 'read', name);
    throw e instanceof NpadInputError ? e : new NpadInputError(`${name}: cannot read (${e.message})`, name);
  }
  if (bytes.length === 0) throw new NpadInputError(`${name}: empty file (0 bytes)`, name);
  return bytes;
}

/**
 * Reads an encoded image's width and height from its header, without decoding
 * the pixels, in the upright orientation decoding gives (EXIF orientation applied, see the module comment).
 * @param bytes the encoded image
 * @param name name used in error messages
 * @throws NpadInputError when the bytes are not a readable image
 */
export async function encodedImageSize(bytes: Buffer, name: string): Promise<{ width: number; height: number }> {
  if (bytes.length === 0) throw new NpadInputError(`${name}: empty file (0 bytes)`, name);
  if (isBmp(bytes)) return bmpSize(bytes, name);
  const meta = await readMetadata(bytes, name);
  // Orientations 5–8 turn the image a quarter: its upright width is the stored height.
  return (meta.orientation ?? 1) >= 5 ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
}

/**
 * Converts 8- or 16-bit RGB(A) samples to float RGB in [0,1], compositing any
 * alpha onto black.
 */
function toUnitRgb(samples: Uint8Array | Uint16Array, channels: 3 | 4, max: number): Float32Array {
  const pixels = samples.length / channels;
  const out = new Float32Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const s = i * channels;
    // Opaque when there is no alpha channel.
    const alpha = channels === 4 ? samples[s + 3]! / max : 1;
    out[i * 3] = (samples[s]! / max) * alpha;
    out[i * 3 + 1] = (samples[s + 1]! / max) * alpha;
    out[i * 3 + 2] = (samples[s + 2]! / max) * alpha;
  }
  return out;
}

/** Views native-endian 16-bit samples, copying only if the Buffer is misaligned for a Uint16Array. */
function asUint16(data: Buffer): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return new Uint16Array(Uint8Array.prototype.slice.call(data).buffer);
}

/** sharp input options shared by metadata and decoding; `false` lifts the pixel limit. */
function sharpInputOptions(limit: number | false): SharpOptions {
  return {
    limitInputPixels: limit,
    // 'error' refuses truncated or corrupt pixel data but, unlike the default
    // 'warning', accepts files that only trip a warning (e.g. libpng's
    // "known incorrect sRGB profile"), which are common and decode fine.
    failOn: 'error',
    // First frame/page only.
    page: 0,
    pages: 1,
    autoOrient: true,
  };
}

/**
 * Reads an image's header, turning decoder failures into NpadInputErrors.
 * No pixel limit applies: only the header is parsed, and the caller compares
 * the size it reports with the limit to give a precise message.
 */
async function readMetadata(bytes: Buffer, name: string): Promise<Metadata> {
  checkFormat(bytes, name);
  try {
    return await sharp(bytes, sharpInputOptions(false)).metadata();
  } catch (err) {
    throw notDecodable(name, err);
  }
}

/**
 * The formats npad reads, by their first bytes (BMP is recognised before, by ./bmp.ts). libvips can also read SVG,
 * PDF, HEIF and more, whose decoders run scripts of filters or other files and can take minutes on a few hundred
 * bytes; no decoder sees a file that does not start as one of these.
 */
const SIGNATURES: readonly { format: string; matches: (b: Buffer) => boolean }[] = [
  { format: 'PNG', matches: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { format: 'JPEG', matches: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { format: 'TIFF', matches: (b) => ['49492a00', '4d4d002a', '49492b00', '4d4d002b'].includes(b.subarray(0, 4).toString('hex')) },
  { format: 'GIF', matches: (b) => b.subarray(0, 4).toString('latin1') === 'GIF8' },
  { format: 'WebP', matches: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
];

/** Bytes enough to tell every format npad reads by its start ({@link startsAsImage}). */
export const SIGNATURE_BYTES = 12;

/** True when `head` (at least SIGNATURE_BYTES, or the whole file) starts as a format npad reads. */
export function startsAsImage(head: Buffer): boolean {
  return isBmp(head) || SIGNATURES.some((s) => s.matches(head));
}

/** @throws NpadInputError for a file that does not start as a format npad reads, whatever its name says */
function checkFormat(bytes: Buffer, name: string): void {
  if (startsAsImage(bytes)) return;
  throw new NpadInputError(`${name}: not a decodable image (npad reads PNG, JPEG, TIFF, BMP, WebP and GIF; this file starts as none of them)`, name);
}

/** 8 or 16: the sample precision to decode at; refuses others rather than guess a scale. */
function bitDepth(meta: Metadata, name: string): 8 | 16 {
  if (meta.depth === 'uchar') return 8;
  if (meta.depth === 'ushort') return 16;
  throw new NpadInputError(
    `${name}: unsupported sample format "${meta.depth}" (only 8- and 16-bit images are supported)`,
    name,
  );
}

/** Refuses images larger than the pixel limit, naming both numbers. */
function checkPixelLimit(width: number, height: number, limit: number, name: string): void {
  if (width * height > limit) {
    throw new NpadInputError(
      `${name}: image is ${width}×${height} = ${width * height} pixels, over the limit of ${limit} (limitInputPixels)`,
      name,
    );
  }
}

/**
 * Pixels one byte of a file can legitimately hold at most, with a wide margin: deflate (PNG, TIFF) tops out near
 * 1032:1, so a 1-bit flat PNG holds about 8 000 pixels per byte; lossless WebP's pixel packing and back-references
 * reach about 16 000 on a flat image.
 */
const MAX_PIXELS_PER_BYTE = 100_000;
/**
 * The same for Huffman-coded JPEG: every 8×8 block of every component costs at least one bit (its DC code), so a
 * file holds at most 512 pixels per byte; 2048 leaves a factor of 4.
 */
const MAX_PIXELS_PER_JPEG_BYTE = 2048;

/**
 * Refuses a file far too small for the size it declares (a damaged file, or a decompression bomb within the pixel
 * limit), before any pixel memory is allocated.
 */
function checkDataSize(bytes: Buffer, format: string | undefined, width: number, height: number, name: string): void {
  const pixels = width * height;
  const perByte = format === 'jpeg' && isHuffmanJpeg(bytes) ? MAX_PIXELS_PER_JPEG_BYTE : MAX_PIXELS_PER_BYTE;
  if (pixels > bytes.length * perByte) {
    throw new NpadInputError(
      `${name}: not a decodable image (it declares ${width}×${height} = ${pixels} pixels in only ${bytes.length} bytes: damaged, or a decompression bomb)`,
      name,
    );
  }
}

/** True when the JPEG's frame header (its first SOF marker) says Huffman coding; false for arithmetic or unknown. */
function isHuffmanJpeg(bytes: Buffer): boolean {
  for (let i = 2; i + 4 <= bytes.length; ) {
    if (bytes[i] !== 0xff) return false;
    const marker = bytes[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // SOF0–3 and 5–7 are Huffman, SOF9–11 and 13–15 arithmetic; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return marker < 0xc8;
    i += 2 + bytes.readUInt16BE(i + 2);
  }
  return false;
}

/** Validates the limitInputPixels option (a programming or CLI-flag mistake). */
function validateLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT_INPUT_PIXELS;
  if (!Number.isSafeInteger(limit) || limit <= 0) {
    throw new NpadInputError(`limitInputPixels must be a positive integer, got ${String(limit)}`);
  }
  return limit;
}

/** Wraps a decoder error as "name: not a decodable image (reason)". */
function notDecodable(name: string, err: unknown): NpadInputError {
  const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  // libvips logs each decoder complaint once per attempt ("VipsJpeg: premature end … VipsJpeg: premature end …"):
  // keep each clause once.
  const clauses = reason.split(/ (?=Vips\w+: )/);
  let unique = clauses.filter((c, i) => clauses.indexOf(c) === i).join(' ');
  // sharp reports "Unknown error" when libvips left no message (e.g. a PNG cut short inside its pixel data).
  if (unique === 'Unknown error' || unique === '') unique = 'damaged or cut short: the decoder gave no reason';
  // libvips says "header: " with nothing after for some truncations; drop the dangling colon.
  return new NpadInputError(`${name}: not a decodable image (${unique.replace(/:$/, '')})`, name);
}

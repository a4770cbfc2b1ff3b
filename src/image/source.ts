/**
 * Where an image to score comes from: a file, encoded bytes held in memory (an upload, a camera frame), or an
 * image already decoded (so a caller that had to decode it, e.g. to check it, does not pay for a second decode).
 * Every form carries the name used in error messages.
 */
import { decodeRgb, type DecodeOptions } from './decode.js';
import type { RgbImage } from './rgbImage.js';

/** Encoded image bytes (PNG, JPEG, TIFF, BMP…) with the name that error messages use for them. */
export interface EncodedImage {
  /** name in messages, e.g. the upload's file name */
  name: string;
  /** the encoded file's bytes */
  bytes: Buffer;
}

/** An image already decoded to RGB in [0,1], with the name that error messages use for it. */
export interface DecodedImage {
  /** name in messages */
  name: string;
  /** the pixels */
  image: RgbImage;
}

/**
 * An image to score: a file path, encoded bytes (a bare Buffer is named `<buffer>` in messages), or pixels.
 */
export type ImageSource = string | Buffer | EncodedImage | DecodedImage;

/** The name of an image source in messages: its path, or the name it carries. */
export function imageSourceName(source: ImageSource): string {
  if (typeof source === 'string') return source;
  if (Buffer.isBuffer(source)) return '<buffer>';
  return source.name;
}

/**
 * The pixels of an image source, decoding files and bytes.
 * @param source the image
 * @param decode decoding limits
 * @throws NpadInputError (message starting with the source's name) when it cannot be read or decoded
 */
export async function decodeImageSource(source: ImageSource, decode?: DecodeOptions): Promise<RgbImage> {
  if (typeof source === 'string' || Buffer.isBuffer(source)) return decodeRgb(source, imageSourceName(source), decode);
  if ('image' in source) return source.image;
  return decodeRgb(source.bytes, source.name, decode);
}

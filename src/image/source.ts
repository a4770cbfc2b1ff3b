/**
 * Where an image to score comes from: a file, encoded bytes held in memory (an upload, a camera frame), or an
 * image already decoded (so a caller that had to decode it, e.g. to check it, does not pay for a second decode).
 * Every form carries the name used in error messages.
 */
import { decodeRgb, encodedImageSize, readImageFile, type DecodeOptions } from './decode.js';
import { cutRect, type Rect, type RgbImage } from './rgbImage.js';

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

/** One tile of an image (./wholeImage.ts), named `<image> tile <n>` in messages. */
export interface ImageTile {
  /** name in messages */
  name: string;
  /** the image, decoded once for all its tiles */
  of: SharedDecode;
  /** where the tile lies in the decoded image */
  rect: Rect;
}

/**
 * An image to score: a file path, encoded bytes (a bare Buffer is named `<buffer>` in messages), pixels, or a tile
 * of one of these.
 */
export type ImageSource = string | Buffer | EncodedImage | DecodedImage | ImageTile;

/**
 * An image whose pixels several tiles read: decoded on the first of its `uses` reads and released after the last,
 * so a list of tiles holds one decoded image at a time however often it is walked (a second pass decodes again).
 */
export class SharedDecode {
  private decoding: Promise<RgbImage> | null = null;
  private readsLeft = 0;

  constructor(
    readonly source: ImageSource,
    private readonly uses: number,
  ) {}

  /** The pixels. */
  read(decode?: DecodeOptions): Promise<RgbImage> {
    if (this.decoding === null) {
      this.decoding = decodeImageSource(this.source, decode);
      this.readsLeft = this.uses;
    }
    const pixels = this.decoding;
    if (--this.readsLeft <= 0) this.decoding = null;
    return pixels;
  }
}

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
  if ('rect' in source) return cutRect(await source.of.read(decode), source.rect);
  return decodeRgb(source.bytes, source.name, decode);
}

/**
 * The width and height an image source decodes to (upright), from its header where it is encoded.
 * @throws NpadInputError (message starting with the source's name) when it cannot be read
 */
export async function imageSourceSize(source: ImageSource): Promise<{ width: number; height: number }> {
  if (typeof source === 'string') return encodedImageSize(await readImageFile(source), source);
  if (Buffer.isBuffer(source)) return encodedImageSize(source, imageSourceName(source));
  if ('image' in source) return { width: source.image.width, height: source.image.height };
  if ('rect' in source) return { width: source.rect.width, height: source.rect.height };
  return encodedImageSize(source.bytes, source.name);
}

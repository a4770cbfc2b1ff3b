/**
 * Turning a decoded image into the network's input tensor, in one of two geometries:
 *
 * - 'crop', the benchmark's: the torchvision pipeline of the paper and of MVTec AD / MTD practice,
 *   `Resize((256, 256))` (PIL bilinear, antialiased) → `CenterCrop(224)` → `ToTensor()` → `Normalize(mean, std)`,
 *   so scores are comparable with the Python reference. The aspect ratio is not kept and the border is not seen.
 * - 'whole', for user images: the whole image resized to a width × height of its own aspect ratio (chosen at fit
 *   from the training images, ./wholeImage.ts), or cut into overlapping square tiles that are each resized.
 *
 * Then ImageNet normalisation, CHW layout.
 */
import { NpadConfigError, NpadInputError } from '../errors.js';
import type { DecodeOptions } from './decode.js';
import { decodeImageSource, type ImageSource } from './source.js';
import type { RgbImage } from './rgbImage.js';

/** The benchmark's preprocessing: the image squashed to a square, then its centre cropped. */
export interface CropPreprocess {
  /** 'crop'; absent in model files written before the whole image existed */
  mode?: 'crop';
  /** side length the image is resized to (bilinear, antialiased), paper 256; at most {@link MAX_RESIZE} */
  resize: number;
  /** side of the centre crop, paper 224; null = no crop */
  crop: number | null;
}

/** Square tiles cut from the original image, each resized to the network input; see ./wholeImage.ts. */
export interface TileOptions {
  /** side of a tile in pixels of the original image, at least 32 */
  size: number;
  /**
   * pixels shared by neighbouring tiles, at least this many (the tiles are spread evenly); 0 ≤ overlap < size / 2;
   * default {@link defaultTileOverlap}
   */
  overlap: number;
}

/** The overlap of tiles of `size` px unless one is given: an eighth of the tile. */
export function defaultTileOverlap(size: number): number {
  return Math.round(size / 8);
}

/** The whole image, its aspect ratio kept (./wholeImage.ts). */
export interface WholePreprocess {
  mode: 'whole';
  /**
   * Side of the square with the network input's area, default 224 (the benchmark crop's, so a fit costs the
   * same); 32 … {@link MAX_RESIZE}. With tiles, the side of each tile's input.
   */
  side: number;
  /**
   * Network input width and height in pixels (multiples of 16): set by the fit from its images' median aspect
   * ratio (side × side with tiles); absent until then.
   */
  width?: number;
  height?: number;
  /** Tiles of the original image (high-resolution photos), or null: the whole image is one input. */
  tile: TileOptions | null;
}

/** How images are brought to the network's input. */
export type PreprocessOptions = CropPreprocess | WholePreprocess;

/** The paper's preprocessing, the benchmark's: resize to 256×256, centre crop 224×224. */
export const BENCHMARK_PREPROCESS: CropPreprocess = { resize: 256, crop: 224 };

/** The default for user images: the whole image, aspect ratio kept, at the benchmark crop's area. */
export const DEFAULT_PREPROCESS: WholePreprocess = { mode: 'whole', side: 224, tile: null };

/**
 * Preprocessing a caller may leave partly out: the whole image unless it names the crop (mode, resize or crop);
 * a tile's overlap may be left out too.
 */
export type PreprocessInput = Partial<CropPreprocess> | (Partial<Omit<WholePreprocess, 'tile'>> & { tile?: (Omit<TileOptions, 'overlap'> & { overlap?: number }) | null });

/**
 * Fills a partial preprocessing with the defaults of its geometry. Options that name the benchmark's crop (mode
 * 'crop', `resize` or `crop`, as model files written before the whole image existed do) get the benchmark's
 * defaults; anything else the whole image's.
 */
export function resolvePreprocess(input: PreprocessInput = {}): PreprocessOptions {
  const crop = input.mode === 'crop' || (input.mode === undefined && ('resize' in input || 'crop' in input));
  if (crop) return { ...BENCHMARK_PREPROCESS, ...input } as CropPreprocess;
  const whole = { ...DEFAULT_PREPROCESS, ...input } as WholePreprocess;
  const tile = whole.tile as { size: number; overlap?: number } | null;
  return tile && tile.overlap === undefined ? { ...whole, tile: { ...tile, overlap: defaultTileOverlap(tile.size) } } : whole;
}

/** Network input width and height in pixels. */
export interface InputShape {
  width: number;
  height: number;
}

/** True for the whole-image geometry. */
export function isWhole(p: PreprocessOptions): p is WholePreprocess {
  return p.mode === 'whole';
}

/** ImageNet per-channel mean (R, G, B) of [0,1] samples, as torchvision's models expect. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];

/** ImageNet per-channel standard deviation (R, G, B) of [0,1] samples. */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/**
 * Largest resize side. A network input of 1024² already makes a 256² feature grid (65 536 Gaussians for N-pad); a
 * hand-edited model file asking for more would allocate gigabytes before anything else could refuse it.
 */
export const MAX_RESIZE = 1024;

/**
 * Checks preprocessing options given by a user (CLI flags, config file, model file).
 * @param opts options to check
 * @returns the same options
 * @throws NpadInputError naming the bad value: resize or crop not a positive integer, a crop larger than the
 *   resize, a whole-image side or shape out of range, a tile too small or its overlap too large
 */
export function validatePreprocessOptions(opts: PreprocessOptions): PreprocessOptions {
  if (isWhole(opts)) return validateWhole(opts);
  if (opts.mode !== undefined && opts.mode !== 'crop') {
    throw new NpadInputError(`preprocess mode must be 'whole' or 'crop', got ${String(opts.mode)}`);
  }
  if (!isPositiveInteger(opts.resize)) {
    throw new NpadInputError(`resize must be a positive integer, got ${String(opts.resize)}`);
  }
  if (opts.resize > MAX_RESIZE) {
    throw new NpadInputError(`resize must be at most ${MAX_RESIZE} px, got ${opts.resize}: the network input is memory and time quadratic in it`);
  }
  if (opts.crop !== null) {
    if (!isPositiveInteger(opts.crop)) {
      throw new NpadInputError(`crop must be a positive integer or null, got ${String(opts.crop)}`);
    }
    if (opts.crop > opts.resize) {
      throw new NpadInputError(`crop ${opts.crop} is larger than resize ${opts.resize}`);
    }
  }
  return opts;
}

/** The whole image's bounds: side and shape within 32 … MAX_RESIZE, the shape in multiples of the stride 16. */
function validateWhole(opts: WholePreprocess): WholePreprocess {
  const inRange = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= MIN_INPUT && v <= MAX_RESIZE;
  if (!inRange(opts.side)) throw new NpadInputError(`input side must be an integer from ${MIN_INPUT} to ${MAX_RESIZE} px, got ${String(opts.side)}`);
  for (const key of ['width', 'height'] as const) {
    const v = opts[key];
    if (v !== undefined && (!inRange(v) || v % INPUT_STRIDE !== 0)) {
      throw new NpadInputError(`input ${key} must be a multiple of ${INPUT_STRIDE} from ${MIN_INPUT} to ${MAX_RESIZE} px, got ${String(v)}`);
    }
  }
  if ((opts.width === undefined) !== (opts.height === undefined)) throw new NpadInputError('input width and height go together: give both or neither');
  const t: unknown = opts.tile;
  if (t !== null) {
    if (typeof t !== 'object' || t === undefined) throw new NpadInputError(`tile must be null or { size, overlap }, got ${String(t)}`);
    const { size, overlap } = t as TileOptions;
    if (!Number.isSafeInteger(size) || size < MIN_INPUT || size > MAX_TILE) throw new NpadInputError(`tile size must be an integer from ${MIN_INPUT} to ${MAX_TILE} px, got ${String(size)}`);
    if (!Number.isSafeInteger(overlap) || overlap < 0 || 2 * overlap >= size) {
      throw new NpadInputError(`tile overlap must be an integer from 0 to less than half the tile (${size} px), got ${String(overlap)}`);
    }
    if (opts.width !== undefined && (opts.width !== opts.side || opts.height !== opts.side)) {
      throw new NpadInputError(`tiles are square: their input must be ${opts.side}×${opts.side}, got ${opts.width}×${String(opts.height)}`);
    }
  }
  return opts;
}

/** Smallest network input side: one cell of the backbone's coarsest stage is 16 px, and the patch features need a few. */
export const MIN_INPUT = 32;
/** The backbone's coarsest stride: whole-image inputs are multiples of it, so every stage's grid divides exactly. */
export const INPUT_STRIDE = 16;
/** Largest tile side, px of the original image. */
export const MAX_TILE = 16384;

/**
 * Resizes like PIL's `Image.resize(size, Image.BILINEAR)`: a separable
 * triangle filter whose support grows with the downscale factor (so
 * downscaling averages every source pixel instead of skipping some), and
 * plain bilinear interpolation with half-pixel centres when upscaling.
 *
 * Computed in float, so 16-bit precision survives; on 8-bit input the result
 * differs from PIL's (which rounds to 8 bits after each pass) by at most
 * about 1/255.
 *
 * @param img source image
 * @param width output width in pixels (positive integer)
 * @param height output height in pixels (positive integer)
 * @throws RangeError when a size is not a positive integer
 */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  if (!isPositiveInteger(width) || !isPositiveInteger(height)) {
    throw new RangeError(`resize target must be positive integers, got ${width}×${height}`);
  }
  // Horizontal first, then vertical, as PIL does; a pass whose size is
  // unchanged is skipped, as it would be the identity. An image so tall and
  // thin that the horizontal pass would widen it past MAX_INTERMEDIATE_SAMPLES
  // (a 1 × 1 000 000 strip: 256 columns over every row) is resized vertically
  // first instead, so memory stays bounded by the input and the output; no
  // ordinary image comes near that bound, so their results stay PIL's.
  let out = img;
  const verticalFirst = width > img.width && width * img.height * 3 > MAX_INTERMEDIATE_SAMPLES;
  if (verticalFirst && height !== img.height) out = resizeColumns(out, height);
  if (width !== out.width) out = resizeRows(out, width);
  if (height !== out.height) out = resizeColumns(out, height);
  return out === img ? { width, height, data: img.data.slice() } : out;
}

/**
 * Largest intermediate image (samples) the horizontal-first resize may make (64 Mi floats, 256 MiB): past it the
 * vertical pass goes first. Far above any real photo's (a 256-wide strip of an 8000-row image is 6 Mi samples).
 */
export const MAX_INTERMEDIATE_SAMPLES = 64 * 2 ** 20;

/**
 * Cuts a width×height window out of an image and normalises it with the ImageNet
 * mean and standard deviation, in CHW layout, ready for the network. Shifted
 * crops (test-time shifting) are the same call with other offsets.
 *
 * @param img source image, samples in [0,1]
 * @param left column of the window's first pixel
 * @param top row of the window's first pixel
 * @param width width of the window
 * @param height height of the window (default: the width, a square)
 * @returns float32 [3, height, width]: channel, row, column
 * @throws RangeError when the window is not made of integers or leaves the image
 */
export function cropNormalised(img: RgbImage, left: number, top: number, width: number, height = width): Float32Array {
  if (!Number.isInteger(left) || !Number.isInteger(top) || !isPositiveInteger(width) || !isPositiveInteger(height)) {
    throw new RangeError(`crop window must be integers with size > 0, got left ${left}, top ${top}, size ${width}×${height}`);
  }
  if (left < 0 || top < 0 || left + width > img.width || top + height > img.height) {
    throw new RangeError(
      `crop window ${width}×${height} at (${left}, ${top}) leaves the ${img.width}×${img.height} image`,
    );
  }
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = IMAGENET_MEAN[c]!;
    const std = IMAGENET_STD[c]!;
    for (let y = 0; y < height; y++) {
      const src = ((top + y) * img.width + left) * 3 + c;
      const dst = c * plane + y * width;
      for (let x = 0; x < width; x++) {
        out[dst + x] = (img.data[src + x * 3]! - mean) / std;
      }
    }
  }
  return out;
}

/**
 * Offset of a centred crop along one side, as torchvision's CenterCrop
 * computes it: `round((resized - crop) / 2)` with Python's round-half-to-even,
 * so 256/224 → 16 and an odd margin such as 257/224 (16.5) → 16.
 *
 * @param resized side of the image being cropped
 * @param crop side of the crop
 * @throws RangeError when either is not a positive integer or crop > resized
 */
export function centreOffset(resized: number, crop: number): number {
  if (!isPositiveInteger(resized) || !isPositiveInteger(crop) || crop > resized) {
    throw new RangeError(`cannot centre a crop of ${crop} in ${resized}`);
  }
  return roundHalfEven((resized - crop) / 2);
}

/**
 * Loads an image as the network's input: decode → resize to resize×resize → centre crop (or the whole image
 * resized to its input shape) → ImageNet normalisation.
 *
 * @param source image file, encoded bytes, decoded pixels or a tile
 * @param opts preprocessing sizes
 * @param decode decoding limits
 * @returns float32 [3, height, width] of {@link inputShape}
 * @throws NpadInputError on a bad file or bad options
 */
export async function loadImageTensor(
  source: ImageSource,
  opts: PreprocessOptions,
  decode?: DecodeOptions,
): Promise<Float32Array> {
  validatePreprocessOptions(opts);
  const { width, height } = inputShape(opts);
  const { image, left, top } = await resizedForInput(await decodeImageSource(source, decode), opts);
  return cropNormalised(image, left, top, width, height);
}

/**
 * The decoded image resized as the preprocessing asks, with the top-left corner of the network input's window in
 * it: the centre crop's offset, or (0, 0) for the whole image.
 */
export function resizedForInput(img: RgbImage, opts: PreprocessOptions): { image: RgbImage; left: number; top: number } {
  if (isWhole(opts)) {
    const { width, height } = inputShape(opts);
    return { image: resizeBilinear(img, width, height), left: 0, top: 0 };
  }
  const image = resizeBilinear(img, opts.resize, opts.resize);
  const offset = opts.crop === null ? 0 : centreOffset(opts.resize, opts.crop);
  return { image, left: offset, top: offset };
}

/** Filter taps for one output pixel along one axis: weights[k] applies to source first + k. */
interface AxisTaps {
  /** first source index for each output index */
  first: Int32Array;
  /** number of taps for each output index */
  count: Int32Array;
  /** weights, `stride` slots per output index, normalised to sum 1 */
  weights: Float64Array;
  /** slots per output index in `weights` */
  stride: number;
}

/**
 * Precomputes PIL's bilinear ("triangle") taps for resampling inSize → outSize
 * (Pillow's `precompute_coeffs` with support 1).
 */
function bilinearTaps(inSize: number, outSize: number): AxisTaps {
  const scale = inSize / outSize;
  // Downscaling widens the filter by the scale factor (antialiasing).
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    // Math.trunc mirrors C's (int) cast that Pillow uses, so edges match.
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    let sum = 0;
    for (let k = 0; k < hi - lo; k++) {
      const w = triangle((k + lo - centre + 0.5) / filterScale);
      weights[o * stride + k] = w;
      sum += w;
    }
    if (sum !== 0) {
      for (let k = 0; k < hi - lo; k++) weights[o * stride + k]! /= sum;
    }
    first[o] = lo;
    count[o] = hi - lo;
  }
  return { first, count, weights, stride };
}

/** The bilinear kernel: 1 − |x| on (−1, 1), 0 elsewhere. */
function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** Resamples every row to `width` pixels. */
function resizeRows(img: RgbImage, width: number): RgbImage {
  const taps = bilinearTaps(img.width, width);
  const src = img.data;
  const out = new Float32Array(width * img.height * 3);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width * 3;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const base = x * taps.stride;
      let s = row + taps.first[x]! * 3;
      for (let k = 0; k < taps.count[x]!; k++, s += 3) {
        const w = taps.weights[base + k]!;
        r += w * src[s]!;
        g += w * src[s + 1]!;
        b += w * src[s + 2]!;
      }
      const d = (y * width + x) * 3;
      out[d] = r;
      out[d + 1] = g;
      out[d + 2] = b;
    }
  }
  return { width, height: img.height, data: out };
}

/** Resamples every column to `height` pixels. */
function resizeColumns(img: RgbImage, height: number): RgbImage {
  const taps = bilinearTaps(img.height, height);
  const src = img.data;
  const rowLength = img.width * 3;
  const out = new Float32Array(rowLength * height);
  // Whole rows are accumulated at a time: contiguous memory, cache friendly.
  const acc = new Float64Array(rowLength);
  for (let y = 0; y < height; y++) {
    const base = y * taps.stride;
    const d = y * rowLength;
    acc.fill(0);
    for (let k = 0; k < taps.count[y]!; k++) {
      const w = taps.weights[base + k]!;
      const s = (taps.first[y]! + k) * rowLength;
      for (let i = 0; i < rowLength; i++) acc[i]! += w * src[s + i]!;
    }
    out.set(acc, d);
  }
  return { width: img.width, height, data: out };
}

/** Rounds to the nearest integer, ties to even (Python 3's round). */
function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const diff = v - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** True for integers ≥ 1. */
function isPositiveInteger(v: number): boolean {
  return Number.isSafeInteger(v) && v > 0;
}

/**
 * The network input's width and height for these preprocessing options.
 * @throws NpadConfigError for a whole-image geometry whose shape the fit has not chosen yet
 */
export function inputShape(opts: PreprocessOptions): InputShape {
  if (!isWhole(opts)) {
    const side = opts.crop ?? opts.resize;
    return { width: side, height: side };
  }
  if (opts.width === undefined || opts.height === undefined) {
    throw new NpadConfigError('the whole-image input shape is chosen by the fit from its images: fit first (or give preprocess width and height)');
  }
  return { width: opts.width, height: opts.height };
}

/**
 * The network input's shape where known, else (a whole image before its fit) the side × side square of the same
 * area: what memory estimates and descriptions go by.
 */
export function expectedInputShape(opts: PreprocessOptions): InputShape {
  if (isWhole(opts) && opts.width === undefined) return { width: opts.side, height: opts.side };
  return inputShape(opts);
}

/** "W×H" of the network input (of the square of its area before a whole-image fit has chosen it). */
export function inputShapeText(opts: PreprocessOptions): string {
  const { width, height } = expectedInputShape(opts);
  return `${width}×${height}`;
}

/** Pixels of the network input (width × height). */
export function inputPixels(opts: PreprocessOptions): number {
  const { width, height } = inputShape(opts);
  return width * height;
}

/** Largest shift the preprocessing leaves room for (the margin between resize and crop; none for the whole image). */
export function maxShift(opts: PreprocessOptions): number {
  if (isWhole(opts) || opts.crop === null) return 0;
  return Math.min(centreOffset(opts.resize, opts.crop), opts.resize - opts.crop - centreOffset(opts.resize, opts.crop));
}

/** A short description for messages and reports, e.g. "resize 256, crop 224" or "whole image, 256×192". */
export function describePreprocess(opts: PreprocessOptions): string {
  if (!isWhole(opts)) return `resize ${opts.resize}, crop ${String(opts.crop)}`;
  const shape = opts.width === undefined ? `side ${opts.side}` : `${opts.width}×${String(opts.height)}`;
  return opts.tile ? `tiles of ${opts.tile.size} px (overlap ${opts.tile.overlap}), each ${shape}` : `whole image, ${shape}`;
}

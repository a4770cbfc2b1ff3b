/**
 * Turning a decoded image into the network's input tensor: resize to a square,
 * centre crop, ImageNet normalisation, CHW layout.
 *
 * The steps reproduce the torchvision pipeline used by the paper and by MVTec
 * AD / MTD practice, `Resize((256, 256))` (PIL bilinear, antialiased) →
 * `CenterCrop(224)` → `ToTensor()` → `Normalize(mean, std)`, so scores are
 * comparable with the Python reference. The aspect ratio is not kept.
 */
import { NpadInputError } from '../errors.js';
import type { DecodeOptions } from './decode.js';
import { decodeImageSource, type ImageSource } from './source.js';
import type { RgbImage } from './rgbImage.js';

/** How images are brought to the network's input size. */
export interface PreprocessOptions {
  /** side length the image is resized to (bilinear, antialiased), paper 256 */
  resize: number;
  /** side of the centre crop, paper 224; null = no crop */
  crop: number | null;
}

/** The paper's preprocessing: resize to 256×256, centre crop 224×224. */
export const DEFAULT_PREPROCESS: PreprocessOptions = { resize: 256, crop: 224 };

/** ImageNet per-channel mean (R, G, B) of [0,1] samples, as torchvision's models expect. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];

/** ImageNet per-channel standard deviation (R, G, B) of [0,1] samples. */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/**
 * Checks preprocessing options given by a user (CLI flags, config file).
 * @param opts options to check
 * @returns the same options
 * @throws NpadInputError when resize or crop is not a positive integer, or the
 *   crop is larger than the resized image
 */
/**
 * Largest resize side. A network input of 1024² already makes a 256² feature grid (65 536 Gaussians for N-pad); a
 * hand-edited model file asking for more would allocate gigabytes before anything else could refuse it.
 */
export const MAX_RESIZE = 1024;

export function validatePreprocessOptions(opts: PreprocessOptions): PreprocessOptions {
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
 * Cuts a size×size window out of an image and normalises it with the ImageNet
 * mean and standard deviation, in CHW layout, ready for the network. Shifted
 * crops (test-time shifting) are the same call with other offsets.
 *
 * @param img source image, samples in [0,1]
 * @param left column of the window's first pixel
 * @param top row of the window's first pixel
 * @param size side of the window
 * @returns float32 [3, size, size]: channel, row, column
 * @throws RangeError when the window is not made of integers or leaves the image
 */
export function cropNormalised(img: RgbImage, left: number, top: number, size: number): Float32Array {
  if (!Number.isInteger(left) || !Number.isInteger(top) || !isPositiveInteger(size)) {
    throw new RangeError(`crop window must be integers with size > 0, got left ${left}, top ${top}, size ${size}`);
  }
  if (left < 0 || top < 0 || left + size > img.width || top + size > img.height) {
    throw new RangeError(
      `crop window ${size}×${size} at (${left}, ${top}) leaves the ${img.width}×${img.height} image`,
    );
  }
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = IMAGENET_MEAN[c]!;
    const std = IMAGENET_STD[c]!;
    for (let y = 0; y < size; y++) {
      const src = ((top + y) * img.width + left) * 3 + c;
      const dst = c * plane + y * size;
      for (let x = 0; x < size; x++) {
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
 * Loads an image as the network's input: decode → resize to
 * resize×resize → centre crop → ImageNet normalisation.
 *
 * @param source image file, encoded bytes or decoded pixels
 * @param opts preprocessing sizes
 * @param decode decoding limits
 * @returns float32 [3, crop, crop], or [3, resize, resize] when crop is null
 * @throws NpadInputError on a bad file or bad options
 */
export async function loadImageTensor(
  source: ImageSource,
  opts: PreprocessOptions,
  decode?: DecodeOptions,
): Promise<Float32Array> {
  const { resize, crop } = validatePreprocessOptions(opts);
  const img = resizeBilinear(await decodeImageSource(source, decode), resize, resize);
  if (crop === null) return cropNormalised(img, 0, 0, resize);
  const offset = centreOffset(resize, crop);
  return cropNormalised(img, offset, offset, crop);
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

/** The side of the network input for these preprocessing options. */
export function inputSize(opts: PreprocessOptions): number {
  return opts.crop ?? opts.resize;
}

/** Largest shift the preprocessing leaves room for (the margin between resize and crop). */
export function maxShift(opts: PreprocessOptions): number {
  return opts.crop === null ? 0 : Math.min(centreOffset(opts.resize, opts.crop), opts.resize - opts.crop - centreOffset(opts.resize, opts.crop));
}

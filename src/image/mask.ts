/**
 * Ground-truth masks: loading them onto the same pixel grid as the anomaly map.
 */
import { NpadInputError } from '../errors.js';
import { decodeRgb } from './decode.js';
import { centreOffset, isWhole, validatePreprocessOptions } from './preprocess.js';
import type { PreprocessOptions } from './preprocess.js';
import type { ImageSize } from './wholeImage.js';

/**
 * Loads a ground-truth mask aligned with an anomaly map: for the benchmark's crop, with the output of
 * `loadImageTensor` (./preprocess.ts): grey → binarise → nearest-neighbour resize to resize×resize → centre crop;
 * for the whole image (or its tiles' mosaic), the whole mask resized to the map's size `map`.
 *
 * Nearest neighbour keeps the mask binary (soft, anti-aliased edges such as
 * MTD's are thresholded, not blended). A pixel is defective when its grey
 * level is above 127 of 255 (for 16-bit masks, above the same fraction).
 * Colour masks are made grey with PIL's `convert('L')` weights; transparent
 * pixels count as black.
 *
 * @param path mask file
 * @param opts the preprocessing used for the matching image
 * @param expected size of the matching image, when known: a mask of another
 *   size is refused rather than stretched onto it
 * @param map the anomaly map's size (whole image only)
 * @returns 0/1 per pixel, row-major, crop×crop (resize×resize when crop is null), or the map's size
 * @throws NpadInputError on a bad file, bad options, or a size mismatch
 */
export async function loadMask(
  path: string,
  opts: PreprocessOptions,
  expected?: ImageSize,
  map?: ImageSize,
): Promise<Uint8Array> {
  validatePreprocessOptions(opts);
  const img = await decodeRgb(path);
  if (expected !== undefined && (img.width !== expected.width || img.height !== expected.height)) {
    throw new NpadInputError(
      `${path}: mask is ${img.width}×${img.height} but its image is ${expected.width}×${expected.height}`,
      path,
    );
  }
  const binary = binarise(img.data);
  if (isWhole(opts)) {
    if (map === undefined) throw new RangeError('a whole-image mask needs the size of its map');
    return resizeNearest(binary, img.width, img.height, map.width, map.height);
  }
  const { resize, crop } = opts;
  const resized = resizeNearest(binary, img.width, img.height, resize, resize);
  if (crop === null) return resized;
  return cropSquare(resized, resize, centreOffset(resize, crop), crop);
}

/** 1 where the grey level of an RGB [0,1] pixel is above 127/255, else 0. */
function binarise(rgb: Float32Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  // Halfway between 127 and 128, so 8-bit masks split exactly at "> 127" and
  // float rounding of k/255 cannot flip a pixel.
  const threshold = 127.5 / 255;
  for (let i = 0; i < out.length; i++) {
    // ITU-R 601 luma, as PIL's convert('L'); exact for grey pixels.
    const grey = 0.299 * rgb[i * 3]! + 0.587 * rgb[i * 3 + 1]! + 0.114 * rgb[i * 3 + 2]!;
    out[i] = grey > threshold ? 1 : 0;
  }
  return out;
}

/**
 * Nearest-neighbour resize as PIL's `Image.resize(NEAREST)`: output pixel x
 * takes source floor((x + 0.5) · in/out).
 */
function resizeNearest(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Uint8Array {
  const cols = nearestIndices(width, outWidth);
  const rows = nearestIndices(height, outHeight);
  const out = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const s = rows[y]! * width;
    for (let x = 0; x < outWidth; x++) out[y * outWidth + x] = src[s + cols[x]!]!;
  }
  return out;
}

/** Source index for each output index along one axis. */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const out = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) out[o] = Math.min(Math.floor((o + 0.5) * scale), inSize - 1);
  return out;
}

/** The size×size window at (offset, offset) of a square side×side plane. */
function cropSquare(src: Uint8Array, side: number, offset: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    const s = (offset + y) * side + offset;
    out.set(src.subarray(s, s + size), y * size);
  }
  return out;
}

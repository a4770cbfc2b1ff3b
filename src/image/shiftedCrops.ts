/**
 * Network inputs for one image file: the centre crop, and for test-time shifting (N-pad module D) crops
 * whose window is moved by (dx, dy) inside the resized image, so no padding is ever invented.
 */
import { NpadInputError } from '../errors.js';
import type { DecodeOptions } from './decode.js';
import { centreOffset, cropNormalised, inputSize, maxShift, resizeBilinear, validatePreprocessOptions, type PreprocessOptions } from './preprocess.js';
import { decodeImageSource, type ImageSource } from './source.js';

/** A crop-window displacement in input pixels (positive: the window moves right / down). */
export interface Shift {
  dx: number;
  dy: number;
}

/**
 * Loads an image (a file, bytes or pixels) and returns the crops for each shift, concatenated: [shifts.length, 3, S, S]
 * (ImageNet-normalised).
 * @throws NpadInputError when the image cannot be decoded or a shift leaves the resized image
 */
export async function loadShiftedCrops(
  source: ImageSource,
  opts: PreprocessOptions,
  shifts: readonly Shift[],
  decode?: DecodeOptions,
): Promise<Float32Array> {
  const { resize } = validatePreprocessOptions(opts);
  const size = inputSize(opts);
  const margin = maxShift(opts);
  const img = resizeBilinear(await decodeImageSource(source, decode), resize, resize);
  const base = opts.crop === null ? 0 : centreOffset(resize, opts.crop);
  const out = new Float32Array(shifts.length * 3 * size * size);
  shifts.forEach(({ dx, dy }, i) => {
    if (Math.abs(dx) > margin || Math.abs(dy) > margin) {
      throw new NpadInputError(`shift of ${Math.max(Math.abs(dx), Math.abs(dy))} px needs a crop smaller than the resize by twice that (resize ${resize}, crop ${String(opts.crop)})`);
    }
    out.set(cropNormalised(img, base + dx, base + dy, size), i * 3 * size * size);
  });
  return out;
}

/**
 * Network inputs for one image file: the centre crop (or the whole image), and for test-time shifting (N-pad
 * module D) crops whose window is moved by (dx, dy) inside the resized image, so no padding is ever invented.
 */
import { NpadInputError } from '../errors.js';
import type { DecodeOptions } from './decode.js';
import { cropNormalised, describePreprocess, inputShape, maxShift, resizedForInput, validatePreprocessOptions, type PreprocessOptions } from './preprocess.js';
import { decodeImageSource, type ImageSource } from './source.js';

/** A crop-window displacement in input pixels (positive: the window moves right / down). */
export interface Shift {
  dx: number;
  dy: number;
}

/**
 * Loads an image (a file, bytes, pixels or a tile) and returns the crops for each shift, concatenated:
 * [shifts.length, 3, H, W] (ImageNet-normalised).
 * @throws NpadInputError when the image cannot be decoded or a shift leaves the resized image
 */
export async function loadShiftedCrops(
  source: ImageSource,
  opts: PreprocessOptions,
  shifts: readonly Shift[],
  decode?: DecodeOptions,
): Promise<Float32Array> {
  validatePreprocessOptions(opts);
  const { width, height } = inputShape(opts);
  const margin = maxShift(opts);
  const { image, left, top } = resizedForInput(await decodeImageSource(source, decode), opts);
  const per = 3 * width * height;
  const out = new Float32Array(shifts.length * per);
  shifts.forEach(({ dx, dy }, i) => {
    if (Math.abs(dx) > margin || Math.abs(dy) > margin) {
      throw new NpadInputError(`shift of ${Math.max(Math.abs(dx), Math.abs(dy))} px needs a crop smaller than the resize by twice that (${describePreprocess(opts)})`);
    }
    out.set(cropNormalised(image, left + dx, top + dy, width, height), i * per);
  });
  return out;
}

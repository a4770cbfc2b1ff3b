/**
 * Network inputs of a batch of image files for fitting and for the baselines (PaDiM, PatchCore): each image
 * resized and centre-cropped once, no shifts.
 */
import { inputSize, loadShiftedCrops } from '../image/shiftedCrops.js';
import type { PreprocessOptions } from '../image/preprocess.js';
import type { ImageSource } from '../image/source.js';

/** The images of `paths` (files, bytes or pixels) as one ImageNet-normalised batch [B, 3, S, S] (decoded in parallel). */
export async function loadImageBatch(paths: readonly ImageSource[], preprocess: PreprocessOptions): Promise<Float32Array> {
  const size = inputSize(preprocess);
  const per = 3 * size * size;
  const out = new Float32Array(paths.length * per);
  const crops = await Promise.all(paths.map((p) => loadShiftedCrops(p, preprocess, [{ dx: 0, dy: 0 }])));
  crops.forEach((c, i) => out.set(c, i * per));
  return out;
}

/** The largest value of a map (the baselines' image score). */
export function maxOf(values: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  return m;
}

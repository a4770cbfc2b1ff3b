/**
 * Network inputs of a batch of image files for fitting and for the baselines (PaDiM, PatchCore): each image
 * resized and centre-cropped once, no shifts.
 */
import { loadShiftedCrops } from '../image/shiftedCrops.js';
import { type PreprocessOptions, inputSize } from '../image/preprocess.js';
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

/** One batch of {@link prefetchedBatches}: where it starts in the list, its items and what `load` made of them. */
export interface LoadedBatch<T, L> {
  start: number;
  items: readonly T[];
  loaded: L;
}

/**
 * Walks `items` in batches of `size`, loading the next batch while the caller works on the current one. Image
 * decoding runs on libuv's threads, so it overlaps the backbone and the scoring. A failed load surfaces when
 * its batch is reached, as it would without prefetching.
 */
export async function* prefetchedBatches<T, L>(items: readonly T[], size: number, load: (batch: readonly T[]) => Promise<L>): AsyncGenerator<LoadedBatch<T, L>> {
  const start = (i: number): { i: number; batch: readonly T[]; loading: Promise<L> } => {
    const batch = items.slice(i, i + size);
    const loading = load(batch);
    loading.catch(() => {}); // handled when awaited below; this only stops an early rejection being reported as unhandled
    return { i, batch, loading };
  };
  let next = items.length > 0 ? start(0) : null;
  while (next) {
    const current = next;
    next = current.i + size < items.length ? start(current.i + size) : null;
    yield { start: current.i, items: current.batch, loaded: await current.loading };
  }
}

/** The largest value of a map (the baselines' image score). */
export function maxOf(values: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  return m;
}

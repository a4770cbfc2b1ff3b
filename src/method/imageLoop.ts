/**
 * The one image → features loop every method fits and scores with: images are decoded, resized and cropped in
 * batches, the next batch while the backbone works on the current one, and each batch goes through the backbone
 * once for whatever the method asked of it (the selected feature grid, the raw stages of the patch features, or
 * both).
 */
import type { FeatureExtractor } from '../backbone/featureExtractor.js';
import { inputPixels, type PreprocessOptions } from '../image/preprocess.js';
import { loadShiftedCrops, type Shift } from '../image/shiftedCrops.js';
import type { ImageSource } from '../image/source.js';
import type { FloatTensor } from '../onnx/session.js';
import { PATCH_STAGES, patchStages } from './parts/patchBank.js';

/** The unshifted crop alone: what fitting and the baselines use. */
const CENTRE_CROP: readonly Shift[] = [{ dx: 0, dy: 0 }];

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

/**
 * The network inputs of a batch of images, [images × crops, 3, H, W] ImageNet-normalised, each image's crops
 * together in the order of `crops` (decoded in parallel).
 */
export async function loadImageBatch(images: readonly ImageSource[], preprocess: PreprocessOptions, crops: readonly Shift[] = CENTRE_CROP): Promise<Float32Array> {
  const per = crops.length * 3 * inputPixels(preprocess);
  const out = new Float32Array(images.length * per);
  const loaded = await Promise.all(images.map((p) => loadShiftedCrops(p, preprocess, crops)));
  loaded.forEach((c, i) => out.set(c, i * per));
  return out;
}

/** The network inputs of `images` in batches, the next decoded while the current one is worked on. */
export function inputBatches<T extends ImageSource>(
  images: readonly T[],
  preprocess: PreprocessOptions,
  imagesPerBatch: number,
  crops: readonly Shift[] = CENTRE_CROP,
): AsyncGenerator<LoadedBatch<T, Float32Array>> {
  return prefetchedBatches(images, imagesPerBatch, (batch) => loadImageBatch(batch, preprocess, crops));
}

/** What a method asks of each batch, and how the batches are made. */
export interface FeaturePlan {
  /** Resize and crop of the images. */
  preprocess: PreprocessOptions;
  /** Images per batch (each with all its crops). */
  imagesPerBatch: number;
  /** The crops of each image, the unshifted one first (default: the unshifted crop alone). */
  crops?: readonly Shift[];
  /** The feature grid of these channels of every crop, channel-major [images × crops, d, P]. */
  channels?: Int32Array;
  /** The raw outputs of PATCH_STAGES of each image's first crop, for patch features (parts/patchBank.ts). */
  patchStages?: boolean;
}

/** One batch of {@link forEachFeatureBatch}. */
export interface FeatureBatch<T> {
  /** Index of the batch's first image in the list. */
  start: number;
  /** The batch's images. */
  items: readonly T[];
  /** The feature grid the plan's `channels` ask for, else null. */
  features: Float32Array | null;
  /** The patch-feature stages the plan asks for, else null. */
  stages: FloatTensor[] | null;
}

/**
 * Runs the images through the backbone batch by batch as `plan` asks and hands each batch to `onBatch`, in order.
 * Where both the grid and the stages are wanted from the same crops, one backbone pass gives both.
 */
export async function forEachFeatureBatch<T extends ImageSource>(
  images: readonly T[],
  extractor: FeatureExtractor,
  plan: FeaturePlan,
  onBatch: (batch: FeatureBatch<T>) => Promise<void> | void,
): Promise<void> {
  const crops = plan.crops ?? CENTRE_CROP;
  const perCrop = 3 * inputPixels(plan.preprocess);
  const positions = extractor.gridHeight * extractor.gridWidth;
  for await (const { start, items, loaded: inputs } of inputBatches(images, plan.preprocess, plan.imagesPerBatch, crops)) {
    const copies = items.length * crops.length;
    let features: Float32Array | null = null;
    let stages: FloatTensor[] | null = null;
    if (plan.channels && plan.patchStages && crops.length === 1) {
      ({ features, stages } = await extractor.extractWithStages(inputs, copies, plan.channels, PATCH_STAGES));
    } else {
      if (plan.channels) features = await extractor.extract(inputs, copies, plan.channels);
      if (plan.patchStages) stages = await patchStages(extractor, firstCrops(inputs, items.length, crops.length, perCrop), items.length);
    }
    if (plan.channels && features!.length !== copies * plan.channels.length * positions) throw new Error('feature extractor returned an unexpected size');
    await onBatch({ start, items, features, stages });
  }
}

/** The first of each image's `copies` crops (each `perCrop` values): the inputs themselves when there is one. */
function firstCrops(inputs: Float32Array, images: number, copies: number, perCrop: number): Float32Array {
  if (copies === 1) return inputs;
  const out = new Float32Array(images * perCrop);
  for (let j = 0; j < images; j++) out.set(inputs.subarray(j * copies * perCrop, (j * copies + 1) * perCrop), j * perCrop);
  return out;
}

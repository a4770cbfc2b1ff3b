/**
 * Evaluation on an MVTec-layout test set: scores every test image, reads the ground-truth masks (after
 * scoring, never while fitting) and computes the paper's metrics.
 */
import type { LabelledImage } from '../data/mvtec.js';
import { loadMask } from '../image/mask.js';
import { imageSourceSize } from '../image/source.js';
import type { PreprocessOptions } from '../image/preprocess.js';
import type { ImageSize } from '../image/wholeImage.js';
import { auroc, f1Max, perRegionOverlap, pixelGroundTruth } from '../metrics/index.js';

/** The metrics of one evaluation, as fractions in [0, 1]. */
export interface EvaluationMetrics {
  image_auroc: number;
  /** Over the images with a ground truth; null when no defective image has a mask (labelled folders only). */
  pixel_auroc: number | null;
  /** As pixel_auroc. */
  pro: number | null;
  image_f1_max: number;
}

/** Per-image outcome, kept for reports. */
export interface ImageOutcome {
  path: string;
  defect: string;
  label: 0 | 1;
  score: number;
}

/**
 * Reads the ground truth of one test image on its anomaly map's pixels (`map`, the map's size): all zeros for a
 * good image, null for a defective one without a mask (it counts for the image metrics only).
 */
export async function groundTruthMask(item: LabelledImage, preprocess: PreprocessOptions, map: ImageSize): Promise<Uint8Array | null> {
  if (item.label === 0) return new Uint8Array(map.width * map.height);
  if (item.maskPath === null) return null;
  return loadMask(item.maskPath, preprocess, await imageSourceSize(item.path), map);
}

/**
 * Computes the metrics from image scores, maps and masks (row-major, each map of its size in `shapes`; a null
 * mask: a defective image without ground truth, left out of the pixel metrics).
 */
export function computeMetrics(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  maps: readonly Float32Array[],
  masks: readonly (Uint8Array | null)[],
  shapes: readonly ImageSize[],
): EvaluationMetrics {
  const pixels = pixelGroundTruth(maps, masks);
  const kept = pixels.images.map((i) => shapes[i]!);
  return {
    image_auroc: auroc(scores, labels),
    pixel_auroc: pixels.anyDefect ? auroc(pixels.scores, pixels.labels) : null,
    pro: pixels.anyDefect ? perRegionOverlap(pixels.maps, pixels.masks, kept.map((s) => s.width), kept.map((s) => s.height)) : null,
    image_f1_max: f1Max(scores, labels).f1,
  };
}

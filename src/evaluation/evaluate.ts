/**
 * Evaluation on an MVTec-layout test set: scores every test image, reads the ground-truth masks (after
 * scoring, never while fitting) and computes the paper's metrics.
 */
import type { LabelledImage } from '../data/mvtec.js';
import { imageSize, loadMask } from '../image/mask.js';
import type { PreprocessOptions } from '../image/preprocess.js';
import { auroc, f1Max, perRegionOverlap } from '../metrics/index.js';

/** The metrics of one evaluation, as fractions in [0, 1]. */
export interface EvaluationMetrics {
  image_auroc: number;
  pixel_auroc: number;
  pro: number;
  image_f1_max: number;
}

/** Per-image outcome, kept for reports. */
export interface ImageOutcome {
  path: string;
  defect: string;
  label: 0 | 1;
  score: number;
}

/** Reads the ground truth of one test image at the network's input resolution (all zeros for good images). */
export async function groundTruthMask(item: LabelledImage, preprocess: PreprocessOptions, size: number): Promise<Uint8Array> {
  if (item.label === 0 || item.maskPath === null) return new Uint8Array(size * size);
  return loadMask(item.maskPath, preprocess, await imageSize(item.path));
}

/** Computes the metrics from image scores, maps and masks (maps and masks are size×size, row-major). */
export function computeMetrics(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  size: number,
): EvaluationMetrics {
  const n = size * size;
  const allScores = new Float32Array(maps.length * n);
  const allLabels = new Uint8Array(maps.length * n);
  maps.forEach((m, i) => allScores.set(m, i * n));
  masks.forEach((m, i) => allLabels.set(m, i * n));
  return {
    image_auroc: auroc(scores, labels),
    pixel_auroc: auroc(allScores, allLabels),
    pro: perRegionOverlap(maps, masks, size, size),
    image_f1_max: f1Max(scores, labels).f1,
  };
}

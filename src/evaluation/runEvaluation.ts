/**
 * Scores a dataset's test images with a detector and measures it: the glue between Detector and metrics.
 * Masks are read only here, after every score is known, so no test label can influence a fit.
 */
import type { MvtecDataset } from '../data/mvtec.js';
import type { Detector } from '../detector/detector.js';
import { computeMetrics, groundTruthMask, type EvaluationMetrics, type ImageOutcome } from './evaluate.js';
import { NpadInputError } from '../errors.js';
import type { ProgressCallback } from '../method/types.js';
import type { ImageSize } from '../image/wholeImage.js';

export interface DatasetEvaluation {
  metrics: EvaluationMetrics;
  outcomes: ImageOutcome[];
  /** Seconds spent scoring the test images (backbone included). */
  scoreSeconds: number;
  /** Anomaly maps in test order, for reports. */
  maps: Float32Array[];
  /** Each map's width and height. */
  shapes: ImageSize[];
  /** Ground truths in test order: null for a defective image without a mask. */
  masks: (Uint8Array | null)[];
}

/**
 * AUROC ranks defective images against good ones: a test set needs both. Checked before any scoring (`npad eval`
 * checks it itself, after skipping unreadable images, before it fits).
 * @throws NpadInputError naming the dataset and the two counts
 */
function checkEvaluable(dataset: MvtecDataset): void {
  const defective = dataset.test.filter((t) => t.label === 1).length;
  if (defective === 0 || defective === dataset.test.length) {
    throw new NpadInputError(
      `${dataset.root}: the test set has ${dataset.test.length - defective} good and ${defective} defective images (after any skipped): evaluation needs both`,
      dataset.root,
    );
  }
}

/** What evaluation needs of a detector: a Detector or a DetectorEnsemble. */
export type ImageScorer = Pick<Detector, 'config' | 'score'>;

export async function evaluateDetector(detector: ImageScorer, dataset: MvtecDataset, progress?: ProgressCallback): Promise<DatasetEvaluation> {
  checkEvaluable(dataset);
  const test = dataset.test;
  const maps: Float32Array[] = new Array<Float32Array>(test.length);
  const shapes: ImageSize[] = new Array<ImageSize>(test.length);
  const scores = new Float64Array(test.length);
  const started = performance.now();
  await detector.score(
    test.map((t) => t.path),
    (i, r) => {
      maps[i] = r.map;
      shapes[i] = { width: r.width, height: r.height };
      scores[i] = r.score;
      progress?.('scoring', i + 1, test.length);
    },
  );
  const scoreSeconds = (performance.now() - started) / 1000;
  const masks: (Uint8Array | null)[] = [];
  for (const [i, item] of test.entries()) masks.push(await groundTruthMask(item, detector.config.preprocess, shapes[i]!));
  const labels = test.map((t) => t.label);
  return {
    metrics: computeMetrics(scores, labels, maps, masks, shapes),
    outcomes: test.map((t, i) => ({ path: t.path, defect: t.defect, label: t.label, score: scores[i]! })),
    scoreSeconds,
    maps,
    shapes,
    masks,
  };
}

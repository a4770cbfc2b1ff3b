/**
 * Receiver operating characteristic: AUROC and the ROC curve.
 *
 * Used both image-level (one score per image) and pixel-level (one score per
 * pixel of every test image, i.e. tens of millions of values), so everything
 * here works on per-class sorted typed-array copies (see sorted-split.ts) and
 * never materialises per-sample objects.
 */

import { createCurveSampler } from './downsample.js';
import { sortScoresByClass } from './sorted-split.js';
import { countDistinctThresholds, sweepThresholdsDescending } from './sweep.js';
import { assertBothClasses, assertIntegerAtLeast } from './validate.js';

/** A ROC curve, vertices ordered by decreasing threshold (increasing FPR and TPR). */
export interface RocCurve {
  /** False-positive rate of each vertex: nominal samples with score ≥ threshold / all nominal samples. */
  readonly fpr: Float64Array;
  /** True-positive rate of each vertex: anomalous samples with score ≥ threshold / all anomalous samples. */
  readonly tpr: Float64Array;
  /** Threshold of each vertex; the first vertex (0, 0) has +Infinity ("flag nothing"). */
  readonly thresholds: Float64Array;
}

/** Default number of points of a plotted curve: plenty for a figure, tiny in JSON. */
export const DEFAULT_CURVE_POINTS = 512;

/**
 * Area under the ROC curve, exactly: the trapezoid rule over the ROC vertices
 * with tied scores forming one (diagonal) step, which equals the Mann–Whitney U
 * statistic with ties counting 1/2, divided by (#anomalous · #nominal).
 *
 * O(n log n) time via native typed-array sorts; extra memory is one copy of the
 * scores (4 bytes per value for a Float32Array input, 8 otherwise).
 *
 * @param scores - anomaly scores, higher = more anomalous; NaN is rejected
 * @param labels - 1 = anomalous, 0 = nominal, same length as `scores`; both classes must occur
 * @returns the AUROC in [0, 1]: 1 = every anomalous sample outscores every nominal one, 0.5 = chance
 * @throws RangeError on length mismatch, empty input, NaN score, a label other than 0/1, or a missing class
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const byClass = sortScoresByClass(scores, labels);
  assertBothClasses(byClass);
  // Twice the area in units of (one nominal) × (one anomalous): every term is an
  // integer below 2·P·N < 2^53 for any realistic n, so the sum is exact.
  let doubledArea = 0;
  let previousTruePositives = 0;
  let previousFalsePositives = 0;
  sweepThresholdsDescending(byClass.positiveScores, byClass.negativeScores, (_threshold, truePositives, falsePositives) => {
    doubledArea += (falsePositives - previousFalsePositives) * (truePositives + previousTruePositives);
    previousTruePositives = truePositives;
    previousFalsePositives = falsePositives;
    return true;
  });
  return doubledArea / (2 * byClass.positives * byClass.negatives);
}

/**
 * The ROC curve, from (0, 0) to (1, 1), down-sampled for plotting.
 *
 * Every distinct score is a vertex; if there are more than `maxPoints` vertices,
 * points are kept evenly spaced along the curve (see downsample.ts), always
 * including (0, 0) and (1, 1). The trapezoid area under the un-sampled curve
 * equals {@link auroc}.
 *
 * @param scores - anomaly scores, higher = more anomalous; NaN is rejected
 * @param labels - 1 = anomalous, 0 = nominal, same length as `scores`; both classes must occur
 * @param maxPoints - the most points to return (integer ≥ 2), default 512
 * @throws RangeError on invalid input (as {@link auroc}) or maxPoints < 2
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = DEFAULT_CURVE_POINTS): RocCurve {
  // Checked before the (possibly multi-second) sort so a bad argument fails fast.
  assertIntegerAtLeast('maxPoints', maxPoints, 2);
  const byClass = sortScoresByClass(scores, labels);
  assertBothClasses(byClass);
  const { positiveScores, negativeScores, positives, negatives } = byClass;
  const vertexCount = 1 + countDistinctThresholds(positiveScores, negativeScores);
  // Arc position fpr + tpr runs from 0 to 2 along the curve.
  const sampler = createCurveSampler(maxPoints, vertexCount, 2);
  const capacity = Math.min(maxPoints, vertexCount);
  const fpr = new Float64Array(capacity);
  const tpr = new Float64Array(capacity);
  const thresholds = new Float64Array(capacity);
  thresholds[0] = Number.POSITIVE_INFINITY;
  let kept = 1;
  sweepThresholdsDescending(positiveScores, negativeScores, (threshold, truePositives, falsePositives) => {
    const isLast = truePositives === positives && falsePositives === negatives;
    const falsePositiveRate = falsePositives / negatives;
    const truePositiveRate = truePositives / positives;
    if (isLast || sampler.keepInterior(falsePositiveRate + truePositiveRate)) {
      fpr[kept] = falsePositiveRate;
      tpr[kept] = truePositiveRate;
      thresholds[kept] = threshold;
      kept++;
    }
    return true;
  });
  return { fpr: fpr.slice(0, kept), tpr: tpr.slice(0, kept), thresholds: thresholds.slice(0, kept) };
}

/**
 * F1-max: the best F1 score over all thresholds, a threshold-free summary that,
 * unlike AUROC, is sensitive to class imbalance (common for pixel-level metrics,
 * where defects cover a few percent of the pixels).
 */

import { sortScoresByClass } from './sorted-split.js';
import { sweepThresholdsDescending } from './sweep.js';

/** The operating point with the highest F1. */
export interface F1Max {
  /** The best F1 = 2·precision·recall / (precision + recall). */
  readonly f1: number;
  /** The score value achieving it: predict anomalous when score ≥ threshold. */
  readonly threshold: number;
  /** Precision at that threshold: true positives / predicted positives. */
  readonly precision: number;
  /** Recall at that threshold: true positives / all anomalous samples. */
  readonly recall: number;
}

/**
 * Best F1 over every threshold that changes the prediction, i.e. every distinct
 * score value (predict anomalous when score ≥ threshold). Tied scores are
 * always predicted together. If several thresholds reach the same best F1, the
 * highest one is returned (the most conservative detector).
 *
 * O(n log n) time; extra memory is one copy of the scores.
 *
 * @param scores - anomaly scores, higher = more anomalous; NaN is rejected
 * @param labels - 1 = anomalous, 0 = nominal, same length as `scores`; at least one 1
 * @throws RangeError on length mismatch, empty input, NaN score, a label other than 0/1, or no anomalous label
 */
export function f1Max(scores: ArrayLike<number>, labels: ArrayLike<number>): F1Max {
  const byClass = sortScoresByClass(scores, labels);
  const { positives } = byClass;
  // Without anomalous samples recall is 0/0 at every threshold; nominal samples are optional.
  if (positives === 0) {
    throw new RangeError('labels contain no anomalous (1) entry: F1 is undefined without positives');
  }
  // Only the counts of the best step are remembered; precision/recall are derived once at the end.
  let bestF1 = -1;
  let bestThreshold = Number.NaN;
  let bestTruePositives = 0;
  let bestFalsePositives = 0;
  sweepThresholdsDescending(byClass.positiveScores, byClass.negativeScores, (threshold, truePositives, falsePositives) => {
    // F1 = 2TP / (2TP + FP + FN) = 2TP / (TP + FP + P); no division by zero since P > 0.
    const f1 = (2 * truePositives) / (truePositives + falsePositives + positives);
    if (f1 > bestF1) {
      bestF1 = f1;
      bestThreshold = threshold;
      bestTruePositives = truePositives;
      bestFalsePositives = falsePositives;
    }
    return true;
  });
  return {
    f1: bestF1,
    threshold: bestThreshold,
    // The sweep visits at least one step, so the best step predicts at least one sample.
    precision: bestTruePositives / (bestTruePositives + bestFalsePositives),
    recall: bestTruePositives / positives,
  };
}

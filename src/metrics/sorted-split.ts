/**
 * Splitting scores by class into two sorted typed arrays.
 *
 * Threshold metrics only need, for every threshold, how many samples of each class
 * score at or above it. Sorting each class separately with the native (comparator-
 * free) typed-array sort gives exactly that, without an index array, a comparator
 * call per comparison, or an array of {score, label} objects — which matters for
 * pixel-level metrics over tens of millions of values.
 */

import { assertNoNaN, assertSameNonEmptyLength, countBinaryLabels, type ClassCounts } from './validate.js';

/** Scores sorted ascending; Float32Array when the input was float32, so the copy costs 4 bytes per value. */
export type SortedScores = Float32Array | Float64Array;

/** Scores of each class, each sorted ascending. */
export interface ScoresByClass extends ClassCounts {
  /** Scores of the entries labelled 1 (anomalous), ascending. */
  readonly positiveScores: SortedScores;
  /** Scores of the entries labelled 0 (nominal), ascending. */
  readonly negativeScores: SortedScores;
}

/**
 * Validates `scores`/`labels` and returns the scores of each class sorted ascending.
 * A Float32Array input is copied into Float32Arrays (exact, half the memory of
 * float64); any other input into Float64Arrays so no precision is lost.
 * @param scores - anomaly scores; NaN is rejected
 * @param labels - 1 = anomalous, 0 = nominal; anything else is rejected
 */
export function sortScoresByClass(scores: ArrayLike<number>, labels: ArrayLike<number>): ScoresByClass {
  assertSameNonEmptyLength(scores, labels);
  assertNoNaN(scores);
  const counts = countBinaryLabels(labels);
  const allocate = scores instanceof Float32Array
    ? (length: number): SortedScores => new Float32Array(length)
    : (length: number): SortedScores => new Float64Array(length);
  const positiveScores = allocate(counts.positives);
  const negativeScores = allocate(counts.negatives);
  let nextPositive = 0;
  let nextNegative = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] === 1) positiveScores[nextPositive++] = scores[i]!;
    else negativeScores[nextNegative++] = scores[i]!;
  }
  positiveScores.sort();
  negativeScores.sort();
  return { ...counts, positiveScores, negativeScores };
}

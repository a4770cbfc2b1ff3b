/**
 * The threshold sweep every curve metric here is built on: walk two ascending
 * score lists from the top down, one distinct score value at a time.
 *
 * Processing all samples that share a score as one step is what makes ties come
 * out right: a threshold cannot separate equal scores, so the curve moves
 * diagonally across a tie instead of taking an arbitrary staircase through it —
 * which is exactly the "ties count 1/2" convention of Mann–Whitney U.
 */

import type { SortedScores } from './sorted-split.js';

/**
 * Called once per distinct score value, from the highest to the lowest, after the
 * samples with that score have been counted in.
 * @param threshold - the score value; "predict anomalous when score ≥ threshold"
 * @param positivesAtOrAbove - how many positive-class scores are ≥ threshold
 * @param negativesAtOrAbove - how many negative-class scores are ≥ threshold
 * @returns false to stop the sweep early, true to continue
 */
export type ThresholdVisitor = (threshold: number, positivesAtOrAbove: number, negativesAtOrAbove: number) => boolean;

/**
 * Visits every distinct score of the two ascending lists, highest first, with the
 * cumulative counts of each list at or above it (see {@link ThresholdVisitor}).
 * Runs in O(positives + negatives) with no allocation.
 * @param positiveScores - ascending scores of the positive class
 * @param negativeScores - ascending scores of the negative class
 * @param visit - called once per distinct score; return false to stop
 */
export function sweepThresholdsDescending(
  positiveScores: SortedScores,
  negativeScores: SortedScores,
  visit: ThresholdVisitor,
): void {
  // Exclusive upper ends of the not-yet-visited parts of each ascending list.
  let positiveEnd = positiveScores.length;
  let negativeEnd = negativeScores.length;
  while (positiveEnd > 0 || negativeEnd > 0) {
    const topPositive = positiveEnd > 0 ? positiveScores[positiveEnd - 1]! : Number.NEGATIVE_INFINITY;
    const topNegative = negativeEnd > 0 ? negativeScores[negativeEnd - 1]! : Number.NEGATIVE_INFINITY;
    const threshold = topPositive > topNegative ? topPositive : topNegative;
    // `===` (not Object.is) so that -0 and +0, which sort next to each other, form one tie group.
    while (positiveEnd > 0 && positiveScores[positiveEnd - 1] === threshold) positiveEnd--;
    while (negativeEnd > 0 && negativeScores[negativeEnd - 1] === threshold) negativeEnd--;
    const keepGoing = visit(threshold, positiveScores.length - positiveEnd, negativeScores.length - negativeEnd);
    if (!keepGoing) return;
  }
}

/**
 * Counts the distinct score values across both ascending lists — the number of
 * vertices (besides the origin) that a full sweep would visit.
 * @param positiveScores - ascending scores of the positive class
 * @param negativeScores - ascending scores of the negative class
 */
export function countDistinctThresholds(positiveScores: SortedScores, negativeScores: SortedScores): number {
  let count = 0;
  sweepThresholdsDescending(positiveScores, negativeScores, () => {
    count++;
    return true;
  });
  return count;
}

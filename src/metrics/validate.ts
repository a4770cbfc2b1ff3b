/**
 * Boundary checks shared by the metrics. Every metric validates its inputs once,
 * up front, so the hot loops that follow can assume clean data, and so a caller
 * gets an error that names the offending value instead of a silently wrong number.
 */

/** How many entries of a binary label vector fall in each class. */
export interface ClassCounts {
  /** Entries labelled 1 (anomalous). */
  readonly positives: number;
  /** Entries labelled 0 (nominal). */
  readonly negatives: number;
}

/**
 * Throws a RangeError unless `scores` and `labels` have the same, non-zero length.
 * @param scores - anomaly scores, one per sample
 * @param labels - ground-truth labels, one per sample
 */
export function assertSameNonEmptyLength(scores: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (scores.length !== labels.length) {
    throw new RangeError(
      `scores and labels must have the same length, got scores.length = ${scores.length} and labels.length = ${labels.length}`,
    );
  }
  if (scores.length === 0) {
    throw new RangeError('scores and labels are empty: a metric needs at least one sample');
  }
}

/**
 * Throws a RangeError at the first NaN score. Infinities are accepted because they
 * still order correctly (e.g. a log-likelihood of -Infinity); NaN has no order and
 * would make the result depend on where the sort happens to put it.
 * @param scores - anomaly scores
 * @param what - how the error message refers to the array, e.g. "scores" or "maps[3]"
 */
export function assertNoNaN(scores: ArrayLike<number>, what = 'scores'): void {
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) {
      throw new RangeError(`${what}[${i}] is NaN: every score must be a number`);
    }
  }
}

/**
 * Counts the classes of a label vector, throwing a RangeError at the first entry
 * that is neither 0 nor 1 (catches e.g. 0/255 masks or boolean-ish floats).
 * @param labels - ground-truth labels, 1 = anomalous, 0 = nominal
 * @param what - how the error message refers to the array
 */
export function countBinaryLabels(labels: ArrayLike<number>, what = 'labels'): ClassCounts {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label === 1) positives++;
    else if (label !== 0) {
      throw new RangeError(`${what}[${i}] = ${String(label)}: labels must be 0 (nominal) or 1 (anomalous)`);
    }
  }
  return { positives, negatives: labels.length - positives };
}

/**
 * Throws a RangeError unless both classes occur, because rank metrics such as
 * AUROC compare anomalous against nominal samples and are undefined otherwise.
 * @param counts - class counts from {@link countBinaryLabels}
 */
export function assertBothClasses(counts: ClassCounts): void {
  if (counts.positives === 0 || counts.negatives === 0) {
    throw new RangeError(
      `labels must contain both classes, got ${counts.positives} anomalous (1) and ${counts.negatives} nominal (0) entries`,
    );
  }
}

/**
 * Throws a RangeError unless `value` is an integer ≥ `minimum`.
 * @param name - parameter name used in the message
 * @param value - the value to check
 * @param minimum - smallest accepted value
 */
export function assertIntegerAtLeast(name: string, value: number, minimum: number): void {
  if (!Number.isInteger(value) || value < minimum) {
    throw new RangeError(`${name} must be an integer ≥ ${minimum}, got ${String(value)}`);
  }
}

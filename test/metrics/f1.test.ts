import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { f1Max } from '../../src/metrics/f1.js';
import { seededRandom, tiedScores } from './random.js';

/** F1 when predicting anomalous for score ≥ threshold, counted directly. */
function f1At(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): number {
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i]! >= threshold;
    if (flagged && labels[i] === 1) truePositives++;
    else if (flagged) falsePositives++;
    else if (labels[i] === 1) falseNegatives++;
  }
  return (2 * truePositives) / (2 * truePositives + falsePositives + falseNegatives);
}

/** Brute-force reference: try every score value as the threshold. */
function bruteForceF1Max(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let best = 0;
  for (let i = 0; i < scores.length; i++) best = Math.max(best, f1At(scores, labels, scores[i]!));
  return best;
}

describe('f1Max', () => {
  it('matches a hand computation', () => {
    // Anomalous 0.35, 0.8; nominal 0.1, 0.4. F1 = 2TP / (2TP + FP + FN) per threshold:
    // 0.8: TP 1, FP 0, FN 1 → 2/3;  0.4: TP 1, FP 1, FN 1 → 1/2;
    // 0.35: TP 2, FP 1, FN 0 → 4/5 (precision 2/3, recall 1);  0.1: TP 2, FP 2 → 2/3.
    const best = f1Max([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
    assert.equal(best.threshold, 0.35);
    assert.ok(Math.abs(best.f1 - 0.8) < 1e-15);
    assert.ok(Math.abs(best.precision - 2 / 3) < 1e-15);
    assert.equal(best.recall, 1);
  });

  it('predicts tied scores together', () => {
    // Anomalous 0.9, 0.5; nominal 0.5, 0.5, 0.1. Threshold 0.5 flags all three 0.5s at once:
    // 0.9: TP 1, FP 0, FN 1 → 2/3;  0.5: TP 2, FP 2, FN 0 → 4/6 = 2/3;  0.1: TP 2, FP 3 → 4/7.
    // The tie 2/3 = 2/3 goes to the higher threshold, 0.9 (precision 1, recall 1/2).
    const best = f1Max([0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0, 0]);
    assert.deepEqual(best, { f1: 2 / 3, threshold: 0.9, precision: 1, recall: 0.5 });
  });

  it('is 1 for perfect separation; handles reversed scores and all-tied scores', () => {
    assert.deepEqual(f1Max([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), { f1: 1, threshold: 0.8, precision: 1, recall: 1 });
    // Reversed (anomalous 0.1, 0.2 below nominal 0.8, 0.9): at 0.2 TP 1, FP 2 → 2/5; at 0.1 TP 2, FP 2 → 4/6.
    const reversed = f1Max([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]);
    assert.equal(reversed.threshold, 0.1);
    assert.ok(Math.abs(reversed.f1 - 2 / 3) < 1e-15);
    // All tied: one threshold flags everything, F1 = 2P / (2P + N) = 4 / 7 for P = 2, N = 3.
    assert.deepEqual(f1Max([5, 5, 5, 5, 5], [0, 1, 0, 1, 0]), { f1: 4 / 7, threshold: 5, precision: 2 / 5, recall: 1 });
  });

  it('accepts input without nominal samples', () => {
    assert.deepEqual(f1Max([0.3, 0.7], [1, 1]), { f1: 1, threshold: 0.3, precision: 1, recall: 1 });
  });

  it('matches the threshold-by-threshold brute force on random tied data', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const scores = tiedScores(random, 200, 1 + Math.floor(random() * 30));
      const labels = Uint8Array.from(scores, (score) => (random() < 0.1 + 0.5 * score ? 1 : 0));
      if (!labels.includes(1)) labels[0] = 1;
      const best = f1Max(scores, labels);
      assert.ok(Math.abs(best.f1 - bruteForceF1Max(scores, labels)) < 1e-12, `seed ${seed}`);
      // The reported threshold must really achieve the reported F1, precision and recall.
      assert.ok(Math.abs(f1At(scores, labels, best.threshold) - best.f1) < 1e-12, `seed ${seed}`);
      const harmonicMean = (2 * best.precision * best.recall) / (best.precision + best.recall);
      assert.ok(Math.abs(harmonicMean - best.f1) < 1e-12, `seed ${seed}`);
    }
  });

  it('rejects bad input with a message naming the problem', () => {
    assert.throws(() => f1Max([0.1, 0.2, 0.3], [0, 1]), { name: 'RangeError', message: /same length.*3.*2/ });
    assert.throws(() => f1Max([Number.NaN, 0.2], [0, 1]), { name: 'RangeError', message: /scores\[0\] is NaN/ });
    assert.throws(() => f1Max([0.1, 0.2], [0, 0.5]), { name: 'RangeError', message: /labels\[1\] = 0.5/ });
    assert.throws(() => f1Max([0.1, 0.2], [0, 0]), { name: 'RangeError', message: /no anomalous/ });
  });
});

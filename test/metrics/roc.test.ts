import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { auroc, rocCurve } from '../../src/metrics/roc.js';
import { seededRandom, tiedScores } from './random.js';

/** O(P·N) Mann–Whitney reference: fraction of (anomalous, nominal) pairs ordered right, ties counting 1/2. */
function pairwiseAuroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      if (scores[i]! > scores[j]!) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

/** Trapezoid area under a polyline. */
function trapezoidArea(x: Float64Array, y: Float64Array): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return area;
}

describe('auroc', () => {
  it('matches a hand computation without ties', () => {
    // Anomalous 0.35, 0.8; nominal 0.1, 0.4. Pairs: 0.35>0.1 ✓, 0.35>0.4 ✗, 0.8>0.1 ✓, 0.8>0.4 ✓ → 3/4.
    assert.equal(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  });

  it('counts ties as 1/2', () => {
    // Anomalous 0.5, 0.9, 0.5; nominal 0.2, 0.5.
    // 0.5 vs (0.2, 0.5): 1 + 1/2; 0.9 vs both: 2; the other 0.5: 1 + 1/2 → 5 of 3·2 = 6 pairs.
    assert.equal(auroc([0.2, 0.5, 0.5, 0.9, 0.5], [0, 0, 1, 1, 1]), 5 / 6);
  });

  it('is 1 for perfect separation, 0 when reversed, 0.5 when all scores tie', () => {
    assert.equal(auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
    assert.equal(auroc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]), 0);
    assert.equal(auroc([3, 3, 3, 3, 3], [0, 1, 0, 1, 1]), 0.5);
  });

  it('orders infinities and treats -0 and +0 as a tie', () => {
    // Anomalous +∞, 0; nominal -∞, -0 → 1 + 1 + 1 + 1/2 of 4 pairs.
    assert.equal(auroc([Infinity, 0, -Infinity, -0], [1, 1, 0, 0]), 3.5 / 4);
  });

  it('matches the pairwise Mann–Whitney reference on random tied data', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const scores = tiedScores(random, 200, 1 + Math.floor(random() * 30));
      const labels = Uint8Array.from(scores, (score) => (random() < 0.3 + 0.4 * score ? 1 : 0));
      const expected = pairwiseAuroc(scores, labels);
      assert.ok(Math.abs(auroc(scores, labels) - expected) < 1e-12, `seed ${seed}`);
      // The float32 path (Float32Array copies) must agree too.
      const float32Scores = Float32Array.from(scores);
      assert.ok(Math.abs(auroc(float32Scores, labels) - pairwiseAuroc(float32Scores, labels)) < 1e-12, `seed ${seed}`);
    }
  });

  it('rejects bad input with a message naming the problem', () => {
    assert.throws(() => auroc([0.1, 0.2], [0, 1, 1]), { name: 'RangeError', message: /same length.*2.*3/ });
    assert.throws(() => auroc([], []), { name: 'RangeError', message: /empty/ });
    assert.throws(() => auroc([0.1, Number.NaN], [0, 1]), { name: 'RangeError', message: /scores\[1\] is NaN/ });
    assert.throws(() => auroc([0.1, 0.2], [0, 255]), { name: 'RangeError', message: /labels\[1\] = 255/ });
    assert.throws(() => auroc([0.1, 0.2], [1, 1]), { name: 'RangeError', message: /both classes.*2 anomalous.*0 nominal/ });
  });
});

describe('rocCurve', () => {
  it('matches a hand computation', () => {
    // Thresholds by decreasing score (P = N = 2):
    // +∞ → (0, 0); 0.8 flags anomalous → (0, 1/2); 0.4 flags nominal → (1/2, 1/2);
    // 0.35 flags anomalous → (1/2, 1); 0.1 flags nominal → (1, 1).
    const curve = rocCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
    assert.deepEqual(Array.from(curve.fpr), [0, 0, 0.5, 0.5, 1]);
    assert.deepEqual(Array.from(curve.tpr), [0, 0.5, 0.5, 1, 1]);
    assert.deepEqual(Array.from(curve.thresholds), [Infinity, 0.8, 0.4, 0.35, 0.1]);
  });

  it('takes a tie as one diagonal step', () => {
    // All four scores tie: a single step from (0, 0) straight to (1, 1).
    const curve = rocCurve([2, 2, 2, 2], [0, 1, 0, 1]);
    assert.deepEqual(Array.from(curve.fpr), [0, 1]);
    assert.deepEqual(Array.from(curve.tpr), [0, 1]);
    assert.deepEqual(Array.from(curve.thresholds), [Infinity, 2]);
  });

  it('has area equal to auroc when not down-sampled', () => {
    const random = seededRandom(7);
    const scores = tiedScores(random, 300, 40);
    const labels = Uint8Array.from(scores, (score) => (random() < score ? 1 : 0));
    const curve = rocCurve(scores, labels, 10_000);
    assert.ok(Math.abs(trapezoidArea(curve.fpr, curve.tpr) - auroc(scores, labels)) < 1e-12);
  });

  it('down-samples to at most maxPoints, keeping (0, 0) and (1, 1) and monotonicity', () => {
    const random = seededRandom(11);
    const scores = new Float32Array(20_000);
    const labels = new Uint8Array(scores.length);
    for (let i = 0; i < scores.length; i++) {
      labels[i] = random() < 0.1 ? 1 : 0;
      scores[i] = random() + labels[i]! * 0.5;
    }
    for (const maxPoints of [2, 3, 64, 512]) {
      const curve = rocCurve(scores, labels, maxPoints);
      const last = curve.fpr.length - 1;
      assert.ok(curve.fpr.length <= maxPoints, `${curve.fpr.length} points for maxPoints ${maxPoints}`);
      assert.ok(curve.fpr.length >= Math.min(maxPoints, 0.5 * maxPoints + 1), 'sampler should use most of the budget');
      assert.deepEqual([curve.fpr[0], curve.tpr[0], curve.fpr[last], curve.tpr[last]], [0, 0, 1, 1]);
      for (let i = 1; i <= last; i++) {
        assert.ok(curve.fpr[i]! >= curve.fpr[i - 1]! && curve.tpr[i]! >= curve.tpr[i - 1]!);
        assert.ok(curve.thresholds[i]! < curve.thresholds[i - 1]!);
      }
    }
    // With a fine sampling the area is close to the exact AUROC.
    const fine = rocCurve(scores, labels, 512);
    assert.ok(Math.abs(trapezoidArea(fine.fpr, fine.tpr) - auroc(scores, labels)) < 2e-3);
  });

  it('rejects a maxPoints below 2 or not an integer', () => {
    assert.throws(() => rocCurve([0, 1], [0, 1], 1), { name: 'RangeError', message: /maxPoints.*got 1/ });
    assert.throws(() => rocCurve([0, 1], [0, 1], 2.5), { name: 'RangeError', message: /maxPoints.*got 2.5/ });
  });
});

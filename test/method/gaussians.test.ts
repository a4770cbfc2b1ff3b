import test from 'node:test';
import assert from 'node:assert/strict';
import { PositionStatistics } from '../../src/engine/positionStatistics.js';
import { invertReference, covarianceReference } from '../engine/reference.js';
import { fitPlainGaussians, fitWeightedGaussians } from '../../src/method/parts/gaussians.js';
import { computeNeighbourWeights } from '../../src/method/npad/neighbourWeights.js';
import { squareNeighbourhoods } from '../../src/method/npad/neighbourhood.js';
import { seededRandom } from '../../src/util/random.js';

async function statsOf(features: Float32Array, N: number, d: number, P: number): Promise<PositionStatistics> {
  const s = new PositionStatistics(P, d);
  await s.add(features, N);
  await s.flush();
  return s;
}

test('plain Gaussians: precision = inverse of covariance + εI', async () => {
  const random = seededRandom(7);
  const N = 12, d = 3, P = 2;
  const f = Float32Array.from({ length: N * d * P }, () => random());
  const grid = await fitPlainGaussians(await statsOf(f, N, d, P), 0.01);
  for (let p = 0; p < P; p++) {
    const x = new Float32Array(N * d);
    for (let n = 0; n < N; n++) for (let c = 0; c < d; c++) x[n * d + c] = f[(n * d + c) * P + p]!;
    const { cov } = covarianceReference(x, N, d);
    for (let c = 0; c < d; c++) cov[c * d + c]! += 0.01;
    const ref = invertReference(cov, d);
    const got = (grid.precisions[0] as Float32Array).subarray(p * d * d, (p + 1) * d * d);
    for (let k = 0; k < d * d; k++) assert.ok(Math.abs(got[k]! - ref[k]!) < 1e-3 * (1 + Math.abs(ref[k]!)));
  }
});

test('weighted Gaussians (module A) equal the weighted sample covariance computed directly', async () => {
  const random = seededRandom(8);
  const N = 9, d = 2, H = 2, W = 3, P = H * W;
  const f = Float32Array.from({ length: N * d * P }, () => random() * 3);
  const stats = await statsOf(f, N, d, P);
  const hood = squareNeighbourhoods(H, W, 1);
  const weights = await computeNeighbourWeights(stats, hood, { weighting: 'random', beta: 0.25, covariance: 'own', epsilon: 0.01, seed: 3 });
  const grid = await fitWeightedGaussians(stats, weights, 0.01);
  for (let p = 0; p < P; p++) {
    // Direct eq. 7–8: every sample of every neighbour, with its weight.
    let W8 = 0;
    const mu = [0, 0];
    for (let k = 0; k < hood.perPosition; k++) {
      const w = weights.weights[p * hood.perPosition + k]!;
      const q = hood.indices[p * hood.perPosition + k]!;
      for (let n = 0; n < N; n++) for (let c = 0; c < d; c++) mu[c]! += w * f[(n * d + c) * P + q]!;
      W8 += w * N;
    }
    mu[0]! /= W8; mu[1]! /= W8;
    const cov = new Float64Array(4);
    for (let k = 0; k < hood.perPosition; k++) {
      const w = weights.weights[p * hood.perPosition + k]!;
      const q = hood.indices[p * hood.perPosition + k]!;
      for (let n = 0; n < N; n++) for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) {
        cov[r * d + c]! += (w * (f[(n * d + r) * P + q]! - mu[r]!) * (f[(n * d + c) * P + q]! - mu[c]!)) / (W8 - 1);
      }
    }
    cov[0]! += 0.01; cov[3]! += 0.01;
    const ref = invertReference(cov, d);
    for (let c = 0; c < d; c++) assert.ok(Math.abs(grid.means[p * d + c]! - mu[c]!) < 1e-5);
    const got = (grid.precisions[0] as Float32Array).subarray(p * 4, p * 4 + 4);
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(got[k]! - ref[k]!) < 1e-3 * (1 + Math.abs(ref[k]!)), `p ${p}: ${Array.from(got)} vs ${Array.from(ref)}`);
  }
});

test('Bhattacharyya weights: 1 at the centre, exp(−D/(8β)) for a neighbour, 0 outside the grid', async () => {
  // Two positions, one channel: position 0 has samples {0, 2} (mean 1, var 2), position 1 {4, 6} (mean 5).
  const f = Float32Array.from([0, 4, 2, 6]); // [N=2, d=1, P=2]
  const stats = await statsOf(f, 2, 1, 2);
  const hood = squareNeighbourhoods(1, 2, 1);
  const w = await computeNeighbourWeights(stats, hood, { weighting: 'bhattacharyya', beta: 0.25, covariance: 'own', epsilon: 0, seed: 0 });
  // Window of position 0 (row-major 3×3): only offsets (0,0) → 0 and (0,+1) → 1 are inside.
  const row = Array.from(w.weights.subarray(0, 9));
  assert.equal(row[4], 1);
  // D = (1 − 5)² / var_0 / (8·0.25) = 16 / 2 / 2 = 4.
  assert.ok(Math.abs(row[5]! - Math.exp(-4)) < 1e-6, `got ${row[5]}`);
  assert.equal(row.filter((x, i) => i !== 4 && i !== 5 && x !== 0).length, 0);
});

test('exact Bhattacharyya uses the average covariance of the pair', async () => {
  // Position 0: {0, 2} (mean 1, var 2); position 1: {4, 8} (mean 6, var 8).
  const stats = await statsOf(Float32Array.from([0, 4, 2, 8]), 2, 1, 2);
  const hood = squareNeighbourhoods(1, 2, 1);
  const own = await computeNeighbourWeights(stats, hood, { weighting: 'bhattacharyya', beta: 0.25, covariance: 'own', epsilon: 0, seed: 0 });
  const avg = await computeNeighbourWeights(stats, hood, { weighting: 'bhattacharyya', beta: 0.25, covariance: 'average', epsilon: 0, seed: 0 });
  // own: 25 / 2 / 2 = 6.25; average: Σ̄ = (2 + 8)/2 = 5 → 25 / 5 / 2 = 2.5. From position 1: own 25 / 8 / 2.
  assert.ok(Math.abs(own.weights[5]! - Math.exp(-6.25)) < 1e-6);
  assert.ok(Math.abs(avg.weights[5]! - Math.exp(-2.5)) < 1e-6, `got ${avg.weights[5]}`);
  assert.ok(Math.abs(avg.weights[9 + 3]! - Math.exp(-2.5)) < 1e-6);
  assert.ok(Math.abs(own.weights[9 + 3]! - Math.exp(-25 / 16)) < 1e-6);
  assert.equal(avg.weights[4], 1);
  assert.equal(avg.weights[9 + 4], 1);
});

test('cross neighbourhoods keep only the row and the column', () => {
  const h = squareNeighbourhoods(3, 3, 1, 'cross');
  // Centre position 4: its 3×3 window minus the four corners.
  assert.deepEqual(Array.from(h.valid.subarray(4 * 9, 5 * 9)), [0, 1, 0, 1, 1, 1, 0, 1, 0]);
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { batchedInverse, batchedMahalanobis, centredGram, nearestCentroid } from '../../src/engine/kernels.js';
import { invertReference, mahalanobisReference } from '../../src/engine/reference.js';
import { kMeans } from '../../src/engine/kmeans.js';
import { seededRandom } from '../../src/util/random.js';

function randomSpd(d: number, random: () => number): Float64Array {
  // A Aᵀ + d·I is symmetric positive definite and well conditioned.
  const a = Array.from({ length: d * d }, () => random() - 0.5);
  const m = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += a[r * d + k]! * a[c * d + k]!;
    m[r * d + c] = s + (r === c ? 0.5 : 0);
  }
  return m;
}

test('batched inverse matches Gauss–Jordan on small SPD matrices', async () => {
  const random = seededRandom(1);
  const d = 7;
  const n = 5;
  const mats = Array.from({ length: n }, () => randomSpd(d, random));
  const input = new Float32Array(n * d * d);
  mats.forEach((m, i) => input.set(m, i * d * d));
  const inv = await batchedInverse(input, n, d);
  mats.forEach((m, i) => {
    const ref = invertReference(Float32Array.from(m), d);
    for (let k = 0; k < d * d; k++) assert.ok(Math.abs(inv[i * d * d + k]! - ref[k]!) < 1e-4 * (1 + Math.abs(ref[k]!)), `entry ${k}`);
  });
});

test('Mahalanobis kernel matches the plain formula', async () => {
  const random = seededRandom(2);
  const d = 6, P = 3, K = 4;
  const prec = new Float32Array(P * d * d);
  for (let p = 0; p < P; p++) prec.set(Float32Array.from(randomSpd(d, random)), p * d * d);
  const means = Float32Array.from({ length: P * d }, () => random());
  const x = Float32Array.from({ length: P * K * d }, () => random() * 2);
  const out = await batchedMahalanobis(x, means, prec, P, K, d);
  for (let p = 0; p < P; p++) for (let k = 0; k < K; k++) {
    const ref = mahalanobisReference(x.subarray((p * K + k) * d, (p * K + k + 1) * d), means.subarray(p * d, (p + 1) * d), prec.subarray(p * d * d, (p + 1) * d * d), d);
    assert.ok(Math.abs(out[p * K + k]! - ref) < 1e-4 * (1 + ref));
  }
});

test('centred Gram: sums and outer products per position', async () => {
  // P = 1, B = 2, d = 2: x = [1, 2], [3, 5]; reference [1, 1] → centred [0, 1], [2, 4].
  const { sums, grams } = await centredGram(Float32Array.from([1, 2, 3, 5]), Float32Array.from([1, 1]), 1, 2, 2);
  assert.deepEqual(Array.from(sums), [2, 5]);
  // [0,1]ᵀ[0,1] + [2,4]ᵀ[2,4] = [[0,0],[0,1]] + [[4,8],[8,16]]
  assert.deepEqual(Array.from(grams), [4, 8, 8, 17]);
});

test('nearest centroid: distances and indices by hand', async () => {
  const x = Float32Array.from([0, 0, 10, 10, 4, 0]);
  const c = Float32Array.from([1, 0, 9, 9]);
  const { distances, indices } = await nearestCentroid(x, 3, c, 2, 2);
  assert.deepEqual(Array.from(indices), [0, 1, 0]);
  assert.deepEqual(Array.from(distances).map((v) => Math.round(v * 1e4) / 1e4), [1, 2, 9]);
});

test('k-means separates two obvious clusters', async () => {
  const random = seededRandom(3);
  const n = 200;
  const x = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const off = i < n / 2 ? 0 : 100;
    x[2 * i] = off + random();
    x[2 * i + 1] = off + random();
  }
  const c = await kMeans(x, n, 2, { clusters: 2, iterations: 5, seed: 4 });
  const xs = [c[0]!, c[2]!].sort((a, b) => a - b);
  assert.ok(Math.abs(xs[0]! - 0.5) < 0.2 && Math.abs(xs[1]! - 100.5) < 0.2, `centroids ${Array.from(c)}`);
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { batchedMahalanobis, centredGram, mahalanobisOfRows, nearestMember } from '../../src/engine/kernels.js';
import { expandPrecisions, packPrecisions, quantisePrecisions, storedBlockBounds } from '../../src/engine/packedPrecision.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/tensorfile/safetensors.js';
import { invertReference, mahalanobisReference } from './reference.js';
import { assignToCentroids, kMeans } from '../../src/engine/kmeans.js';
import { seededRandom } from '../../src/util/random.js';
import { batchedInverse } from './onnxInverse.js';

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

/** A symmetric matrix of entries in [−0.5, 0.5) (the distances check the formula, not a Gaussian). */
function randomSymmetric(d: number, random: () => number): Float32Array {
  const m = new Float32Array(d * d);
  for (let r = 0; r < d; r++) for (let c = r; c < d; c++) m[r * d + c] = m[c * d + r] = random() - 0.5;
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

// d = 6 runs the unpacked graph; d = 384 the packed one, with the vectors as columns for K = 3 and 12 (12 padded
// to MLAS's 16) and as rows for K = 1 and 21 (mahalanobisProductForm).
for (const [d, P, K] of [[6, 3, 4], [384, 2, 3], [384, 3, 12], [384, 2, 1], [384, 2, 21]] as const) test(`Mahalanobis kernel matches the plain formula (d = ${d}, K = ${K})`, async () => {
  const random = seededRandom(2);
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

test('centred Gram: sums and outer products per position, from position-major vectors', async () => {
  // Two positions, B = 2, d = 2. Position 1 holds x = [1, 2], [3, 5]; reference [1, 1] → centred [0, 1], [2, 4].
  const vectors = Float32Array.from([9, 9, 9, 9, 1, 2, 3, 5]);
  const { sums, grams } = await centredGram(vectors, 2, 2, 2, Float32Array.from([9, 9, 1, 1]));
  assert.deepEqual(Array.from(sums), [0, 0, 2, 5]);
  // [0,1]ᵀ[0,1] + [2,4]ᵀ[2,4] = [[0,0],[0,1]] + [[4,8],[8,16]]
  assert.deepEqual(Array.from(grams), [0, 0, 0, 0, 4, 8, 8, 17]);
});

// Indices that repeat and skip rows, positions from the middle of a chunk; d = 384 runs the packed graph (4 strips),
// in both forms (K = 12 columns, K = 1 and 21 rows), and 40 positions make two runs of it.
for (const [d, K, Q] of [[5, 4, 3], [384, 12, 3], [384, 1, 40], [384, 21, 3]] as const) test(`Mahalanobis of rows gathered by index (d = ${d}, K = ${K}, ${Q} positions)`, async () => {
  const random = seededRandom(4);
  const N = 7;
  const rows = Float32Array.from({ length: N * d }, () => random() * 2 - 1);
  const indices = Int32Array.from({ length: Q * K }, () => Math.floor(random() * N));
  // Q + 1 matrices in the chunk; the kernel scores the last Q.
  const prec = new Float32Array((Q + 1) * d * d);
  for (let q = 0; q <= Q; q++) prec.set(randomSymmetric(d, random), q * d * d);
  const means = Float32Array.from({ length: Q * d }, () => random() - 0.5);
  const packed = packPrecisions(prec, Q + 1, d);
  const out = await mahalanobisOfRows(rows, indices, means, { packed, count: Q + 1, first: 1 }, Q, K, d);
  assert.equal(out.length, Q * K);
  for (let q = 0; q < Q; q++) for (let k = 0; k < K; k++) {
    const row = indices[q * K + k]!;
    const ref = mahalanobisReference(rows.subarray(row * d, (row + 1) * d), means.subarray(q * d, (q + 1) * d), prec.subarray((q + 1) * d * d, (q + 2) * d * d), d);
    assert.ok(Math.abs(out[q * K + k]! - ref) < 1e-4 * (1 + Math.abs(ref)), `q ${q} k ${k}`);
  }
});

test('Mahalanobis kernel on matrices as stored (f16, int8 with row scales, 8-row strips): the plain formula on the values they hold', async () => {
  const random = seededRandom(31);
  const [d, count, first, P, K] = [19, 5, 1, 3, 4];
  const bounds = storedBlockBounds(d, 'i8');
  const full = new Float32Array(count * d * d);
  for (let p = 0; p < count; p++) full.set(Float32Array.from(randomSpd(d, random)), p * d * d);
  const packed = packPrecisions(full, count, d, bounds);
  const { values, scales } = quantisePrecisions(packed, count, d, bounds);
  const half = float32ToFloat16Bits(packed);
  const means = Float32Array.from({ length: P * d }, () => random());
  const rows = Float32Array.from({ length: 10 * d }, () => random() * 2);
  const indices = Int32Array.from({ length: P * K }, () => Math.floor(random() * 10));
  for (const stored of [{ values, scales, bounds }, { values: half, scales: null, bounds }]) {
    const out = await mahalanobisOfRows(rows, indices, means, { packed: stored, count, first }, P, K, d);
    // What the stored values say, expanded in plain TypeScript: block upper-triangular, the same quadratic forms.
    const held = expandPrecisions(stored.values, count, d, bounds, stored.scales ?? undefined);
    for (let p = 0; p < P; p++) for (let k = 0; k < K; k++) {
      const x = rows.subarray(indices[p * K + k]! * d, (indices[p * K + k]! + 1) * d);
      const ref = mahalanobisReference(x, means.subarray(p * d, (p + 1) * d), held.subarray((first + p) * d * d, (first + p + 1) * d * d), d);
      assert.ok(Math.abs(out[p * K + k]! - ref) < 1e-4 * (1 + Math.abs(ref)), `${stored.scales ? 'i8' : 'f16'} position ${p} vector ${k}: ${out[p * K + k]} against ${ref}`);
    }
  }
});

test('nearest centroid: distances and indices by hand', async () => {
  const x = Float32Array.from([0, 0, 10, 10, 4, 0]);
  const c = Float32Array.from([1, 0, 9, 9]);
  const { distances, indices } = await assignToCentroids(x, 3, c, 2, 2);
  assert.deepEqual(Array.from(indices), [0, 1, 0]);
  assert.deepEqual(Array.from(distances).map((v) => Math.round(v * 1e4) / 1e4), [1, 2, 9]);
});

test('nearest centroid: equally near centroids go to the lowest index, as ArgMin did', async () => {
  // (0, 0) is at squared distance 1 from all four centroids, (1, 1) from centroids 0 and 1, (−1, −1) from 2 and 3.
  const c = Float32Array.from([1, 0, 0, 1, -1, 0, 0, -1]);
  const x = Float32Array.from([0, 0, 1, 1, -1, -1]);
  const { distances, indices } = await assignToCentroids(x, 3, c, 4, 2);
  assert.deepEqual(Array.from(indices), [0, 0, 2]);
  assert.deepEqual(Array.from(distances).map((v) => Math.round(v * 1e4) / 1e4), [1, 1, 1]);
});

test('nearest member of a bank, float32 or binary16 (Gemm with the norms as bias): the plain search\'s members and distances, lowest index on ties', async () => {
  const random = seededRandom(29);
  const [n, k, d] = [40, 300, 64];
  const bank = Float32Array.from({ length: k * d }, () => random() - 0.5);
  const x = Float32Array.from({ length: n * d }, (_, i) => bank[(i * 37) % (k * d)]! + 0.05 * (random() - 0.5));
  const half = float32ToFloat16Bits(bank);
  for (const [members, values] of [[bank, bank], [half, float16BitsToFloat32(half)]] as const) {
    const { distances, indices } = await nearestMember(x, n, members, k, d);
    for (let i = 0; i < n; i++) {
      const want = plainNearest(x.subarray(i * d, (i + 1) * d), values, k, d);
      assert.equal(indices[i], want.index, `vector ${i}`);
      assert.ok(Math.abs(distances[i]! - want.distance) <= 1e-4 * (1 + want.distance), `vector ${i}: ${distances[i]} against ${want.distance}`);
    }
  }
  // Ties: (0, 0) is as near to all four members, (1, 1) to members 0 and 1.
  const square = Float32Array.from([1, 0, 0, 1, -1, 0, 0, -1]);
  const tied = await nearestMember(Float32Array.from([0, 0, 1, 1]), 2, square, 4, 2);
  assert.deepEqual(Array.from(tied.indices), [0, 0]);
  assert.deepEqual(Array.from(tied.distances).map((v) => Math.round(v * 1e4) / 1e4), [1, 1]);
});

test('nearest member over several runs of the bank: the runs merged in order, a tie across runs kept by the earlier member', async () => {
  const random = seededRandom(37);
  // 7000 vectors leave 299 members per run (KERNEL_CHUNK_BYTES of distances): two runs for 300 members.
  const [n, k, d] = [7000, 300, 8];
  const bank = Float32Array.from({ length: k * d }, () => random() - 0.5);
  bank.copyWithin(299 * d, 5 * d, 6 * d); // member 299, in the second run, equals member 5
  const x = Float32Array.from({ length: n * d }, () => random() - 0.5);
  x.set(bank.subarray(5 * d, 6 * d), 0); // vector 0 is member 5 itself
  const { distances, indices } = await nearestMember(x, n, bank, k, d);
  assert.equal(indices[0], 5);
  assert.ok(distances[0]! <= 1e-6);
  for (let i = 1; i < 200; i++) {
    const want = plainNearest(x.subarray(i * d, (i + 1) * d), bank, k, d);
    assert.equal(indices[i], want.index, `vector ${i}`);
  }
});

/** The nearest of k members [k, d] to x in float64, the first on ties. */
function plainNearest(x: Float32Array, members: Float32Array, k: number, d: number): { index: number; distance: number } {
  let index = -1;
  let distance = Infinity;
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += (x[c]! - members[j * d + c]!) ** 2;
    if (s < distance) [index, distance] = [j, s];
  }
  return { index, distance };
}

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

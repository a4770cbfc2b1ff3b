import test from 'node:test';
import assert from 'node:assert/strict';
import { BLOCKED_INVERSE_LEAF, blockSplit, blockedInverseFlops, blockedInverseWork, blockedSpdInverse } from '../../src/engine/blockedInverse.js';
import { invertReference } from './reference.js';
import { seededRandom } from '../../src/util/random.js';
import { batchedInverse } from './onnxInverse.js';

/** B·Bᵀ/d + I: symmetric positive definite with eigenvalues in [1, ~5], so well conditioned. */
function wellConditionedSpd(d: number, random: () => number): Float32Array {
  const b = Array.from({ length: d * d }, () => random() - 0.5);
  const m = new Float32Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c <= r; c++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += b[r * d + k]! * b[c * d + k]!;
    const v = (12 * s) / d + (r === c ? 1 : 0);
    m[r * d + c] = v;
    m[c * d + r] = v;
  }
  return m;
}

/**
 * Like PaDiM's regularised covariance with fewer images than channels: the sample covariance of `samples`
 * vectors whose channels share a few latent factors and have unequal scales, + 0.01·I. Rank samples − 1 plus
 * the ridge, so most eigenvalues are 0.01 and the condition number is in the thousands.
 */
function covarianceLike(d: number, samples: number, random: () => number): Float32Array {
  const factors = 8;
  const loading = Array.from({ length: d * factors }, () => random() - 0.5);
  const scale = Array.from({ length: d }, () => Math.exp(3 * (random() - 0.5)));
  const x = new Float64Array(samples * d);
  for (let s = 0; s < samples; s++) {
    const z = Array.from({ length: factors }, () => random() - 0.5);
    for (let j = 0; j < d; j++) {
      let v = 0.3 * (random() - 0.5);
      for (let f = 0; f < factors; f++) v += loading[j * factors + f]! * z[f]!;
      x[s * d + j] = v * scale[j]!;
    }
  }
  const mean = new Float64Array(d);
  for (let s = 0; s < samples; s++) for (let j = 0; j < d; j++) mean[j]! += x[s * d + j]! / samples;
  const cov = new Float32Array(d * d);
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) {
    let sum = 0;
    for (let s = 0; s < samples; s++) sum += (x[s * d + a]! - mean[a]!) * (x[s * d + b]! - mean[b]!);
    const v = sum / (samples - 1) + (a === b ? 0.01 : 0);
    cov[a * d + b] = v;
    cov[b * d + a] = v;
  }
  return cov;
}

/** max |A·X − I| in float64. */
function residual(a: ArrayLike<number>, x: ArrayLike<number>, d: number): number {
  let worst = 0;
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += a[r * d + k]! * x[k * d + c]!;
    worst = Math.max(worst, Math.abs(s - (r === c ? 1 : 0)));
  }
  return worst;
}

function batchOf(mats: Float32Array[], d: number): Float32Array {
  const out = new Float32Array(mats.length * d * d);
  mats.forEach((m, i) => out.set(m, i * d * d));
  return out;
}

/** Recursion depth of the block split (0 for a leaf). */
function depth(d: number): number {
  const m = blockSplit(d);
  return m === null ? 0 : 1 + Math.max(depth(m), depth(d - m));
}

const LEAF = BLOCKED_INVERSE_LEAF;

test('the test sizes cover a leaf, one split and two levels of splits', () => {
  assert.equal(depth(LEAF), 0);
  assert.equal(depth(LEAF + 3), 1);
  assert.equal(depth(2 * LEAF + 37), 2);
  assert.equal((LEAF + 3) % 2, 1);
});

test('blocked SPD inverse matches Gauss–Jordan on well-conditioned matrices', async () => {
  const random = seededRandom(11);
  // 1 × 1, tiny, a leaf, an odd size just above the leaf, two levels of recursion.
  for (const d of [1, 5, LEAF - 24, LEAF + 3, 2 * LEAF + 37]) {
    const n = 3;
    const mats = Array.from({ length: n }, () => wellConditionedSpd(d, random));
    // One matrix per onnxruntime run for one size, so the chunking is exercised too.
    const inv = await blockedSpdInverse(batchOf(mats, d), n, d, d === LEAF + 3 ? { chunkBytes: 1 } : {});
    assert.equal(inv.length, n * d * d);
    mats.forEach((m, i) => {
      const ref = invertReference(m, d);
      let err = 0;
      let scale = 0;
      for (let k = 0; k < d * d; k++) {
        err = Math.max(err, Math.abs(inv[i * d * d + k]! - ref[k]!));
        scale = Math.max(scale, Math.abs(ref[k]!));
      }
      assert.ok(err <= 1e-4 * scale, `d = ${d}, matrix ${i}: max error ${err} vs max entry ${scale}`);
    });
  }
});

test('on ill-conditioned covariances its residual is close to LU’s', async (t) => {
  const random = seededRandom(12);
  const d = 200;
  const n = 3;
  const mats = Array.from({ length: n }, () => covarianceLike(d, 50, random));
  const input = batchOf(mats, d);
  const blocked = await blockedSpdInverse(input, n, d);
  const lu = await batchedInverse(input, n, d);
  mats.forEach((m, i) => {
    const own = residual(m, blocked.subarray(i * d * d, (i + 1) * d * d), d);
    const reference = residual(m, lu.subarray(i * d * d, (i + 1) * d * d), d);
    t.diagnostic(`matrix ${i}: max |A·X − I| blocked ${own.toExponential(2)}, LU ${reference.toExponential(2)}`);
    assert.ok(own <= 4 * reference, `matrix ${i}: blocked residual ${own} vs LU ${reference}`);
  });
});

test('blockedInverseFlops counts the MatMuls and leaf inverses', () => {
  // A leaf: 2·d³ per matrix.
  assert.equal(blockedInverseFlops(3, 10, 64), 3 * 2 * 1000);
  // d = 100, leaf 64: m = 48 (the multiple of 16 nearest 50), k = 52, both leaves. Per matrix:
  //   leaves 2·48³ + 2·52³                    = 221184 + 281216
  //   W = Pi·Q, P·W, Pi·(Q − P·W): 3·2·48·48·52 = 718848
  //   Qᵀ·W 2·52·48·52, V = W·Si 2·48·52·52     = 259584 + 259584
  //   V·Wᵀ 2·48·52·48                          = 239616
  assert.equal(blockSplit(100, 64), 48);
  assert.equal(blockedInverseFlops(2, 100, 64), 2 * 1980032);
});

test('blockedInverseWork lists the products and leaves of the recursion', () => {
  assert.deepEqual(blockedInverseWork(10, 64), { matmuls: [], leaves: [10] });
  assert.deepEqual(blockedInverseWork(100, 64), {
    matmuls: [
      [48, 48, 52],
      [48, 48, 52],
      [48, 48, 52],
      [52, 48, 52],
      [48, 52, 52],
      [48, 52, 48],
    ],
    leaves: [48, 52],
  });
  // Two levels: 200 → 96 + 104, each split again into leaves of at most 64.
  const work = blockedInverseWork(200, 64);
  assert.deepEqual(work.leaves, [48, 48, 48, 56]);
  assert.equal(work.matmuls.length, 3 * 6);
});

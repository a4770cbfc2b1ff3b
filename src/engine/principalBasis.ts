/**
 * The leading principal directions of a set of rows: an orthonormal basis of k directions along which the rows vary
 * most. The subspace index (nearestIndex.ts) bounds distances from below in this basis; any orthonormal basis keeps
 * that bound exact, so the directions need only be good, not converged: a few rounds of subspace iteration on the
 * covariance of an evenly spaced sample of the rows.
 */
import { seededRandom } from '../util/random.js';
import { centredGram, matMul } from './kernels.js';

/** An orthonormal basis and the centre it is applied around. */
export interface PrincipalBasis {
  /** Directions [k, dim], rows orthonormal (to float32 rounding). */
  directions: Float32Array;
  /** Number of directions, k. */
  count: number;
  /** The rows' mean [dim] (the sample's). */
  centre: Float32Array;
}

/** Rows the covariance is estimated from: an evenly spaced sample, enough for directions of a 1024-dimensional bank. */
export const BASIS_SAMPLE_ROWS = 8192;
/** Rounds of subspace iteration: the leading directions' span settles well before this on patch features. */
const ITERATIONS = 12;

/**
 * Orthonormalises the rows of q [k, d] in place (modified Gram–Schmidt in float64, twice, so that the rows are
 * orthonormal to rounding even where the iteration left them nearly dependent). A row that vanishes (the rows'
 * span has fewer than k dimensions) is replaced by a random one. k ≤ d.
 */
export function orthonormaliseRows(q: Float32Array, k: number, d: number, random: () => number = seededRandom(1)): void {
  const rows = Array.from({ length: k }, (_, i) => Float64Array.from(q.subarray(i * d, (i + 1) * d)));
  for (let i = 0; i < k; i++) {
    const v = rows[i]!;
    let norm = normAfterRemoving(rows, i, v, d);
    while (norm <= 1e-8) {
      for (let c = 0; c < d; c++) v[c] = random() - 0.5;
      norm = normAfterRemoving(rows, i, v, d);
    }
    for (let c = 0; c < d; c++) q[i * d + c] = v[c]!;
  }
}

/** Removes from v its components along rows 0 … i−1 (orthonormal), twice, scales it to length 1 unless it vanished, and returns the length it had. */
function normAfterRemoving(rows: readonly Float64Array[], i: number, v: Float64Array, d: number): number {
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < i; j++) {
      const u = rows[j]!;
      let dot = 0;
      for (let c = 0; c < d; c++) dot += u[c]! * v[c]!;
      for (let c = 0; c < d; c++) v[c]! -= dot * u[c]!;
    }
  }
  let norm = 0;
  for (let c = 0; c < d; c++) norm += v[c]! * v[c]!;
  norm = Math.sqrt(norm);
  if (norm > 1e-8) for (let c = 0; c < d; c++) v[c]! /= norm;
  return norm;
}

/**
 * The `count` leading principal directions of the rows [n, dim] (count ≤ dim) and their centre, read as float32
 * from `rowAt(i, out)` (which writes row i into `out`), so that banks kept in binary16 need no float32 copy.
 */
export async function principalBasis(n: number, dim: number, count: number, rowAt: (i: number, out: Float32Array) => void, seed = 1): Promise<PrincipalBasis> {
  if (!(Number.isInteger(count) && count >= 1 && count <= dim)) throw new RangeError(`a basis of ${count} directions in ${dim} dimensions`);
  if (n < 1) throw new RangeError('a principal basis needs at least one row');
  const s = Math.min(n, BASIS_SAMPLE_ROWS);
  const sample = new Float32Array(s * dim);
  for (let j = 0; j < s; j++) rowAt(Math.floor((j * n) / s), sample.subarray(j * dim, (j + 1) * dim));
  const mean = new Float64Array(dim);
  for (let j = 0; j < s; j++) for (let c = 0; c < dim; c++) mean[c]! += sample[j * dim + c]!;
  const centre = Float32Array.from(mean, (v) => v / s);
  // The sample as one position of s vectors: its Gram matrix about the centre, s times the covariance.
  const { grams: scatter } = await centredGram(sample, 1, s, dim, centre);
  const random = seededRandom(seed);
  const q = Float32Array.from({ length: count * dim }, () => random() - 0.5);
  const step = new Float32Array(count * dim);
  orthonormaliseRows(q, count, dim, random);
  for (let it = 0; it < ITERATIONS; it++) {
    // q·S is S·q's transpose, S being symmetric: each row of q taken one step along S.
    await matMul(q, count, dim, scatter, dim, step);
    q.set(step);
    orthonormaliseRows(q, count, dim, random);
  }
  return { directions: q, count, centre };
}

/**
 * The leading principal directions of a set of rows: an orthonormal basis of k directions along which the rows vary
 * most. The subspace index (nearestIndex.ts) bounds distances from below in this basis; any orthonormal basis keeps
 * that bound exact, so the directions need only be good, not converged: a few rounds of subspace iteration on the
 * covariance of an evenly spaced sample of the rows.
 */
import { GraphBuilder } from '../onnx/graph.js';
import { cachedSession, runFloat } from '../onnx/session.js';
import { seededRandom } from '../util/random.js';

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

/** aᵀ·a for a [n, d] → [d, d] (one MatMul). */
async function gram(a: Float32Array, n: number, d: number): Promise<Float32Array> {
  const session = await cachedSession(`basisGram:${d}`, () => {
    const g = new GraphBuilder('basisGram');
    const x = g.input('x', 'float', ['n', d]);
    g.node('MatMul', [g.node('Transpose', [x], { perm: [1, 0] }), x], {}, 'gram');
    g.output('gram', 'float', [d, d]);
    return g.build();
  });
  return (await runFloat(session, { x: { data: a, dims: [n, d] } })).gram!.data;
}

/** q [k, d] · c [d, d] → [k, d] (c symmetric, so each row of the result is c times a row of q). */
async function timesSymmetric(q: Float32Array, k: number, c: Float32Array, d: number): Promise<Float32Array> {
  const session = await cachedSession(`basisTimes:${d}`, () => {
    const g = new GraphBuilder('basisTimes');
    const x = g.input('q', 'float', ['k', d]);
    const m = g.input('c', 'float', [d, d]);
    g.node('MatMul', [x, m], {}, 'y');
    g.output('y', 'float', ['k', d]);
    return g.build();
  });
  return (await runFloat(session, { q: { data: q, dims: [k, d] }, c: { data: c, dims: [d, d] } })).y!.data;
}

/**
 * Orthonormalises the rows of q [k, d] in place (modified Gram–Schmidt in float64, twice, so that the rows are
 * orthonormal to rounding even where the iteration left them nearly dependent). A row that vanishes is replaced by
 * a random one and orthonormalised again.
 */
export function orthonormaliseRows(q: Float32Array, k: number, d: number, random: () => number = seededRandom(1)): void {
  const rows = Array.from({ length: k }, (_, i) => Float64Array.from(q.subarray(i * d, (i + 1) * d)));
  for (let i = 0; i < k; i++) {
    const v = rows[i]!;
    for (let attempt = 0; ; attempt++) {
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
      if (norm > 1e-8 || attempt > 3) {
        for (let c = 0; c < d; c++) v[c]! /= norm || 1;
        break;
      }
      for (let c = 0; c < d; c++) v[c] = random() - 0.5;
    }
    for (let c = 0; c < d; c++) q[i * d + c] = v[c]!;
  }
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
  for (let j = 0; j < s; j++) for (let c = 0; c < dim; c++) sample[j * dim + c]! -= centre[c]!;
  const covariance = await gram(sample, s, dim);
  const random = seededRandom(seed);
  let q: Float32Array = Float32Array.from({ length: count * dim }, () => random() - 0.5);
  orthonormaliseRows(q, count, dim, random);
  for (let it = 0; it < ITERATIONS; it++) {
    q = await timesSymmetric(q, count, covariance, dim);
    orthonormaliseRows(q, count, dim, random);
  }
  return { directions: q, count, centre };
}

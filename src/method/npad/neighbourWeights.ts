/**
 * Module A's neighbour weights (paper §3.2, eq. 4–6): how much each neighbour q's features count towards
 * position p's distribution. The paper uses the Bhattacharyya coefficient between the two positions'
 * Gaussians, w = exp(−D_B), with D_B's log-determinant term dropped and a balancing β:
 *   D(p, q) = (μ_p − μ_q)ᵀ Σ_p⁻¹ (μ_p − μ_q) / (8β).
 * Σ̄ is either Σ_p (`own`: the paper's "reduced computational cost", one inverse per position) or the exact
 * Bhattacharyya (Σ_p + Σ_q)/2 (`average`: one inverse per pair, about 4× the work).
 * Uniform and random weights are the paper's table-5 comparisons.
 */
import { batchedMahalanobis } from '../../engine/kernels.js';
import { packedSize, type PositionStatistics } from '../../engine/positionStatistics.js';
import { seededRandom } from '../../util/random.js';
import { blockedSpdInverse } from '../../engine/blockedInverse.js';
import { covarianceInto, gaussianChunkSize, positionMeans, precisionChunk, type NeighbourWeights } from '../parts/gaussians.js';
import type { Neighbourhoods } from './neighbourhood.js';
import type { NeighbourWeighting } from './options.js';

export interface NeighbourWeightOptions {
  weighting: NeighbourWeighting;
  beta: number;
  /** Σ̄ of the Bhattacharyya distance: the position's own covariance, or the pair's average. */
  covariance: 'own' | 'average';
  epsilon: number;
  seed: number;
}

/** Weights of every position's neighbours; padding entries get 0 and the position itself 1. */
export async function computeNeighbourWeights(
  stats: PositionStatistics,
  hood: Neighbourhoods,
  opts: NeighbourWeightOptions,
): Promise<NeighbourWeights> {
  const { positions: P, dim: d } = stats;
  const K = hood.perPosition;
  const weights = new Float64Array(P * K);
  if (opts.weighting === 'uniform') {
    for (let i = 0; i < P * K; i++) weights[i] = hood.valid[i]!;
  } else if (opts.weighting === 'random') {
    const random = seededRandom(opts.seed);
    for (let p = 0; p < P; p++) {
      for (let k = 0; k < K; k++) {
        const i = p * K + k;
        weights[i] = hood.valid[i] ? (hood.indices[i] === p ? 1 : random()) : 0;
      }
    }
  } else if (opts.covariance === 'average') {
    await pairwiseBhattacharyya(stats, hood, opts, weights);
  } else {
    const means = positionMeans(stats);
    const chunk = gaussianChunkSize(d);
    for (let p0 = 0; p0 < P; p0 += chunk) {
      const pc = Math.min(chunk, P - p0);
      const precisions = await precisionChunk(stats, p0, pc, means, null, opts.epsilon);
      const vectors = new Float32Array(pc * K * d);
      for (let i = 0; i < pc * K; i++) {
        const q = hood.indices[p0 * K + i]!;
        for (let c = 0; c < d; c++) vectors[i * d + c] = means[q * d + c]!;
      }
      const ownMeans = Float32Array.from(means.subarray(p0 * d, (p0 + pc) * d));
      const distances = await batchedMahalanobis(vectors, ownMeans, precisions, pc, K, d);
      for (let i = 0; i < pc * K; i++) {
        const g = p0 * K + i;
        const isSelf = hood.indices[g] === p0 + Math.floor(i / K);
        weights[g] = hood.valid[g] ? (isSelf ? 1 : Math.exp(-Math.max(0, distances[i]!) / (8 * opts.beta))) : 0;
      }
    }
  }
  return { perPosition: K, indices: hood.indices, weights };
}

/** w = exp(−D / (8β)) with D = (μ_p − μ_q)ᵀ ((Σ_p + Σ_q)/2)⁻¹ (μ_p − μ_q): one inverse per (p, q) pair. */
async function pairwiseBhattacharyya(stats: PositionStatistics, hood: Neighbourhoods, opts: NeighbourWeightOptions, weights: Float64Array): Promise<void> {
  const { positions: P, dim: d } = stats;
  const K = hood.perPosition;
  const means = positionMeans(stats);
  const acc = new Float64Array(packedSize(d));
  const covOf = (p: number, out: Float32Array, offset: number): void => covarianceInto(stats, p, means, null, opts.epsilon, acc, out, offset);
  const chunk = Math.max(1, Math.floor(gaussianChunkSize(d) / K));
  const own = new Float32Array(d * d);
  const other = new Float32Array(d * d);
  for (let p0 = 0; p0 < P; p0 += chunk) {
    const pc = Math.min(chunk, P - p0);
    const pairs: number[] = [];
    const averaged = new Float32Array(pc * K * d * d);
    for (let i = 0; i < pc; i++) {
      const p = p0 + i;
      covOf(p, own, 0);
      for (let k = 0; k < K; k++) {
        const g = p * K + k;
        const q = hood.indices[g]!;
        if (!hood.valid[g] || q === p) continue;
        covOf(q, other, 0);
        const base = pairs.length * d * d;
        for (let e = 0; e < d * d; e++) averaged[base + e] = (own[e]! + other[e]!) / 2;
        pairs.push(g);
      }
    }
    if (pairs.length === 0) continue;
    const precisions = await blockedSpdInverse(averaged.subarray(0, pairs.length * d * d), pairs.length, d);
    const vectors = new Float32Array(pairs.length * d);
    const centres = new Float32Array(pairs.length * d);
    pairs.forEach((g, j) => {
      const p = Math.floor(g / K);
      const q = hood.indices[g]!;
      for (let c = 0; c < d; c++) {
        vectors[j * d + c] = means[q * d + c]!;
        centres[j * d + c] = means[p * d + c]!;
      }
    });
    const distances = await batchedMahalanobis(vectors, centres, precisions, pairs.length, 1, d);
    pairs.forEach((g, j) => {
      weights[g] = Math.exp(-Math.max(0, distances[j]!) / (8 * opts.beta));
    });
  }
  for (let p = 0; p < P; p++) for (let k = 0; k < K; k++) if (hood.valid[p * K + k] && hood.indices[p * K + k] === p) weights[p * K + k] = 1;
}

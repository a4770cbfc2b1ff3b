/**
 * Module A's neighbour weights (paper §3.2, eq. 4–6): how much each neighbour q's features count towards
 * position p's distribution. The paper uses the Bhattacharyya coefficient between the two positions'
 * Gaussians, w = exp(−D_B), with D_B's log-determinant term dropped and a balancing β:
 *   D(p, q) = (μ_p − μ_q)ᵀ Σ_p⁻¹ (μ_p − μ_q) / (8β).
 * Σ_p stands in for Σ̄ = (Σ_p + Σ_q)/2 (the paper's "reduced computational cost": one inverse per position).
 * Uniform and random weights are the paper's table-5 comparisons.
 */
import { batchedMahalanobis } from '../engine/kernels.js';
import type { PositionStatistics } from '../engine/positionStatistics.js';
import { seededRandom } from '../util/random.js';
import { gaussianChunkSize, positionMeans, precisionChunk, type NeighbourWeights } from './gaussians.js';
import type { Neighbourhoods } from './neighbourhood.js';
import type { NeighbourWeighting } from './options.js';

export interface NeighbourWeightOptions {
  weighting: NeighbourWeighting;
  beta: number;
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

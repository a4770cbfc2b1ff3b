/**
 * Per-position Gaussians on the feature grid, from streamed statistics: plain ones (PaDiM, and module B)
 * and module A's similarity-weighted ones (paper §3.2, eq. 5–8). Precision matrices are computed chunk by
 * chunk of positions (covariance in float64 → float32 → batched inverse in onnxruntime), so no whole-grid
 * d×d×P temporary is ever built besides the result.
 */
import { KERNEL_CHUNK_BYTES } from '../../engine/kernels.js';
import { blockedSpdInverse } from '../../engine/blockedInverse.js';
import { packPrecisions, type PrecisionChunk } from '../../engine/packedPrecision.js';
import { covarianceFromPacked, packedSize, type PositionStatistics } from '../../engine/positionStatistics.js';
import { NpadConfigError } from '../../errors.js';

/** Gaussians of every grid position: means [P, d] and precision matrices in chunks of positions. */
export interface GaussianGrid {
  positions: number;
  dim: number;
  /** Positions per precision chunk (the last chunk may be shorter). */
  chunkSize: number;
  means: Float32Array;
  /**
   * precisions[i]: the inverses of Σ_p + εI of positions i·chunkSize … (min(chunkSize, P − i·chunkSize) of them),
   * packed by symmetry in the blocks packedBlockBounds(d) (engine/packedPrecision.ts); below d = 384 that is
   * the full matrices [n, d, d]. A model loaded from an f16 or i8 file keeps them as stored (StoredPrecisions).
   */
  precisions: PrecisionChunk[];
}

/** Each position's neighbours and their weights (0 for padding), [P, perPosition]. */
export interface NeighbourWeights {
  perPosition: number;
  indices: Int32Array;
  weights: Float64Array;
}

/** Bytes of one stored chunk of precision matrices. */
export const PRECISION_CHUNK_BYTES = 256 * 2 ** 20;

/**
 * Positions per precision chunk for dimension d: ≈ 256 MB of full float32 matrices while a chunk is built, 0.625
 * of that once packed (from d = 384 on).
 */
export function gaussianChunkSize(dim: number): number {
  return Math.max(1, Math.floor(PRECISION_CHUNK_BYTES / (4 * dim * dim)));
}

/** Plain per-position means [P, d] in float64. */
export function positionMeans(stats: PositionStatistics): Float64Array {
  const { positions: P, dim: d } = stats;
  const means = new Float64Array(P * d);
  for (let p = 0; p < P; p++) stats.meanInto(p, means.subarray(p * d, (p + 1) * d));
  return means;
}

/**
 * Precision matrices of positions p0 … p0+count−1. Without weights: the plain covariance of each position
 * about `centres[p]`, divided by N − 1. With weights: Σ_q w_pq Σ_n (f_n(q) − c_p)(f_n(q) − c_p)ᵀ over the
 * neighbours q, divided by N·Σ_q w_pq − 1 (eq. 8). Then + εI and inverted.
 */
export async function precisionChunk(
  stats: PositionStatistics,
  p0: number,
  count: number,
  centres: Float64Array,
  weights: NeighbourWeights | null,
  epsilon: number,
): Promise<Float32Array> {
  const d = stats.dim;
  const n = stats.count;
  if (n < 2 && epsilon === 0) throw new NpadConfigError('a covariance needs at least 2 images, or epsilon > 0');
  const precisions = new Float32Array(count * d * d);
  // Covariances are built and inverted a kernel run at a time (a few MB) rather than the whole chunk at once.
  const run = Math.max(1, Math.min(count, Math.floor(KERNEL_CHUNK_BYTES / (4 * d * d))));
  const covariances = new Float32Array(run * d * d);
  const acc = new Float64Array(packedSize(d));
  for (let i0 = 0; i0 < count; i0 += run) {
    const rc = Math.min(run, count - i0);
    for (let i = 0; i < rc; i++) covarianceInto(stats, p0 + i0 + i, centres, weights, epsilon, acc, covariances, i * d * d);
    precisions.set(await blockedSpdInverse(covariances.subarray(0, rc * d * d), rc, d), i0 * d * d);
  }
  return precisions;
}

/**
 * The covariance of position p about centres[p] (plain ÷ N − 1, or module A's weighted one, eq. 8) + εI as
 * float32 into out[offset …], summed in the float64 scratch `acc` (a packed triangle, reused across calls).
 */
export function covarianceInto(
  stats: PositionStatistics,
  p: number,
  centres: Float64Array,
  weights: NeighbourWeights | null,
  epsilon: number,
  acc: Float64Array,
  out: Float32Array,
  offset: number,
): void {
  const d = stats.dim;
  const centre = centres.subarray(p * d, (p + 1) * d);
  acc.fill(0);
  let totalWeight = 1;
  if (!weights) {
    stats.addScatterAbout(p, centre, 1, acc);
  } else {
    totalWeight = 0;
    for (let k = 0; k < weights.perPosition; k++) {
      const w = weights.weights[p * weights.perPosition + k]!;
      // Weights below 1e-9 change no digit of a float32 result; skipping them saves most of the work
      // when the Bhattacharyya similarity is sharp.
      if (w < 1e-9) continue;
      stats.addScatterAbout(weights.indices[p * weights.perPosition + k]!, centre, w, acc);
      totalWeight += w;
    }
  }
  covarianceFromPacked(acc, d, Math.max(1, stats.count * totalWeight - 1), epsilon, out, offset);
}

/** Plain Gaussians of every position (PaDiM; module B on aggregated features). */
export async function fitPlainGaussians(stats: PositionStatistics, epsilon: number): Promise<GaussianGrid> {
  const means = positionMeans(stats);
  return fitGrid(stats, means, null, epsilon);
}

/**
 * Module A (eq. 7–8): at each position, a Gaussian of the features of all its neighbours, each neighbour
 * weighted by w_pq. The weighted mean is μ'_p = Σ_q w_pq μ_q / Σ_q w_pq (every position has N images).
 */
export async function fitWeightedGaussians(stats: PositionStatistics, weights: NeighbourWeights, epsilon: number): Promise<GaussianGrid> {
  const { positions: P, dim: d } = stats;
  const plain = positionMeans(stats);
  const centres = new Float64Array(P * d);
  for (let p = 0; p < P; p++) {
    let total = 0;
    for (let k = 0; k < weights.perPosition; k++) {
      const w = weights.weights[p * weights.perPosition + k]!;
      if (w === 0) continue;
      const q = weights.indices[p * weights.perPosition + k]!;
      for (let c = 0; c < d; c++) centres[p * d + c]! += w * plain[q * d + c]!;
      total += w;
    }
    for (let c = 0; c < d; c++) centres[p * d + c]! /= total;
  }
  return fitGrid(stats, centres, weights, epsilon);
}

async function fitGrid(stats: PositionStatistics, centres: Float64Array, weights: NeighbourWeights | null, epsilon: number): Promise<GaussianGrid> {
  const { positions: P, dim: d } = stats;
  const chunkSize = gaussianChunkSize(d);
  const precisions: Float32Array[] = [];
  for (let p0 = 0; p0 < P; p0 += chunkSize) {
    const count = Math.min(chunkSize, P - p0);
    precisions.push(packPrecisions(await precisionChunk(stats, p0, count, centres, weights, epsilon), count, d));
  }
  return { positions: P, dim: d, chunkSize, means: Float32Array.from(centres), precisions };
}

/**
 * Lloyd's k-means for N-pad's centroid bank (module B). The assignment step, the heavy part, is one
 * MatMul per chunk in onnxruntime (nearestAugmentedCentroid); the centroid update sums in float64.
 */
import { seededRandom, sampleWithoutReplacement } from '../util/random.js';
import { KERNEL_CHUNK_BYTES, augmentedCentroids, nearestAugmentedCentroid } from './kernels.js';

export interface KMeansOptions {
  /** Number of centroids. */
  clusters: number;
  /** Lloyd iterations (each one assignment + update). */
  iterations: number;
  /** Seed of the initial centroid draw. */
  seed: number;
}

/** Vectors per nearestAugmentedCentroid call: each call's [rows, k] distance matrix stays within a kernel run (the session keeps its arena). */
export function vectorsPerAssignmentRun(centroids: number): number {
  return Math.max(1, Math.floor(KERNEL_CHUNK_BYTES / (4 * centroids)));
}

/** Assigns each of n vectors [n, d] to its nearest centroid; returns indices and squared distances. */
export async function assignToCentroids(
  vectors: Float32Array,
  n: number,
  centroids: Float32Array,
  k: number,
  dim: number,
): Promise<{ indices: Int32Array; distances: Float32Array }> {
  return assignToAugmented(vectors, n, augmentedCentroids(centroids, k, dim), k, dim);
}

/** assignToCentroids for centroids already in augmentedCentroids form (each k-means iteration augments them once). */
export async function assignToAugmented(
  vectors: Float32Array,
  n: number,
  augmented: Float32Array,
  k: number,
  dim: number,
): Promise<{ indices: Int32Array; distances: Float32Array }> {
  const indices = new Int32Array(n);
  const distances = new Float32Array(n);
  const rows = vectorsPerAssignmentRun(k);
  for (let i0 = 0; i0 < n; i0 += rows) {
    const m = Math.min(rows, n - i0);
    const r = await nearestAugmentedCentroid(vectors.subarray(i0 * dim, (i0 + m) * dim), m, augmented, k, dim);
    indices.set(r.indices, i0);
    distances.set(r.distances, i0);
  }
  return { indices, distances };
}

/** Clusters n vectors [n, d]; returns the centroids [k, d]. Initial centroids are distinct random vectors. */
export async function kMeans(vectors: Float32Array, n: number, dim: number, opts: KMeansOptions): Promise<Float32Array> {
  const k = Math.min(opts.clusters, n);
  if (k < 1) throw new RangeError(`k-means needs at least one vector and one cluster (got ${n} vectors, ${opts.clusters} clusters)`);
  const random = seededRandom(opts.seed);
  const centroids = new Float32Array(k * dim);
  sampleWithoutReplacement(n, k, random).forEach((row, j) => {
    centroids.set(vectors.subarray(row * dim, (row + 1) * dim), j * dim);
  });
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  for (let it = 0; it < opts.iterations; it++) {
    const { indices } = await assignToCentroids(vectors, n, centroids, k, dim);
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const j = indices[i]!;
      counts[j]!++;
      const src = i * dim;
      const dst = j * dim;
      for (let c = 0; c < dim; c++) sums[dst + c]! += vectors[src + c]!;
    }
    // An empty cluster keeps its previous centroid (it was a data point, so it stays a sensible one).
    for (let j = 0; j < k; j++) {
      const cnt = counts[j]!;
      if (cnt === 0) continue;
      for (let c = 0; c < dim; c++) centroids[j * dim + c] = sums[j * dim + c]! / cnt;
    }
  }
  return centroids;
}

/**
 * Module B's memory bank (paper §3.3): k-means centroids of the aggregated nominal features. At inference
 * the Euclidean distance of an aggregated feature to its nearest centroid is the E term of the image score.
 *
 * Approximation (documented in docs/method-choices.md): the paper clusters all N·P vectors into 10 % as
 * many centroids. That is tens of TFLOP per k-means iteration on a CPU, so npad clusters a seeded random
 * sample of at most `kmeansSample` vectors into min(centroidRatio·N·P, maxCentroids) centroids.
 */
import { kMeans } from '../../engine/kmeans.js';
import { seededRandom } from '../../util/random.js';

/** Keeps a uniform random sample of the vectors seen so far (reservoir sampling, algorithm R). */
export class VectorReservoir {
  private readonly data: Float32Array;
  private seen = 0;
  private readonly random: () => number;

  constructor(
    readonly capacity: number,
    readonly dim: number,
    seed: number,
  ) {
    this.data = new Float32Array(capacity * dim);
    this.random = seededRandom(seed);
  }

  /** Vectors offered so far. */
  get total(): number {
    return this.seen;
  }

  /** Offers the vectors of channel-major features [B, d, P]. */
  offerChannelMajor(features: Float32Array, batch: number, positions: number): void {
    const d = this.dim;
    for (let b = 0; b < batch; b++) {
      for (let p = 0; p < positions; p++) {
        let slot = this.seen;
        if (slot >= this.capacity) {
          slot = Math.floor(this.random() * (this.seen + 1));
          if (slot >= this.capacity) slot = -1;
        }
        this.seen++;
        if (slot < 0) continue;
        const base = b * d * positions + p;
        for (let c = 0; c < d; c++) this.data[slot * d + c] = features[base + c * positions]!;
      }
    }
  }

  /** The sample: [min(capacity, total), d]. */
  sample(): { vectors: Float32Array; count: number } {
    const count = Math.min(this.capacity, this.seen);
    return { vectors: this.data.subarray(0, count * this.dim), count };
  }
}

export interface CentroidBankOptions {
  centroidRatio: number;
  maxCentroids: number;
  kmeansIterations: number;
  seed: number;
}

/** Number of centroids for `total` nominal vectors. */
export function centroidCount(total: number, opts: CentroidBankOptions): number {
  return Math.max(1, Math.min(opts.maxCentroids, Math.round(opts.centroidRatio * total)));
}

/**
 * Clusters a reservoir's sample: `vectors` [n, dim], drawn from `total` nominal vectors; returns the centroids [k, d].
 */
export async function buildCentroidBank(vectors: Float32Array, total: number, dim: number, opts: CentroidBankOptions): Promise<{ centroids: Float32Array; count: number }> {
  const n = vectors.length / dim;
  const k = Math.min(n, centroidCount(total, opts));
  const centroids = await kMeans(vectors, n, dim, { clusters: k, iterations: opts.kmeansIterations, seed: opts.seed });
  return { centroids, count: k };
}

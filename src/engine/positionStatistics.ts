/**
 * Streaming per-position Gaussian statistics: the sufficient statistics of every grid position are
 * accumulated batch by batch, so fitting memory does not grow with the number of training images.
 *
 * Precision: each position is centred on a reference point (the mean of the first batch at that position)
 * before summing, and the batch sums are added in float64. Sums of raw, uncentred squares in float32 lose
 * the variance to cancellation once the mean is large against the spread.
 * Memory: the d×d scatter matrices are symmetric, so only the upper triangle is kept (d(d+1)/2 per position).
 */
import { centredGram } from './kernels.js';

/** Number of entries of a packed upper triangle of a d×d matrix. */
export function packedSize(dim: number): number {
  return (dim * (dim + 1)) / 2;
}

/** Positions per onnxruntime call, so a chunk's d×d Gram output stays near `budgetBytes`. */
export function positionsPerChunk(dim: number, perPosition: number, budgetBytes = 256 * 2 ** 20): number {
  const bytesPerPosition = 4 * (dim * dim + perPosition * dim);
  return Math.max(1, Math.floor(budgetBytes / bytesPerPosition));
}

/**
 * Bytes of features gathered before one Gram call. The float64 packing after each call costs P·d²/2 additions
 * whatever the number of images in it, so batches of 16 spent most of their time there (measured in
 * bench/stages.ts: 3 GFLOP/s); gathering up to 128 images per call amortises it.
 */
const GATHER_BUDGET_BYTES = 256 * 2 ** 20;
/** At most this many images per Gram call: float32 sums of more centred products would lose precision. */
const MAX_IMAGES_PER_GRAM = 128;

export class PositionStatistics {
  /** Images accumulated so far (after {@link flush}). */
  count = 0;
  /** Per-position centring point [P, d]. */
  private reference: Float32Array | null = null;
  /** Σ (x − ref) per position, [P, d]. */
  private readonly sums: Float64Array;
  /** Σ (x − ref)(x − ref)ᵀ per position, packed upper triangles, [P, d(d+1)/2]. */
  private readonly scatter: Float64Array;
  /** Batches added but not yet in the sums (position-major [P, B, d] each). */
  private pending: { x: Float32Array; batch: number }[] = [];
  private pendingImages = 0;
  /** Images gathered per Gram call. */
  private readonly gatherImages: number;

  constructor(
    readonly positions: number,
    readonly dim: number,
  ) {
    this.sums = new Float64Array(positions * dim);
    this.scatter = new Float64Array(positions * packedSize(dim));
    this.gatherImages = Math.max(1, Math.min(MAX_IMAGES_PER_GRAM, Math.floor(GATHER_BUDGET_BYTES / (4 * positions * dim))));
  }

  /** Adds a batch of position-major features x: [P, B, d]. Call {@link flush} before reading the statistics. */
  async add(x: Float32Array, batch: number): Promise<void> {
    const { positions: P, dim: d } = this;
    if (x.length !== P * batch * d) throw new RangeError(`features: ${x.length} values, expected ${P}×${batch}×${d}`);
    if (!this.reference) this.reference = batchMean(x, P, batch, d);
    this.pending.push({ x, batch });
    this.pendingImages += batch;
    if (this.pendingImages >= this.gatherImages) await this.flush();
  }

  /** Adds the gathered batches into the float64 sums. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pendingImages;
    const x = this.pending.length === 1 ? this.pending[0]!.x : interleaveBatches(this.pending, this.positions, this.dim);
    this.pending = [];
    this.pendingImages = 0;
    await this.accumulate(x, batch);
  }

  /** Centred Gram matrices of one gathered batch [P, B, d], added into the float64 sums. */
  private async accumulate(x: Float32Array, batch: number): Promise<void> {
    const { positions: P, dim: d } = this;
    const reference = this.reference!;
    const chunk = positionsPerChunk(d, batch);
    const tri = packedSize(d);
    for (let p0 = 0; p0 < P; p0 += chunk) {
      const pc = Math.min(chunk, P - p0);
      const { sums, grams } = await centredGram(
        x.subarray(p0 * batch * d, (p0 + pc) * batch * d),
        reference.subarray(p0 * d, (p0 + pc) * d),
        pc,
        batch,
        d,
      );
      for (let i = 0; i < pc * d; i++) this.sums[p0 * d + i]! += sums[i]!;
      for (let p = 0; p < pc; p++) {
        const g = p * d * d;
        let k = (p0 + p) * tri;
        for (let r = 0; r < d; r++) {
          const row = g + r * d;
          for (let c = r; c < d; c++) this.scatter[k++]! += grams[row + c]!;
        }
      }
    }
    this.count += batch;
  }

  /** Mean of position p (float64, length d) written into `out`. */
  meanInto(p: number, out: Float64Array): Float64Array {
    const { dim: d, count: n } = this;
    const ref = this.requireReference();
    for (let i = 0; i < d; i++) out[i] = ref[p * d + i]! + this.sums[p * d + i]! / n;
    return out;
  }

  /**
   * Adds weight · Σ_n (x_n − c)(x_n − c)ᵀ over the images at position p, for any centre c, to the packed
   * upper triangle `acc`. With s, S the centred sums and a = ref − c this is S + s aᵀ + a sᵀ + N a aᵀ: exact
   * algebra, and well conditioned because ref, c and the data are close. Module A calls it with the
   * neighbours' statistics and its weighted mean; plain Gaussians with c = the position's own mean.
   */
  addScatterAbout(p: number, centre: Float64Array, weight: number, acc: Float64Array): void {
    const { dim: d, count: n } = this;
    const ref = this.requireReference();
    const a = new Float64Array(d);
    for (let i = 0; i < d; i++) a[i] = ref[p * d + i]! - centre[i]!;
    const s = this.sums.subarray(p * d, (p + 1) * d);
    const S = this.scatter;
    let k = p * packedSize(d);
    let j = 0;
    for (let r = 0; r < d; r++) {
      const sr = s[r]!;
      const ar = a[r]!;
      for (let c = r; c < d; c++) {
        acc[j++]! += weight * (S[k++]! + sr * a[c]! + ar * s[c]! + n * ar * a[c]!);
      }
    }
  }

  private requireReference(): Float32Array {
    if (this.pending.length) throw new Error('PositionStatistics read before flush()');
    if (!this.reference || this.count === 0) throw new Error('no features accumulated yet');
    return this.reference;
  }
}

/** Concatenates position-major batches [P, B_i, d] into one [P, ΣB_i, d]. */
function interleaveBatches(parts: readonly { x: Float32Array; batch: number }[], positions: number, dim: number): Float32Array {
  const total = parts.reduce((n, part) => n + part.batch, 0);
  const out = new Float32Array(positions * total * dim);
  for (let p = 0; p < positions; p++) {
    let o = p * total * dim;
    for (const { x, batch } of parts) {
      const run = batch * dim;
      out.set(x.subarray(p * run, (p + 1) * run), o);
      o += run;
    }
  }
  return out;
}

/** Per-position mean of a position-major batch [P, B, d] → [P, d]. */
function batchMean(x: Float32Array, positions: number, batch: number, dim: number): Float32Array {
  const out = new Float32Array(positions * dim);
  for (let p = 0; p < positions; p++) {
    for (let b = 0; b < batch; b++) {
      const row = (p * batch + b) * dim;
      for (let i = 0; i < dim; i++) out[p * dim + i]! += x[row + i]! / batch;
    }
  }
  return out;
}

/** Converts channel-major features [B, d, P] (as the backbone gives them) to position-major [P, B, d]. */
export function toPositionMajor(features: Float32Array, batch: number, dim: number, positions: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < dim; c++) {
      const src = (b * dim + c) * positions;
      for (let p = 0; p < positions; p++) out[(p * batch + b) * dim + c] = features[src + p]!;
    }
  }
  return out;
}

/**
 * Unpacks a packed scatter matrix into a float32 covariance: scatter / denominator + ε·I (ε: PaDiM's
 * regulariser, which keeps the matrix invertible when there are fewer images than channels).
 */
export function covarianceFromPacked(packed: Float64Array, dim: number, denominator: number, epsilon: number, out: Float32Array, offset = 0): void {
  let k = 0;
  for (let r = 0; r < dim; r++) {
    for (let c = r; c < dim; c++) {
      const v = packed[k++]! / denominator + (r === c ? epsilon : 0);
      out[offset + r * dim + c] = v;
      out[offset + c * dim + r] = v;
    }
  }
}

/**
 * Streaming per-position Gaussian statistics: the sufficient statistics of every grid position are
 * accumulated batch by batch, so fitting memory does not grow with the number of training images.
 *
 * Precision: each position is centred on a reference point (the mean of the first batch at that position)
 * before summing, and the batch sums are added in float64. Sums of raw, uncentred squares in float32 lose
 * the variance to cancellation once the mean is large against the spread.
 * Memory: the d×d scatter matrices are symmetric, so only the upper triangle is kept (d(d+1)/2 per position).
 */
import { KERNEL_CHUNK_BYTES, centredGram } from './kernels.js';

/** Number of entries of a packed upper triangle of a d×d matrix. */
export function packedSize(dim: number): number {
  return (dim * (dim + 1)) / 2;
}

/**
 * Bytes of features gathered before one Gram call (per statistics object). Each call's output and its float64
 * packing cost P·d² whatever the number of images in it, so the more images per call the closer the Gram gets
 * to the MatMul rate (bench/stages.ts): at d = 200, 16 images per call ran at 3 GFLOP/s. 256 MiB holds 214
 * images at d = 100 (all of bottle's 209), 107 at d = 200 and 38 at d = 550. 1 GiB (155 images at d = 550) took
 * the covariance stage there from 0.12 to 0.25 of the MatMul peak, for 1.3 GB more fit memory: not taken, the
 * memory guard's estimate is calibrated on this budget (src/detector/memoryEstimate.ts).
 */
export const GATHER_BUDGET_BYTES = 256 * 2 ** 20;
/** At most this many images per Gram call: float32 sums of more centred products would lose precision. */
const MAX_IMAGES_PER_GRAM = 256;

/** Images gathered before one Gram call for a grid of `positions` × `dim`. */
export function imagesPerGram(positions: number, dim: number): number {
  return Math.max(1, Math.min(MAX_IMAGES_PER_GRAM, Math.floor(GATHER_BUDGET_BYTES / (4 * positions * dim))));
}

/** Positions per Gram run, so that its d×d outputs stay within the kernels' run size. */
export function positionsPerGramRun(dim: number): number {
  return Math.max(1, Math.floor(KERNEL_CHUNK_BYTES / (4 * dim * dim)));
}

/** What a {@link PositionStatistics} holds once flushed (see its fields). */
export interface PositionStatisticsState {
  positions: number;
  dim: number;
  /** Images accumulated. */
  count: number;
  /** Per-position centring point [P, d]. */
  reference: Float32Array;
  /** Σ (x − ref) per position, [P, d]. */
  sums: Float64Array;
  /** Σ (x − ref)(x − ref)ᵀ per position, packed upper triangles, [P, d(d+1)/2]. */
  scatter: Float64Array;
}

export class PositionStatistics {
  /** Images accumulated so far (after {@link flush}). */
  count = 0;
  /** Per-position centring point [P, d]. */
  private reference: Float32Array | null = null;
  /** Σ (x − ref) per position, [P, d]. */
  private readonly sums: Float64Array;
  /** Σ (x − ref)(x − ref)ᵀ per position, packed upper triangles, [P, d(d+1)/2]. */
  private readonly scatter: Float64Array;
  /** Images gathered per Gram call. */
  private readonly gatherImages: number;
  /**
   * The images not yet in the sums, position-major [P, gatherImages, d]: image slot j of position p at
   * (p·gatherImages + j)·d (allocated on first use), so a run of positions is one contiguous Gram input.
   */
  private gathered: Float32Array | null = null;
  private pendingImages = 0;

  /**
   * @param gatherImages images per Gram call (default {@link imagesPerGram}; tests set it small to cross
   * the gather boundary inside a batch)
   * @param adopt statistics to go on from, whose arrays are taken over, not copied (they are the large part of a
   * fit's memory; {@link merge})
   */
  constructor(
    readonly positions: number,
    readonly dim: number,
    gatherImages = imagesPerGram(positions, dim),
    adopt: PositionStatisticsState | null = null,
  ) {
    this.sums = adopt?.sums ?? new Float64Array(positions * dim);
    this.scatter = adopt?.scatter ?? new Float64Array(positions * packedSize(dim));
    this.gatherImages = gatherImages;
    if (adopt) {
      this.reference = adopt.reference;
      this.count = adopt.count;
    }
  }

  /**
   * Adds a batch of channel-major features [B, d, P] (as the backbone gives them), transposed into the gather
   * buffer's position slots. Call {@link flush} before reading the statistics.
   */
  async add(features: Float32Array, batch: number): Promise<void> {
    const { positions: P, dim: d } = this;
    const perImage = d * P;
    if (features.length !== batch * perImage) throw new RangeError(`features: ${features.length} values, expected ${batch}×${d}×${P}`);
    if (!this.reference) this.reference = batchMean(features, P, batch, d);
    for (let b0 = 0; b0 < batch; ) {
      const G = this.gatherImages;
      const take = Math.min(batch - b0, G - this.pendingImages);
      this.gathered ??= new Float32Array(G * perImage);
      intoPositionSlots(features, b0, take, d, P, this.gathered, G, this.pendingImages);
      this.pendingImages += take;
      b0 += take;
      if (this.pendingImages === G) await this.accumulateGathered();
    }
  }

  /** Adds the gathered images into the float64 sums and frees the gather buffer (call it once all are added). */
  async flush(): Promise<void> {
    await this.accumulateGathered();
    this.gathered = null;
  }

  /**
   * Centred Gram matrices of the gathered images, a few positions per onnxruntime run (each run's input is one
   * contiguous piece of the position-major buffer), added into the float64 sums.
   */
  private async accumulateGathered(): Promise<void> {
    const B = this.pendingImages;
    if (B === 0) return;
    const { positions: P, dim: d } = this;
    const G = this.gatherImages;
    const gathered = this.gathered!;
    // A partial gather (the last images, from flush): close the gaps so each position's B vectors are
    // contiguous. Moving left in order of position never overwrites a slot not yet moved.
    if (B < G) for (let p = 1; p < P; p++) gathered.copyWithin(p * B * d, p * G * d, (p * G + B) * d);
    const reference = this.reference!;
    const run = positionsPerGramRun(d);
    const tri = packedSize(d);
    for (let p0 = 0; p0 < P; p0 += run) {
      const pc = Math.min(run, P - p0);
      const { sums, grams } = await centredGram(gathered.subarray(p0 * B * d, (p0 + pc) * B * d), pc, B, d, reference.subarray(p0 * d, (p0 + pc) * d));
      addInto(this.sums, p0 * d, sums);
      addUpperTriangles(this.scatter, p0 * tri, grams, pc, d);
    }
    this.pendingImages = 0;
    this.count += B;
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
    // weight·(S + s aᵀ + a sᵀ + N a aᵀ) = weight·S + u aᵀ + a uᵀ with u = weight·(s + N/2·a): three
    // multiply-adds per entry instead of nine operations (module A's 9 neighbours at d = 200: 2.7 → 2.3 s).
    const a = new Float64Array(d);
    const u = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      a[i] = ref[p * d + i]! - centre[i]!;
      u[i] = weight * (this.sums[p * d + i]! + (n / 2) * a[i]!);
    }
    const S = this.scatter;
    let k = p * packedSize(d);
    let j = 0;
    for (let r = 0; r < d; r++) {
      const ur = u[r]!;
      const ar = a[r]!;
      for (let c = r; c < d; c++) acc[j++]! += weight * S[k++]! + ur * a[c]! + ar * u[c]!;
    }
  }

  /**
   * The accumulated statistics, to store or send elsewhere (a shard of a fit, docs/scale.md): the centring point,
   * the centred sums and scatter, and the count. Views, not copies.
   */
  state(): PositionStatisticsState {
    const reference = this.requireReference();
    return { positions: this.positions, dim: this.dim, count: this.count, reference, sums: this.sums, scatter: this.scatter };
  }

  /**
   * The statistics of several parts' images together, as if accumulated about the first part's centring point:
   * each further part is added in the order given by {@link mergeIn}. One part comes back with its own values, bit
   * for bit. The result takes over the first part's arrays and adds the others into them.
   * @throws RangeError when the parts' grids or dimensions differ
   */
  static merge(parts: readonly PositionStatisticsState[]): PositionStatistics {
    const first = parts[0];
    if (!first) throw new RangeError('merging no statistics');
    const merged = new PositionStatistics(first.positions, first.dim, 1, first);
    for (const part of parts.slice(1)) merged.mergeIn(part);
    return merged;
  }

  /**
   * Adds another part's statistics, re-centred exactly onto this one's centring point (a = ref_q − ref_0;
   * s += s_q + n_q·a; S += S_q + s_q aᵀ + a s_qᵀ + n_q a aᵀ, in float64), so that a coordinator can merge parts one
   * at a time as they arrive and let each go: merging in order is a left fold.
   * @throws RangeError when the part's grid or dimension differs
   */
  mergeIn(part: PositionStatisticsState): void {
    const { positions: P, dim: d } = this;
    if (part.positions !== P || part.dim !== d) throw new RangeError(`merging statistics of ${part.positions}×${part.dim} into ${P}×${d}`);
    const reference = this.requireReference();
    const tri = packedSize(d);
    const a = new Float64Array(d);
    const n = part.count;
    for (let p = 0; p < P; p++) {
      for (let i = 0; i < d; i++) a[i] = part.reference[p * d + i]! - reference[p * d + i]!;
      const s = part.sums.subarray(p * d, (p + 1) * d);
      let k = p * tri;
      for (let r = 0; r < d; r++) {
        for (let c = r; c < d; c++, k++) this.scatter[k]! += part.scatter[k]! + s[r]! * a[c]! + a[r]! * s[c]! + n * a[r]! * a[c]!;
        this.sums[p * d + r]! += s[r]! + n * a[r]!;
      }
    }
    this.count += n;
  }

  private requireReference(): Float32Array {
    if (this.pendingImages > 0) throw new Error('PositionStatistics read before flush()');
    if (!this.reference || this.count === 0) throw new Error('no features accumulated yet');
    return this.reference;
  }
}

/** Per-position mean of channel-major features [B, d, P] → [P, d]. */
function batchMean(features: Float32Array, positions: number, batch: number, dim: number): Float32Array {
  const out = new Float32Array(positions * dim);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < dim; c++) {
      const src = (b * dim + c) * positions;
      for (let p = 0; p < positions; p++) out[p * dim + c]! += features[src + p]! / batch;
    }
  }
  return out;
}

/**
 * Copies images b0 … b0+count−1 of channel-major features [B, d, P] into the position-major gather buffer, image
 * b0 + i into slot firstSlot + i of every position: gathered[(p·slots + slot)·d + c] = features[(b·d + c)·P + p].
 * In tiles of 32 positions × 32 channels, so both the strided reads and the scattered rows stay in cache.
 */
function intoPositionSlots(features: Float32Array, b0: number, count: number, dim: number, positions: number, gathered: Float32Array, slots: number, firstSlot: number): void {
  const tile = 32;
  for (let i = 0; i < count; i++) {
    const image = (b0 + i) * dim * positions;
    const slot = firstSlot + i;
    for (let p0 = 0; p0 < positions; p0 += tile) {
      const p1 = Math.min(positions, p0 + tile);
      for (let c0 = 0; c0 < dim; c0 += tile) {
        const c1 = Math.min(dim, c0 + tile);
        for (let p = p0; p < p1; p++) {
          let o = (p * slots + slot) * dim + c0;
          for (let c = c0, k = image + c0 * positions + p; c < c1; c++, k += positions) gathered[o++] = features[k]!;
        }
      }
    }
  }
}

/** target[offset + i] += values[i]. */
function addInto(target: Float64Array, offset: number, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) target[offset + i]! += values[i]!;
}

/** Adds the upper triangles of `count` d×d matrices (row-major float32) into packed float64 triangles at `offset`. */
function addUpperTriangles(packed: Float64Array, offset: number, matrices: Float32Array, count: number, dim: number): void {
  let k = offset;
  for (let m = 0; m < count; m++) {
    for (let r = 0; r < dim; r++) {
      let i = (m * dim + r) * dim + r;
      const end = k + dim - r;
      while (k < end) packed[k++]! += matrices[i++]!;
    }
  }
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

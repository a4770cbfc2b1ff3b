/**
 * Fusing anomaly maps of different scales (N-pad's per-position map and its position-free bank's map).
 *
 * Each map is put in units of its own nominal image maxima: s ↦ (s − mean) / sd, where mean and sd are those of
 * the map's largest value over held-out nominal images; the standardised maps are averaged. A value of 0 is then
 * as anomalous as the worst pixel of a typical good image, and 3 is three nominal spreads above it, whichever
 * part it comes from. The maxima are what decide an image's verdict, so they set the scale: a part whose good images
 * already reach high and variable maxima (per-position Gaussians on parts that are not aligned, where a good edge
 * out of place reads as a defect) is discounted against a part whose good images stay consistently low. Measured
 * on MTD and bottle in docs/method-choices.md (F1, F2) against pixel-level standardisation, log scores and the
 * maximum of the standardised maps.
 */

/** Mean and standard deviation of a map's largest value over nominal images not used for fitting. */
export interface NominalMaxima {
  /** Mean of the per-image maxima. */
  mean: number;
  /** Their sample standard deviation (n − 1), floored (see {@link nominalMaxima}). */
  sd: number;
}

/**
 * Relative floor of the standard deviation, so that identical held-out images (sd 0) do not divide by zero: a
 * part's spread counts as at least 0.1 % of its mean maximum.
 */
const RELATIVE_SD_FLOOR = 1e-3;

/**
 * The statistics of some nominal maxima (float64 sums).
 * @param maxima the largest value of one part's map on each held-out nominal image (at least 2)
 * @throws RangeError for fewer than 2 values or a non-finite one
 */
export function nominalMaxima(maxima: ArrayLike<number>): NominalMaxima {
  const n = maxima.length;
  if (n < 2) throw new RangeError(`standardising a map needs the maxima of at least 2 nominal images, got ${n}`);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(maxima[i]!)) throw new RangeError(`nominal maximum ${i} is not finite (${maxima[i]})`);
    sum += maxima[i]!;
  }
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (maxima[i]! - mean) ** 2;
  const sd = Math.sqrt(squares / (n - 1));
  return { mean, sd: Math.max(sd, RELATIVE_SD_FLOOR * Math.abs(mean), Number.MIN_VALUE) };
}

/** One value in units of a part's nominal maxima: (value − mean) / sd. */
export function standardise(value: number, stats: NominalMaxima): number {
  return (value - stats.mean) / stats.sd;
}

/**
 * The mean of the standardised maps: out[i] = (1/K) Σ_k (maps[k][i] − stats[k].mean) / stats[k].sd.
 * @param maps K maps of equal length
 * @param stats each map's nominal maxima
 */
export function fuseStandardised(maps: readonly Float32Array[], stats: readonly NominalMaxima[]): Float32Array {
  if (maps.length === 0 || maps.length !== stats.length) throw new RangeError(`fusing needs one statistic per map (got ${maps.length} maps, ${stats.length} statistics)`);
  const n = maps[0]!.length;
  if (maps.some((m) => m.length !== n)) throw new RangeError('fused maps must have the same size');
  const out = new Float32Array(n);
  const K = maps.length;
  for (let k = 0; k < K; k++) {
    const m = maps[k]!;
    const scale = 1 / (K * stats[k]!.sd);
    const shift = stats[k]!.mean;
    for (let i = 0; i < n; i++) out[i]! += (m[i]! - shift) * scale;
  }
  return out;
}

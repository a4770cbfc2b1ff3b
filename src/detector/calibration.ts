/**
 * Score thresholds and normalised scores (docs/scores.md). Raw scores are distances whose scale depends on the
 * method, the backbone and the product (13.6 may be nominal for one model and a gross defect for another), so a
 * model carries the thresholds at which it calls an image, or a pixel, defective, and scores are also reported
 * normalised: a logistic curve through the threshold, so the threshold reads 0.5 and a typical good image 0.1.
 *
 * Thresholds come from one of three sources:
 * - `holdout`: nominal images held out of the fit; the threshold is set for a target false-alarm rate;
 * - `f1-max`: a labelled test set; the threshold maximising F1;
 * - `manual`: given by hand.
 *
 * Everything here is pure arithmetic on scores, so it is tested without a backbone.
 */
import { NpadConfigError, NpadInputError } from '../errors.js';
import { f1Max, pixelGroundTruth } from '../metrics/index.js';
import { sampleWithoutReplacement, seededRandom } from '../util/random.js';
import { isRecord } from '../util/isRecord.js';

/** How a detector's scores are turned into verdicts and normalised scores. */
export interface ScoreCalibration {
  /** raw image score at which an image is called defective (score ≥ threshold) */
  imageThreshold: number;
  /** raw pixel score at which a pixel is marked defective in the mask (score ≥ threshold) */
  pixelThreshold: number;
  /** how the thresholds were chosen */
  source: 'holdout' | 'f1-max' | 'manual';
  /** image score of a typical good image (the median over the nominal images seen); normalises to 0.1 */
  typicalImageScore: number;
  /** pixel score of a typical good pixel (the median over the nominal pixels seen); normalises to 0.1 */
  typicalPixelScore: number;
  /** `holdout`: the target false-alarm rate (fraction of good images called defective); otherwise null */
  falseAlarmRate: number | null;
  /**
   * `holdout`: true when the held-out images were too few to reach `falseAlarmRate` by counting (fewer than
   * 1/rate − 1), so the threshold was extrapolated from a normal fit of their scores
   */
  extrapolated: boolean;
  /** images the thresholds were chosen from (0 for `manual`) */
  imageCount: number;
  /** when the calibration was made, ISO 8601 */
  createdAt: string;
}

/** Default share of the nominal images `npad fit` holds out to set the threshold. */
export const DEFAULT_HOLDOUT_FRACTION = 0.1;

/** Default target false-alarm rate: 1 good image in 100 called defective. */
export const DEFAULT_FALSE_ALARM_RATE = 0.01;

/** A typical nominal score normalises to this value. */
export const TYPICAL_NORMALISED_SCORE = 0.1;

/** logit(0.9) = ln 9: the distance, in spreads, between a typical nominal score and the threshold. */
const TYPICAL_LOGIT = Math.log((1 - TYPICAL_NORMALISED_SCORE) / TYPICAL_NORMALISED_SCORE);

/**
 * Maps a raw score to (0, 1) so that `threshold` ↦ 0.5 and `typical` ↦ 0.1: the logistic function
 * 1 / (1 + exp(−ln 9 · (score − threshold) / (threshold − typical))). Strictly increasing in the score; an
 * image as far above the threshold as a typical good image is below it reads 0.9.
 *
 * When `typical` is not below the threshold (a hand-set threshold under the nominal scores), the typical score is
 * taken as half the threshold (distances, ≥ 0), or the spread as 1 for a threshold ≤ 0 (N-pad's default scores are
 * standardised, in units of nominal spreads, and can be negative: there 1 is one spread).
 */
export function normaliseScore(score: number, threshold: number, typical: number): number {
  const z = (TYPICAL_LOGIT * (score - threshold)) / spreadOf(threshold, typical);
  return 1 / (1 + Math.exp(-z));
}

/** threshold − typical, or a fallback when that is not positive (see {@link normaliseScore}). */
function spreadOf(threshold: number, typical: number): number {
  if (typical < threshold) return threshold - typical;
  return threshold > 0 ? threshold / 2 : 1;
}

/** A raw image score, normalised so the calibration's image threshold is 0.5 (see {@link normaliseScore}). */
export function normaliseImageScore(calibration: ScoreCalibration, score: number): number {
  return normaliseScore(score, calibration.imageThreshold, calibration.typicalImageScore);
}

/** A raw pixel score, normalised so the calibration's pixel threshold is 0.5 (see {@link normaliseScore}). */
export function normalisePixelScore(calibration: ScoreCalibration, score: number): number {
  return normaliseScore(score, calibration.pixelThreshold, calibration.typicalPixelScore);
}

/** The median of some numbers (the mean of the middle two for an even count); NaN for none. */
export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** The inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs p in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** A threshold chosen for a false-alarm rate, and whether it had to be extrapolated. */
export interface FalseAlarmThreshold {
  /** call a score defective when it is ≥ this */
  threshold: number;
  /** true when the scores were too few to reach the rate by counting (see {@link falseAlarmThreshold}) */
  extrapolated: boolean;
}

/**
 * The threshold at which a new nominal score is called defective with probability at most `rate`, from n nominal
 * scores not used for fitting.
 *
 * By counting (conformal): with k = ⌊rate · (n + 1)⌋ ≥ 1 the k-th largest score is the threshold; a new score
 * exchangeable with these exceeds it with probability k / (n + 1) ≤ rate. With fewer than 1/rate − 1 scores
 * k = 0 and no observed score can promise the rate; the threshold is then the larger of the highest score and
 * the normal quantile mean + z(1 − rate) · sd of the scores, and `extrapolated` is set.
 *
 * @param scores nominal scores (held-out good images)
 * @param rate target false-alarm rate in (0, 1)
 * @throws RangeError on no scores, a non-finite score or a rate outside (0, 1)
 */
export function falseAlarmThreshold(scores: ArrayLike<number>, rate: number): FalseAlarmThreshold {
  checkRate(rate);
  const n = scores.length;
  if (n === 0) throw new RangeError('a false-alarm threshold needs at least one nominal score');
  const sorted = Float64Array.from(scores).sort();
  if (!Number.isFinite(sorted[0]!) || !Number.isFinite(sorted[n - 1]!)) throw new RangeError('nominal scores must be finite');
  const k = Math.floor(rate * (n + 1) + 1e-9);
  if (k >= 1) return { threshold: sorted[n - Math.min(k, n)]!, extrapolated: false };
  let mean = 0;
  for (const s of sorted) mean += s / n;
  let variance = 0;
  for (const s of sorted) variance += (s - mean) ** 2 / Math.max(1, n - 1);
  const normal = mean + normalQuantile(1 - rate) * Math.sqrt(variance);
  return { threshold: Math.max(sorted[n - 1]!, normal), extrapolated: true };
}

function checkRate(rate: number): void {
  if (!(rate > 0 && rate < 1)) throw new NpadConfigError(`the false-alarm rate must be in (0, 1), got ${String(rate)}`);
}

/** The largest value of a map. */
function maxOf(values: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  return m;
}

/**
 * A median of many pixel scores from at most about `limit` of them (an even stride through all maps), so the
 * typical pixel of a large set is found without sorting millions of values.
 */
function pixelMedian(maps: readonly ArrayLike<number>[], keep: (image: number, pixel: number) => boolean, limit = 1_000_000): number {
  const total = maps.reduce((s, m) => s + m.length, 0);
  const stride = Math.max(1, Math.floor(total / limit));
  const picked: number[] = [];
  let offset = 0;
  maps.forEach((m, i) => {
    for (let p = (stride - (offset % stride)) % stride; p < m.length; p += stride) if (keep(i, p)) picked.push(m[p]!);
    offset += m.length;
  });
  return median(picked);
}

/**
 * Thresholds from nominal images held out of the fit. The image threshold is the {@link falseAlarmThreshold} of
 * their image scores; the pixel threshold the same of each image's highest pixel score, so a good image's mask
 * is empty as often as the image is called good.
 *
 * @param imageScores image scores of the held-out good images
 * @param maps their anomaly maps (any equal sizes)
 * @param falseAlarmRate target rate, default {@link DEFAULT_FALSE_ALARM_RATE}
 * @throws RangeError when there are no images, counts differ, or the rate is outside (0, 1)
 */
export function holdoutCalibration(
  imageScores: ArrayLike<number>,
  maps: readonly ArrayLike<number>[],
  falseAlarmRate = DEFAULT_FALSE_ALARM_RATE,
): ScoreCalibration {
  if (imageScores.length !== maps.length) throw new RangeError(`${imageScores.length} image scores but ${maps.length} maps`);
  const image = falseAlarmThreshold(imageScores, falseAlarmRate);
  const pixel = falseAlarmThreshold(maps.map(maxOf), falseAlarmRate);
  return {
    imageThreshold: image.threshold,
    pixelThreshold: pixel.threshold,
    source: 'holdout',
    typicalImageScore: median(imageScores),
    typicalPixelScore: pixelMedian(maps, () => true),
    falseAlarmRate,
    extrapolated: image.extrapolated || pixel.extrapolated,
    imageCount: imageScores.length,
    createdAt: new Date().toISOString(),
  };
}

/**
 * Thresholds from a labelled set: the image threshold maximising image F1, the pixel threshold maximising pixel
 * F1 over every pixel of every map (metrics/f1.ts; ties go to the highest threshold).
 *
 * @param imageScores image scores of the labelled images
 * @param labels 1 = defective, 0 = good, per image
 * @param maps anomaly maps, one per image (equal sizes)
 * @param masks ground truth, one per map, 1 = defective pixel; null for a defective image without a mask (left out
 *   of the pixel threshold)
 * @param previous the model's calibration, whose pixel threshold is kept when no image has a defect mask (without
 *   one, the image threshold is used)
 * @throws RangeError when there is no defective image, or counts or sizes differ
 */
export function f1MaxCalibration(
  imageScores: ArrayLike<number>,
  labels: ArrayLike<number>,
  maps: readonly Float32Array[],
  masks: readonly (Uint8Array | null)[],
  previous: ScoreCalibration | null = null,
): ScoreCalibration {
  if (maps.length !== masks.length || maps.length !== imageScores.length) {
    throw new RangeError(`${imageScores.length} scores, ${maps.length} maps and ${masks.length} masks: counts differ`);
  }
  const pixels = pixelGroundTruth(maps, masks);
  const goodScores: number[] = [];
  for (let i = 0; i < imageScores.length; i++) if (labels[i] === 0) goodScores.push(imageScores[i]!);
  const imageThreshold = f1Max(imageScores, labels).threshold;
  // Without any defect mask there is no pixel F1: keep the model's pixel threshold, else use the image threshold
  // (every method's image score is, or is close to, its map's maximum).
  const pixelThreshold = pixels.anyDefect ? f1Max(pixels.scores, pixels.labels).threshold : (previous?.pixelThreshold ?? imageThreshold);
  return {
    imageThreshold,
    pixelThreshold,
    source: 'f1-max',
    // Without good images, the threshold's own fallback applies (see normaliseScore).
    typicalImageScore: goodScores.length ? median(goodScores) : imageThreshold,
    typicalPixelScore: pixelMedian(pixels.maps, (i, p) => pixels.masks[i]![p] === 0),
    falseAlarmRate: null,
    extrapolated: false,
    imageCount: maps.length,
    createdAt: new Date().toISOString(),
  };
}

/** The largest float32: scores are float32 values, so a threshold beyond it could never be reached (or never missed). */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Why `v` cannot be a score threshold, or null: it must be finite and within float32's range (it may be negative: standardised maps are). */
function thresholdProblem(v: number): string | null {
  if (!Number.isFinite(v)) return 'expected a finite number';
  if (Math.abs(v) > FLOAT32_MAX) return `expected a score within float32's range (±${FLOAT32_MAX.toPrecision(5)})`;
  return null;
}

/**
 * Thresholds set by hand. A threshold left undefined is kept from `previous`; the typical scores, which only
 * shape the normalised scores, are kept from `previous` too (without one, see {@link normaliseScore}'s fallback).
 *
 * @throws NpadInputError when a threshold is missing and there is no previous calibration, or is not finite
 */
export function manualCalibration(
  thresholds: { imageThreshold?: number; pixelThreshold?: number },
  previous: ScoreCalibration | null,
): ScoreCalibration {
  const pick = (key: 'imageThreshold' | 'pixelThreshold'): number => {
    const v = thresholds[key] ?? previous?.[key];
    if (v === undefined) throw new NpadInputError(`${key} is needed: the model has no threshold to keep`);
    const problem = thresholdProblem(v);
    if (problem) throw new NpadInputError(`${key}: ${problem}, got ${String(v)}`);
    return v;
  };
  const imageThreshold = pick('imageThreshold');
  const pixelThreshold = pick('pixelThreshold');
  return {
    imageThreshold,
    pixelThreshold,
    source: 'manual',
    typicalImageScore: previous?.typicalImageScore ?? imageThreshold,
    typicalPixelScore: previous?.typicalPixelScore ?? pixelThreshold,
    falseAlarmRate: null,
    extrapolated: false,
    imageCount: 0,
    createdAt: new Date().toISOString(),
  };
}

/**
 * Splits nominal images into those to fit on and those held out to set the threshold: round(fraction · n) held
 * out (at least one when the fraction is positive), drawn at random with a fixed seed, both lists in their
 * original order.
 *
 * @param images nominal images
 * @param fraction share held out, in [0, 1); 0 holds out nothing
 * @throws NpadInputError when the fraction is out of range or nothing would be left to fit on
 */
export function splitHoldout<T>(images: readonly T[], fraction: number, seed = 0): { fit: T[]; holdout: T[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new NpadInputError(`held-out fraction: expected a fraction in [0, 1), got ${String(fraction)}`);
  if (fraction === 0) return { fit: [...images], holdout: [] };
  const count = Math.max(1, Math.round(fraction * images.length));
  if (count >= images.length) {
    throw new NpadInputError(`held-out fraction ${fraction}: ${images.length} image${images.length === 1 ? '' : 's'} leave nothing to fit on after holding out ${count}; hold out none and set the threshold later`);
  }
  const held = new Set(sampleWithoutReplacement(images.length, count, seededRandom(seed)));
  return { fit: images.filter((_, i) => !held.has(i)), holdout: images.filter((_, i) => held.has(i)) };
}

/**
 * Checks a calibration read from a model file (or sent by a client).
 * @param value the parsed JSON
 * @param file the file it came from, for the message
 * @throws NpadInputError naming the file and the bad field
 */
export function parseCalibration(value: unknown, file: string): ScoreCalibration {
  const bad = (why: string): NpadInputError => new NpadInputError(`${file}: invalid score calibration: ${why}`, file);
  if (!isRecord(value)) throw bad('not a JSON object');
  const finite = (key: string): number => {
    const v = value[key];
    const problem = typeof v === 'number' ? thresholdProblem(v) : 'expected a number';
    if (problem) throw bad(`${key} ${JSON.stringify(v)}: ${problem}`);
    return v as number;
  };
  const source = value.source;
  if (source !== 'holdout' && source !== 'f1-max' && source !== 'manual') throw bad(`source ${JSON.stringify(source)} is not holdout, f1-max or manual`);
  const rate = value.falseAlarmRate;
  if (rate !== null && rate !== undefined && !(typeof rate === 'number' && rate > 0 && rate < 1)) throw bad('falseAlarmRate is not null or in (0, 1)');
  const imageThreshold = finite('imageThreshold');
  const pixelThreshold = finite('pixelThreshold');
  const count = value.imageCount;
  return {
    imageThreshold,
    pixelThreshold,
    source,
    typicalImageScore: typeof value.typicalImageScore === 'number' && Number.isFinite(value.typicalImageScore) ? value.typicalImageScore : imageThreshold,
    typicalPixelScore: typeof value.typicalPixelScore === 'number' && Number.isFinite(value.typicalPixelScore) ? value.typicalPixelScore : pixelThreshold,
    falseAlarmRate: typeof rate === 'number' ? rate : null,
    extrapolated: value.extrapolated === true,
    imageCount: typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 ? count : 0,
    createdAt: typeof value.createdAt === 'string' ? value.createdAt : '',
  };
}

/** One line describing a calibration, for the command line. */
export function describeCalibration(c: ScoreCalibration): string {
  const how =
    c.source === 'holdout'
      ? `false-alarm rate ${formatRate(c.falseAlarmRate ?? Number.NaN)} on ${plural(c.imageCount, 'held-out good image')}` +
        (c.extrapolated ? `; extrapolated from a normal fit, as counting on ${plural(c.imageCount, 'image')} can only certify ${formatRate(1 / (c.imageCount + 1))}` : '')
      : c.source === 'f1-max'
        ? `F1-max on ${plural(c.imageCount, 'labelled image')}`
        : 'set by hand';
  return `image threshold ${formatScore(c.imageThreshold)}, pixel threshold ${formatScore(c.pixelThreshold)} (${how})`;
}

/** A raw score with 4 significant digits. */
export function formatScore(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function formatRate(r: number): string {
  return `${Number((100 * r).toPrecision(3))} %`;
}

/**
 * A verdict asked of a detector that has no score threshold (never calibrated: fitted without held-out images, or
 * by an npad older than thresholds). Its message says how to set one with the library; the CLI words it with its
 * commands.
 */
export class NpadNoThresholdError extends NpadInputError {
  /** @param modelFile the model file the detector was loaded from, when it was */
  constructor(readonly modelFile: string | null) {
    super(
      `${modelFile ?? 'detector'}: the model has no score threshold, so it cannot call images good or defective ` +
        `(it was fitted without held-out images, or by an older npad). Set one from good images it was not fitted on: ` +
        `detector.calibrate(images); from a labelled test set: detector.setCalibration(f1MaxCalibration(...)); ` +
        `or by hand: detector.setCalibration(manualCalibration({ imageThreshold, pixelThreshold }, null)) (see docs/scores.md)`,
      modelFile ?? undefined,
    );
    this.name = 'NpadNoThresholdError';
  }
}

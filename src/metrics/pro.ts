/**
 * Per-region overlap (PRO), the pixel-level metric of MVTec AD (Bergmann et al.,
 * "The MVTec Anomaly Detection Dataset", IJCV 2021).
 *
 * Pixel AUROC is dominated by large defects (they own most anomalous pixels);
 * PRO weights every connected defect region equally instead: at a threshold t
 * the overlap of a region is the fraction of its pixels scoring ≥ t, and PRO(t)
 * is the mean of that over all regions of all images. It is plotted against the
 * pixel FPR (nominal pixels scoring ≥ t) and integrated only up to a low FPR
 * (0.3 by default), where a detector would actually be operated.
 *
 * Exactness and scale: instead of evaluating a grid of thresholds, one sweep over
 * all pixels sorted by descending score visits every distinct score, tied pixels
 * together. Each region pixel contributes 1 / (regionSize · regionCount) to the
 * mean overlap, so the overlap at a threshold is a suffix sum over the sorted
 * anomalous scores, precomputed once.
 */

import { assertMaskShape, labelConnectedComponents } from './components.js';
import { createCurveSampler } from './downsample.js';
import { DEFAULT_CURVE_POINTS } from './roc.js';
import { sweepThresholdsDescending } from './sweep.js';
import { assertIntegerAtLeast, assertNoNaN } from './validate.js';

export { labelConnectedComponents, type ConnectedComponents } from './components.js';

/** Default FPR integration limit of MVTec AD's AU-PRO. */
export const DEFAULT_MAX_FPR = 0.3;

/** A PRO curve from (0, 0) up to FPR = maxFpr, ordered by decreasing threshold. */
export interface ProCurve {
  /** Pixel false-positive rate of each vertex, nondecreasing, last = maxFpr. */
  readonly fpr: Float64Array;
  /** Mean per-region overlap of each vertex, nondecreasing, in [0, 1]. */
  readonly pro: Float64Array;
}

/**
 * Normalised area under the PRO curve up to `maxFpr` (AU-PRO, MVTec AD).
 *
 * Regions are the 4-connected components of each ground-truth mask (see
 * {@link labelConnectedComponents}; same as `scipy.ndimage.label`'s default used
 * by the official evaluation code). The FPR counts nominal pixels (mask 0) of all
 * images, including fully nominal ones. The curve is integrated with the
 * trapezoid rule from FPR 0 to exactly `maxFpr` (interpolating linearly at the
 * cut) and divided by `maxFpr`, so a perfect detector scores 1. Tied scores form
 * one diagonal step, as in AUROC.
 *
 * @param maps - anomaly maps, one per image, row-major width×height; NaN is rejected
 * @param masks - ground-truth masks, one per map, 1 = defect, 0 = nominal (nominal images: all 0)
 * @param width - map width in pixels, or each map's
 * @param height - map height in pixels, or each map's
 * @param maxFpr - FPR integration limit in (0, 1], default 0.3
 * @returns AU-PRO in [0, 1]
 * @throws RangeError on mismatched counts or sizes, NaN scores, mask values other than 0/1,
 *   maxFpr outside (0, 1], no defect region at all, or no nominal pixel at all
 */
export function perRegionOverlap(
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  width: MapSide,
  height: MapSide,
  maxFpr = DEFAULT_MAX_FPR,
): number {
  assertMaxFpr(maxFpr);
  const sweep = prepareProSweep(maps, masks, width, height);
  let area = 0;
  let previousFpr = 0;
  let previousPro = 0;
  visitProVertices(sweep, maxFpr, (fpr, pro) => {
    area += ((fpr - previousFpr) * (previousPro + pro)) / 2;
    previousFpr = fpr;
    previousPro = pro;
  });
  return area / maxFpr;
}

/**
 * The PRO curve from (0, 0) to FPR = maxFpr (the point at maxFpr interpolated
 * linearly), down-sampled for plotting to at most `maxPoints` points spaced
 * evenly along the curve; the first and last point are always kept. Same
 * definitions as {@link perRegionOverlap}.
 *
 * @param maps - anomaly maps, one per image, row-major width×height
 * @param masks - ground-truth masks, one per map, 1 = defect, 0 = nominal
 * @param width - map width in pixels, or each map's
 * @param height - map height in pixels, or each map's
 * @param maxFpr - FPR at which the curve ends, in (0, 1], default 0.3
 * @param maxPoints - the most points to return (integer ≥ 2), default 512
 * @throws RangeError as {@link perRegionOverlap}, or maxPoints < 2
 */
export function proCurve(
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  width: MapSide,
  height: MapSide,
  maxFpr = DEFAULT_MAX_FPR,
  maxPoints = DEFAULT_CURVE_POINTS,
): ProCurve {
  assertMaxFpr(maxFpr);
  assertIntegerAtLeast('maxPoints', maxPoints, 2);
  const sweep = prepareProSweep(maps, masks, width, height);
  // A counting pass first, so a curve that already fits is returned whole.
  let vertexCount = 1;
  visitProVertices(sweep, maxFpr, () => {
    vertexCount++;
  });
  // Arc position fpr/maxFpr + pro runs from 0 to at most 2.
  const sampler = createCurveSampler(maxPoints, vertexCount, 2);
  const capacity = Math.min(maxPoints, vertexCount);
  const fprs = new Float64Array(capacity);
  const pros = new Float64Array(capacity);
  let kept = 1;
  visitProVertices(sweep, maxFpr, (fpr, pro, isLast) => {
    if (isLast || sampler.keepInterior(fpr / maxFpr + pro)) {
      fprs[kept] = fpr;
      pros[kept] = pro;
      kept++;
    }
  });
  return { fpr: fprs.slice(0, kept), pro: pros.slice(0, kept) };
}

/** Everything the threshold sweep needs, computed once from maps and masks. */
interface ProSweep {
  /** Scores of all defect pixels of all images, ascending. */
  readonly anomalousScores: Float32Array;
  /**
   * overlapAtOrAbove[i] = mean per-region overlap when exactly the anomalous pixels
   * at sorted positions ≥ i are flagged, for every i that starts a tie group
   * (and i = length, which is 0). Length = anomalousScores.length + 1.
   */
  readonly overlapAtOrAbove: Float64Array;
  /** Scores of all nominal pixels of all images, ascending. */
  readonly nominalScores: Float32Array;
}

/**
 * Validates the inputs, labels the defect regions and builds the sorted score
 * lists and overlap suffix sums.
 */
function prepareProSweep(
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  width: MapSide,
  height: MapSide,
): ProSweep {
  const anomalousCount = validateMapsAndMasks(maps, masks, width, height);
  const pixelCount = maps.reduce((n, m) => n + m.length, 0);
  if (anomalousCount === 0) {
    throw new RangeError('masks contain no anomalous pixel, hence no defect region: PRO is undefined');
  }
  if (anomalousCount === pixelCount) {
    throw new RangeError('masks contain no nominal pixel: the false-positive rate of PRO is undefined');
  }

  // Gather scores by pixel class; an anomalous pixel's weight is 1 / (size of its region).
  const anomalousScoresInPixelOrder = new Float32Array(anomalousCount);
  const anomalousWeights = new Float64Array(anomalousCount);
  const nominalScores = new Float32Array(pixelCount - anomalousCount);
  let regionCount = 0;
  let nextAnomalous = 0;
  let nextNominal = 0;
  for (let image = 0; image < maps.length; image++) {
    const map = maps[image]!;
    const { labels, count } = labelConnectedComponents(masks[image]!, sideOf(width, image), sideOf(height, image));
    const regionSizes = new Int32Array(count + 1);
    for (let pixel = 0; pixel < labels.length; pixel++) regionSizes[labels[pixel]!]!++;
    for (let pixel = 0; pixel < labels.length; pixel++) {
      const region = labels[pixel]!;
      if (region === 0) {
        nominalScores[nextNominal++] = map[pixel]!;
      } else {
        anomalousScoresInPixelOrder[nextAnomalous] = map[pixel]!;
        anomalousWeights[nextAnomalous] = 1 / regionSizes[region]!;
        nextAnomalous++;
      }
    }
    regionCount += count;
  }
  nominalScores.sort();

  const anomalousScores = anomalousScoresInPixelOrder.slice().sort();
  // Tied pixels cannot be told apart after sorting, so each pixel's weight is added
  // at the first sorted position of its score; the sweep only reads those positions.
  const overlapAtOrAbove = new Float64Array(anomalousCount + 1);
  for (let i = 0; i < anomalousCount; i++) {
    overlapAtOrAbove[firstIndexOf(anomalousScores, anomalousScoresInPixelOrder[i]!)]! += anomalousWeights[i]!;
  }
  for (let i = anomalousCount - 1; i >= 0; i--) {
    overlapAtOrAbove[i] = overlapAtOrAbove[i + 1]! + overlapAtOrAbove[i]! / regionCount;
  }
  // With every defect pixel flagged each region is fully covered: make that exactly 1, not 1 ± rounding.
  overlapAtOrAbove[0] = 1;
  return { anomalousScores, overlapAtOrAbove, nominalScores };
}

/**
 * Calls `visit` with every vertex of the PRO curve after the origin, by
 * decreasing threshold, up to and including the vertex at FPR = maxFpr, which is
 * interpolated linearly between the last vertex below and the first at or above
 * it and flagged `isLast`.
 */
function visitProVertices(
  sweep: ProSweep,
  maxFpr: number,
  visit: (fpr: number, pro: number, isLast: boolean) => void,
): void {
  const { anomalousScores, overlapAtOrAbove, nominalScores } = sweep;
  const anomalousCount = anomalousScores.length;
  const nominalCount = nominalScores.length;
  let previousFpr = 0;
  let previousPro = 0;
  sweepThresholdsDescending(anomalousScores, nominalScores, (_threshold, anomalousAtOrAbove, nominalAtOrAbove) => {
    const fpr = nominalAtOrAbove / nominalCount;
    const pro = overlapAtOrAbove[anomalousCount - anomalousAtOrAbove]!;
    if (fpr >= maxFpr) {
      // previousFpr < maxFpr ≤ fpr, so the division is safe.
      const proAtMaxFpr = previousPro + ((pro - previousPro) * (maxFpr - previousFpr)) / (fpr - previousFpr);
      visit(maxFpr, proAtMaxFpr, true);
      return false;
    }
    visit(fpr, pro, false);
    previousFpr = fpr;
    previousPro = pro;
    return true;
  });
}

/**
 * Validates maps and masks and returns the total number of anomalous (mask 1) pixels.
 */
function validateMapsAndMasks(
  maps: readonly Float32Array[],
  masks: readonly Uint8Array[],
  widths: MapSide,
  heights: MapSide,
): number {
  if (maps.length !== masks.length) {
    throw new RangeError(`maps and masks must have the same length, got ${maps.length} maps and ${masks.length} masks`);
  }
  if (maps.length === 0) throw new RangeError('maps and masks are empty: PRO needs at least one image');
  for (const [name, side] of [['widths', widths], ['heights', heights]] as const) {
    if (typeof side !== 'number' && side.length !== maps.length) throw new RangeError(`${side.length} ${name} for ${maps.length} maps`);
  }
  let anomalousCount = 0;
  for (let image = 0; image < maps.length; image++) {
    const map = maps[image]!;
    const mask = masks[image]!;
    const width = sideOf(widths, image);
    const height = sideOf(heights, image);
    assertMaskShape(mask, width, height, `masks[${image}]`);
    if (map.length !== width * height) {
      throw new RangeError(
        `maps[${image}].length = ${map.length} but width × height = ${width} × ${height} = ${width * height}`,
      );
    }
    assertNoNaN(map, `maps[${image}]`);
    for (let pixel = 0; pixel < mask.length; pixel++) anomalousCount += mask[pixel]!;
  }
  return anomalousCount;
}

/** A map side in pixels: one for every map, or one per map (maps of different sizes, e.g. tiled photos). */
export type MapSide = number | readonly number[];

/** The side of map `image`. */
function sideOf(side: MapSide, image: number): number {
  return typeof side === 'number' ? side : side[image]!;
}

/** Throws a RangeError unless 0 < maxFpr ≤ 1. */
function assertMaxFpr(maxFpr: number): void {
  if (!(maxFpr > 0 && maxFpr <= 1)) {
    throw new RangeError(`maxFpr must be in (0, 1], got ${String(maxFpr)}`);
  }
}

/** Index of the first element equal to `value` in an ascending array that contains it (lower bound). */
function firstIndexOf(ascending: Float32Array, value: number): number {
  let low = 0;
  let high = ascending.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ascending[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

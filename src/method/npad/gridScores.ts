/**
 * Inference (paper §3.4): per-position Mahalanobis scores of module A, with module C's minimum over the
 * neighbours' distributions, and of module B; their geometric mean as the pixel score (eq. 11); and the
 * image score from the top-k scores and the centroid distances (eq. 12–14).
 */
import { assignToCentroids } from '../../engine/kmeans.js';
import { averageNeighbourhood } from '../parts/aggregate.js';
import type { GaussianGrid } from '../parts/gaussians.js';
import { positionDistances, scoreAgainstGrid } from '../parts/gaussianScores.js';
import type { Neighbourhoods } from './neighbourhood.js';
import type { NpadOptions } from './options.js';

/** The fitted parts scoring needs. */
export interface ScoringModel {
  height: number;
  width: number;
  dim: number;
  /** Module A's Gaussians (null when module A is off). */
  weighted: GaussianGrid | null;
  /** Module B's Gaussians of aggregated features (null when module B is off). */
  aggregated: GaussianGrid | null;
  /** Module B's centroid bank [k, d] (null when module B is off). */
  centroids: Float32Array | null;
  centroidCount: number;
}

/** Scores of M images (or shifted versions of images) on the feature grid. */
export interface GridScores {
  /** [M, P] pixel score s(p) on the grid (eq. 11). */
  pixel: Float32Array;
  /** [M] image scores (eq. 12–14). */
  image: Float64Array;
}

/**
 * Module A (+ C): s_A(p)² = min over q ∈ N_inf(p) of the squared distance of f(p) to (μ'_q, Σ'_q).
 * Computed from q's side: each q scores the features of the positions in its (symmetric) window.
 */
export async function moduleAScores(grid: GaussianGrid, features: Float32Array, images: number, hood: Neighbourhoods | null): Promise<Float32Array> {
  const P = grid.positions;
  const out = new Float32Array(images * P).fill(Infinity);
  const K = hood ? hood.perPosition : 1;
  const neighbour = hood ? (q: number, k: number) => hood.indices[q * K + k]! : (q: number) => q;
  await scoreAgainstGrid(grid, features, images, K, neighbour, (q, m, k, dist) => {
    if (hood && !hood.valid[q * K + k]) return;
    const p = neighbour(q, k);
    const i = m * P + p;
    if (dist < out[i]!) out[i] = dist;
  });
  return out;
}

/** Scores M feature maps (channel-major [M, d, P]). */
export async function scoreFeatures(
  model: ScoringModel,
  features: Float32Array,
  images: number,
  opts: NpadOptions,
  inferenceHood: Neighbourhoods | null,
): Promise<GridScores> {
  const { height: H, width: W, dim: d } = model;
  const P = H * W;
  const aggregated = model.aggregated ? await averageNeighbourhood(features, images, d, H, W, opts.aggregationRadius) : null;
  const a2 = model.weighted ? await moduleAScores(model.weighted, features, images, opts.moduleC ? inferenceHood : null) : null;
  const b2 = model.aggregated && aggregated ? await positionDistances(model.aggregated, aggregated, images) : null;
  const pixel = combineModuleScores(a2, b2, images * P);
  const image = await imageScoresOf(model, pixel, a2, b2, aggregated, images, P, opts);
  return { pixel, image };
}

/** Pixel score (eq. 11) from modules A's and B's squared distances: the geometric mean of the two distances, or the one present. */
export function combineModuleScores(a2: Float32Array | null, b2: Float32Array | null, count: number): Float32Array {
  const pixel = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const a = a2 ? Math.sqrt(Math.max(0, a2[i]!)) : null;
    const b = b2 ? Math.sqrt(Math.max(0, b2[i]!)) : null;
    pixel[i] = a !== null && b !== null ? Math.sqrt(a * b) : (a ?? b)!;
  }
  return pixel;
}

/**
 * Image scores of M score maps from the map the options name (pixel, A or B). `aggregatedOf(m)` says whose
 * aggregated features (index into `aggregated`) map m's centroid distances read: m itself unless several maps
 * share one image's features (shifting in feature space).
 */
export async function imageScoresOf(
  model: ScoringModel,
  pixel: Float32Array,
  a2: Float32Array | null,
  b2: Float32Array | null,
  aggregated: Float32Array | null,
  images: number,
  P: number,
  opts: NpadOptions,
  aggregatedOf: (m: number) => number = (m) => m,
): Promise<Float64Array> {
  const source = opts.imageScoreSource === 'A' ? sqrtAll(a2!) : opts.imageScoreSource === 'B' ? sqrtAll(b2!) : pixel;
  return imageScores(model, source, aggregated, images, P, opts, aggregatedOf);
}

function sqrtAll(x: Float32Array): Float32Array {
  return x.map((v) => Math.sqrt(Math.max(0, v)));
}

/**
 * Indices of the k largest values of x[offset … offset+n), largest first; ties go to the lower index. One pass
 * with a sorted list of the best k so far (k is small: topK = 10), instead of sorting all n.
 */
export function topIndices(x: Float32Array, offset: number, n: number, k: number): Int32Array {
  const count = Math.min(k, n);
  const best = new Int32Array(count);
  let filled = 0;
  for (let i = 0; i < n; i++) {
    const v = x[offset + i]!;
    // Strictly greater than the current k-th: an equal value later in the list loses the tie.
    if (filled === count && !(v > x[offset + best[count - 1]!]!)) continue;
    let j = filled < count ? filled++ : count - 1;
    while (j > 0 && v > x[offset + best[j - 1]!]!) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = i;
  }
  return best;
}

/**
 * Euclidean distance of aggregated features g(p) to their nearest centroid, at the given positions of each
 * image (`positions[m]`), or at every position when `positions` is null. Returns [images, count].
 */
async function centroidDistances(
  model: ScoringModel,
  aggregated: Float32Array,
  images: number,
  P: number,
  positions: Int32Array[] | null,
  aggregatedOf: (m: number) => number,
): Promise<Float32Array> {
  const d = model.dim;
  const count = positions ? positions[0]!.length : P;
  const vectors = new Float32Array(images * count * d);
  for (let m = 0; m < images; m++) {
    const base = aggregatedOf(m) * d * P;
    for (let j = 0; j < count; j++) {
      const p = positions ? positions[m]![j]! : j;
      for (let c = 0; c < d; c++) vectors[(m * count + j) * d + c] = aggregated[base + c * P + p]!;
    }
  }
  const { distances } = await assignToCentroids(vectors, images * count, model.centroids!, model.centroidCount, d);
  return distances.map((x) => Math.sqrt(x));
}

/**
 * Image score (eq. 12–14): M = the top-k scores; E = at the same positions, the Euclidean distance of g(p)
 * to its nearest centroid. Both sorted ascending and combined rank by rank, then averaged. With
 * imageScoreSource 'centroid' the k positions are those farthest from the centroid bank (E over the whole
 * map) and M is the pixel score there.
 */
async function imageScores(
  model: ScoringModel,
  source: Float32Array,
  aggregated: Float32Array | null,
  images: number,
  P: number,
  opts: NpadOptions,
  aggregatedOf: (m: number) => number,
): Promise<Float64Array> {
  const k = Math.min(opts.topK, P);
  const hasBank = model.centroids !== null && aggregated !== null;
  const allE = opts.imageScoreSource === 'centroid' && hasBank ? await centroidDistances(model, aggregated!, images, P, null, aggregatedOf) : null;
  const rankBy = allE ?? source;
  const top = Array.from({ length: images }, (_, m) => topIndices(rankBy, m * P, P, k));
  let topE: Float32Array | null = null;
  if (opts.imageScoreCombine !== 'mahalanobis-only' && hasBank) {
    topE = allE ? Float32Array.from({ length: images * k }, (_, i) => allE[Math.floor(i / k) * P + top[Math.floor(i / k)]![i % k]!]!) : await centroidDistances(model, aggregated!, images, P, top, aggregatedOf);
  }
  const scores = new Float64Array(images);
  for (let m = 0; m < images; m++) {
    const M = Array.from(top[m]!, (p) => source[m * P + p]!).sort((a, b) => a - b);
    if (!topE) {
      scores[m] = mean(M);
      continue;
    }
    const E = Array.from(topE.subarray(m * k, (m + 1) * k)).sort((a, b) => a - b);
    scores[m] = mean(M.map((mv, j) => combine(mv, E[j]!, opts.imageScoreCombine)));
  }
  return scores;
}

function combine(m: number, e: number, how: NpadOptions['imageScoreCombine']): number {
  switch (how) {
    case 'product':
      return m * e;
    case 'geometric':
      return Math.sqrt(m * e);
    case 'sum':
      return m + e;
    case 'mahalanobis-only':
      return m;
    case 'centroid-only':
      return e;
  }
}

function mean(x: readonly number[]): number {
  let s = 0;
  for (const v of x) s += v;
  return s / x.length;
}

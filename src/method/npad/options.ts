/**
 * Every choice of N-pad (Jang, Hwang, Park, CVPRW 2023) as a named option. Where the paper's text leaves a
 * point open (see docs/method-choices.md) the default is the measured best; the paper's own value is given
 * in each option's comment.
 */
import { NpadConfigError } from '../../errors.js';
import { INDEX_KINDS, type IndexKind } from '../../engine/nearestIndex.js';
import { OPTION_LIMITS, checkAtMost, checkBoolean, checkInteger, checkOneOf, checkRange } from '../optionChecks.js';

/** Which d of the backbone's channels are kept (paper §3.1). */
export type ChannelSelection =
  /** the channels with the fewest zeros over the nominal features (the paper's reasoning: ReLU zeros distort a Gaussian) */
  | 'fewest-zeros'
  /** the channels with the most zeros (the paper's literal wording, "least nonzero values") */
  | 'most-zeros'
  /** a random subset, as PaDiM */
  | 'random';

/** How the neighbours of a position are weighted in module A (paper §3.2 and its table 5). */
export type NeighbourWeighting = 'bhattacharyya' | 'uniform' | 'random';

export interface NpadOptions {
  /** Reduced channel count d (paper 550; 200 measured as good on bottle at a third of the cost, docs/method-choices.md). */
  dim: number;
  /** Channel selection rule (paper: by zero counts; see ChannelSelection). */
  channelSelection: ChannelSelection;
  /** Seed of every random choice (random channels, random weights, k-means initialisation). */
  seed: number;
  /** ε added to every covariance diagonal (PaDiM's 0.01). */
  epsilon: number;

  /** Module A: per-position Gaussians that borrow the neighbours' features, weighted by similarity. Off: plain per-position Gaussians (PaDiM). */
  moduleA: boolean;
  /** Radius of module A's training neighbourhood: 1 = 3×3 window (the paper's "size 3" read as a width). */
  trainRadius: number;
  /** Shape of the training and inference neighbourhoods: the full square, or the cross (same row or column). */
  neighbourhoodShape: 'square' | 'cross';
  /** Neighbour weights of module A (paper: Bhattacharyya similarity). */
  neighbourWeighting: NeighbourWeighting;
  /** Σ̄ of the Bhattacharyya distance: Σ_p ('own', one inverse per position) or (Σ_p + Σ_q)/2 ('average', exact, one inverse per pair). */
  bhattacharyyaCovariance: 'own' | 'average';
  /** β of the Bhattacharyya distance, D = Δᵀ Σ_p⁻¹ Δ / (8β) (paper 0.25; larger borrows more from neighbours). */
  beta: number;

  /** Module B: Gaussians of neighbourhood-averaged features plus the k-means centroid bank. */
  moduleB: boolean;
  /** Radius of the averaging window of module B (1 = 3×3, PatchCore's choice). */
  aggregationRadius: number;
  /**
   * Module B's memory bank (paper §3.3: a bank of centroids):
   * - 'patch-coreset' (default; a departure from the paper, measured in docs/method-choices.md): PatchCore's patch
   *   features (backbone stages 2 + 3, 3×3 aggregated, 1024 values; patchBank.ts) subsampled by the greedy coreset
   *   to `bankRatio`. It is position-free, so it judges parts that are not aligned by what they look like: its own
   *   pixel map (each patch's squared distance to the nearest member) is fused with the per-position map
   *   (mapFusion.ts); the image score is the larger of the fused map's maximum and the bank map's.
   * - 'kmeans' (the paper): k-means centroids of module B's aggregated features (centroidRatio … kmeansIterations),
   *   read only by the image score (eq. 12–14: topK, imageScoreSource, imageScoreCombine).
   */
  bank: 'patch-coreset' | 'kmeans';
  /** Share of the nominal patch features the coreset keeps (bank 'patch-coreset'; (0, 1], default 0.1: the paper's 10 % bank, PatchCore's authors' example). */
  bankRatio: number;
  /**
   * Values of each patch feature of the bank (bank 'patch-coreset'; PatchCore's `target_embed_dimension`, default
   * 1024): the search, the coreset and the stored bank scale with it.
   */
  bankDim: number;
  /**
   * How the bank is searched for each patch's nearest member (bank 'patch-coreset'; engine/nearestIndex.ts), both
   * exact: 'flat' (default) compares it with every member in one Gemm, as PatchCore's authors' faiss IndexFlatL2
   * does; 'subspace' compares it in full only with the members that a bound in the bank's leading principal
   * directions cannot rule out (fewer products, but slower here: docs/speed.md "Bank search"). Distances agree to
   * float32 rounding.
   */
  bankSearch: IndexKind;
  /**
   * Share of the nominal images held out of the fit to standardise the two maps before they are fused (bank
   * 'patch-coreset'; [0.01, 0.5], default 0.1, at least 2 images, so such a fit needs at least 3).
   */
  fusionHoldout: number;
  /** Centroids as a fraction of all nominal feature vectors (paper 0.1; bank 'kmeans'). */
  centroidRatio: number;
  /** Cap on the number of centroids (k-means cost grows with it; documented approximation). */
  maxCentroids: number;
  /** Cap on the feature vectors k-means runs on (a seeded random sample of all of them). */
  kmeansSample: number;
  /** Lloyd iterations of k-means. */
  kmeansIterations: number;

  /** Module C: score each position against its neighbours' distributions and keep the minimum. */
  moduleC: boolean;
  /** Radius of the inference neighbourhood (paper "size 2"). */
  inferenceRadius: number;

  /** Module D: also score shifted copies of the image and aggregate. */
  moduleD: boolean;
  /** Largest shift in input pixels (paper S = 4). */
  shiftMax: number;
  /** Shifts used: every step 1..S, or only S. */
  shiftSteps: 'all' | 'max';
  /** Directions: the 4 axis directions or all 8. */
  shiftDirections: 4 | 8;
  /** How shifted maps and scores are aggregated. */
  shiftAggregate: 'mean' | 'min';
  /**
   * Where module D shifts: 'image' (the paper: the crop window moves and every copy goes through the backbone)
   * or 'features' (default: the feature grid moves by whole cells and the backbone runs once; an approximation,
   * see featureShifts.ts, that scored within 0.1 AUROC of 'image' on bottle and MTD at a third of the scoring
   * time; needs shifts in multiples of the 4 px grid stride, and no crop margin).
   */
  shiftSpace: 'image' | 'features';

  /** Number of positions whose scores make the image score (paper eq. 12–14, k; bank 'kmeans'). */
  topK: number;
  /** (bank 'kmeans') Which map the top-k positions are taken from: the pixel score, module A's or B's map, or the centroid distance of every position (not the paper's; PatchCore-like). */
  imageScoreSource: 'pixel' | 'A' | 'B' | 'centroid';
  /** How the sorted Mahalanobis (M) and centroid distances (E) are combined rank by rank (bank 'kmeans'). */
  imageScoreCombine: 'product' | 'geometric' | 'sum' | 'mahalanobis-only' | 'centroid-only';
  /** σ of the Gaussian smoothing of the upsampled map, in pixels (PaDiM and PatchCore: 4). */
  smoothingSigma: number;
}

/** The paper's configuration with the measured defaults for its open points. */
export const DEFAULT_NPAD_OPTIONS: Readonly<NpadOptions> = Object.freeze({
  dim: 200,
  channelSelection: 'fewest-zeros',
  seed: 1024,
  epsilon: 0.01,
  moduleA: true,
  trainRadius: 1,
  neighbourhoodShape: 'square',
  neighbourWeighting: 'bhattacharyya',
  bhattacharyyaCovariance: 'own',
  beta: 0.25,
  moduleB: true,
  aggregationRadius: 1,
  bank: 'patch-coreset',
  bankRatio: 0.1,
  bankDim: 1024,
  bankSearch: 'flat',
  fusionHoldout: 0.1,
  centroidRatio: 0.1,
  maxCentroids: 2048,
  kmeansSample: 60000,
  kmeansIterations: 8,
  moduleC: true,
  inferenceRadius: 1,
  moduleD: true,
  shiftMax: 4,
  shiftSteps: 'max',
  shiftDirections: 4,
  shiftAggregate: 'min',
  shiftSpace: 'features',
  topK: 10,
  imageScoreSource: 'pixel',
  imageScoreCombine: 'geometric',
  smoothingSigma: 4,
} satisfies NpadOptions);

/** The paper's ablations (its table 3), the paper's reading and the fast preset, as option overrides. */
export const NPAD_PRESETS = {
  /**
   * The paper as read before the position-free bank (the defaults up to stop 12): module B's bank of k-means
   * centroids, read by the image score only. Bottle 100 / 98.70 / 95.67, MTD 79.99 / 76.22 / 71.53
   * (docs/results.md).
   */
  paper: { bank: 'kmeans' },
  // The paper's table 3, on the paper's bank.
  exper1: { moduleA: true, moduleB: false, moduleC: false, moduleD: false, bank: 'kmeans' },
  exper2: { moduleA: false, moduleB: true, moduleC: false, moduleD: false, bank: 'kmeans' },
  exper3: { moduleA: true, moduleB: true, moduleC: false, moduleD: false, bank: 'kmeans' },
  exper4: { moduleA: true, moduleB: false, moduleC: true, moduleD: false, bank: 'kmeans' },
  exper5: { moduleA: true, moduleB: true, moduleC: true, moduleD: false, bank: 'kmeans' },
  npad: { moduleA: true, moduleB: true, moduleC: true, moduleD: true, bank: 'kmeans' },
  /**
   * For lines that need speed over the last tenth of a point: module B alone (aggregated Gaussians + centroid
   * bank) on 100 channels. Bottle: pixel AUROC 98.34 against 98.72 for the full method, about 5× faster
   * (docs/speed.md).
   */
  fast: { moduleA: false, moduleB: true, moduleC: false, moduleD: false, dim: 100, bank: 'kmeans' },
} as const satisfies Record<string, Partial<NpadOptions>>;
export type NpadPreset = keyof typeof NPAD_PRESETS;

/** Stride of the feature grid in input pixels (stage 1 of the ResNet family). */
export const FEATURE_STRIDE = 4;

/** Checks option values and their combinations, naming the bad one. */
export function validateNpadOptions(o: NpadOptions): void {
  for (const name of ['dim', 'topK', 'maxCentroids', 'bankDim', 'kmeansSample'] as const) checkInteger(o, name, 1);
  for (const name of ['trainRadius', 'aggregationRadius', 'inferenceRadius', 'shiftMax', 'kmeansIterations'] as const) checkInteger(o, name, 0);
  checkOneOf(o, 'channelSelection', ['fewest-zeros', 'most-zeros', 'random']);
  checkOneOf(o, 'neighbourWeighting', ['bhattacharyya', 'uniform', 'random']);
  checkOneOf(o, 'bhattacharyyaCovariance', ['own', 'average']);
  checkOneOf(o, 'neighbourhoodShape', ['square', 'cross']);
  checkOneOf(o, 'shiftSteps', ['all', 'max']);
  checkOneOf(o, 'shiftDirections', [4, 8]);
  checkOneOf(o, 'shiftAggregate', ['mean', 'min']);
  checkOneOf(o, 'shiftSpace', ['image', 'features']);
  if (o.moduleD && o.shiftSpace === 'features' && (o.shiftSteps !== 'max' || o.shiftMax % FEATURE_STRIDE !== 0)) {
    throw new NpadConfigError(
      `option shiftSpace = features moves the feature grid by whole cells of ${FEATURE_STRIDE} px: shiftMax must be a multiple of ${FEATURE_STRIDE} ` +
        `(got ${o.shiftMax}) and shiftSteps 'max' (got ${o.shiftSteps})`,
    );
  }
  checkOneOf(o, 'bank', ['patch-coreset', 'kmeans']);
  checkOneOf(o, 'bankSearch', INDEX_KINDS);
  checkRange(o, 'bankRatio', { min: 0, minOpen: true, max: 1 });
  checkRange(o, 'fusionHoldout', { min: 0.01, max: 0.5 });
  checkOneOf(o, 'imageScoreSource', ['pixel', 'A', 'B', 'centroid']);
  checkOneOf(o, 'imageScoreCombine', ['product', 'geometric', 'sum', 'mahalanobis-only', 'centroid-only']);
  if (o.imageScoreCombine === 'centroid-only' && !o.moduleB) throw new NpadConfigError('imageScoreCombine centroid-only needs moduleB (the centroid bank)');
  for (const flag of ['moduleA', 'moduleB', 'moduleC', 'moduleD'] as const) checkBoolean(o, flag);
  checkRange(o, 'epsilon', { min: 0 });
  checkRange(o, 'beta', { min: 0, minOpen: true });
  checkRange(o, 'centroidRatio', { min: 0, minOpen: true, max: 1 });
  checkRange(o, 'smoothingSigma', { min: 0 });
  if (!o.moduleA && !o.moduleB) throw new NpadConfigError('at least one of moduleA and moduleB must be on');
  if (o.moduleC && !o.moduleA) throw new NpadConfigError('moduleC scores against module A distributions: turn moduleA on');
  if (o.imageScoreSource === 'A' && !o.moduleA) throw new NpadConfigError('imageScoreSource A needs moduleA');
  if (o.imageScoreSource === 'centroid' && !o.moduleB) throw new NpadConfigError('imageScoreSource centroid needs moduleB (the centroid bank)');
  if (o.imageScoreSource === 'B' && !o.moduleB) throw new NpadConfigError('imageScoreSource B needs moduleB');
  checkAtMost(o, 'smoothingSigma', OPTION_LIMITS.smoothingSigma);
  for (const name of ['trainRadius', 'aggregationRadius', 'inferenceRadius'] as const) checkAtMost(o, name, OPTION_LIMITS.radius);
  checkAtMost(o, 'kmeansIterations', OPTION_LIMITS.kmeansIterations);
  checkAtMost(o, 'shiftMax', OPTION_LIMITS.shift);
  checkAtMost(o, 'topK', OPTION_LIMITS.topK);
  checkAtMost(o, 'bankDim', OPTION_LIMITS.vectorSize);
}

/**
 * PatchCore (Roth, Pemula, Zepeda, Schölkopf, Brox, Gehler, *Towards Total Recall in Industrial Anomaly
 * Detection*, CVPR 2022), the strongest baseline of the N-pad paper's tables, as the authors' code
 * (amazon-science/patchcore-inspection) runs it:
 *
 * - features: backbone stages 2 and 3, each aggregated over 3×3 neighbourhoods and pooled to 1024 values, stage 3
 *   brought to stage 2's grid (stride 8: 28×28 for 224), stacked and pooled to one 1024-d patch feature
 *   (patchcoreEmbedding.ts);
 * - fit: the patch features of all nominal images form the memory bank, subsampled by the approximate greedy
 *   coreset (src/engine/coreset.ts) to a fraction of its size;
 * - score: each patch's distance to its nearest bank feature (k = 1) is its score; the grid of scores is upsampled
 *   bilinearly to the input and smoothed with a Gaussian (σ = 4); the image score is the largest patch score.
 *
 * Two points where the authors' code and the paper differ are options, defaulting to the code (which the
 * reference figures used): the patch score is the squared Euclidean distance FAISS's IndexFlatL2 returns (the
 * paper writes the distance), and the paper's re-weighting of the image score (its eq. 7) is off.
 */
import type { FeatureExtractor } from '../../backbone/featureExtractor.js';
import { validateCoresetOptions } from '../../engine/coreset.js';
import { inputShape } from '../../image/preprocess.js';
import type { ImageSource } from '../../image/source.js';
import { forEachFeatureBatch } from '../imageLoop.js';
import { AUTHORS_CORESET, AUTHORS_PATCH_FEATURES, PatchBankBuilder, bankDistances, bankMap, floatMembers, type PatchBank, type PatchBankOptions } from '../parts/patchBank.js';
import { validatePatchEmbeddingShape } from '../parts/patchEmbedding.js';
import { NpadConfigError } from '../../errors.js';
import { INDEX_KINDS, type IndexKind } from '../../engine/nearestIndex.js';
import { OPTION_LIMITS, checkAtMost, checkBoolean, checkInteger, checkOneOf, checkRange } from '../optionChecks.js';
import type { MethodSettings, ProgressCallback, ScoredImageHandler } from '../types.js';

/** PatchCore's options. */
export interface PatchcoreOptions {
  /** Fraction of the nominal patch features kept in the memory bank by the greedy coreset (paper 0.01–0.25; authors' example 0.1). */
  coresetRatio: number;
  /** Dimension of the random projection the coreset distances are computed in (authors 128; 0: none). */
  projectionDim: number;
  /** Random starting points of the approximate greedy coreset (authors 10). */
  startPoints: number;
  /** Seed of the projection and the starting points (PyTorch's draws cannot be reproduced; any seed is as good). */
  seed: number;
  /** Side of the neighbourhood each patch feature aggregates (authors' `patchsize` 3). */
  patchSize: number;
  /** Values each stage's patch vector is pooled to (authors' `pretrain_embed_dimension` 1024). */
  stageDim: number;
  /** Values of the final patch feature (authors' `target_embed_dimension` 1024). */
  embedDim: number;
  /** Patch score: 'squared' Euclidean distance to the nearest bank feature (authors' code, via FAISS) or 'euclidean' (paper). */
  patchDistance: 'squared' | 'euclidean';
  /** The paper's re-weighting of the image score (eq. 7) by how isolated the nearest bank feature is; off in the authors' code. */
  reweight: boolean;
  /** b of eq. 7: the bank features nearest to m* (m* itself included) the weight compares against (anomalib 9). */
  reweightNeighbours: number;
  /** σ of the Gaussian smoothing of the upsampled map, in pixels (authors 4). */
  smoothingSigma: number;
  /**
   * How the bank is searched (engine/nearestIndex.ts), both exact: 'flat' (default) compares every member, as the
   * authors' faiss IndexFlatL2 does; 'subspace' prunes members by a bound in the bank's principal directions.
   */
  bankSearch: IndexKind;
}

/** The authors' configuration (their example script: 10 % coreset). */
export const DEFAULT_PATCHCORE_OPTIONS: Readonly<PatchcoreOptions> = Object.freeze({
  coresetRatio: 0.1,
  projectionDim: AUTHORS_CORESET.projectionDim,
  startPoints: AUTHORS_CORESET.startPoints,
  seed: 0,
  patchSize: AUTHORS_PATCH_FEATURES.patchSize,
  stageDim: AUTHORS_PATCH_FEATURES.stageDim,
  embedDim: AUTHORS_PATCH_FEATURES.embedDim,
  patchDistance: 'squared',
  reweight: false,
  reweightNeighbours: 9,
  smoothingSigma: 4,
  bankSearch: 'flat',
} satisfies PatchcoreOptions);

/** Checks option values, naming the bad one. */
export function validatePatchcoreOptions(o: PatchcoreOptions): void {
  validateCoresetOptions({ ratio: o.coresetRatio, projectionDim: o.projectionDim, startPoints: o.startPoints, seed: o.seed });
  validatePatchEmbeddingShape({ stages: [{ channels: 1, height: 1, width: 1 }], patchSize: o.patchSize, stageDim: o.stageDim, embedDim: o.embedDim, upsample: 'bilinear' });
  checkOneOf(o, 'patchDistance', ['squared', 'euclidean']);
  checkOneOf(o, 'bankSearch', INDEX_KINDS);
  checkBoolean(o, 'reweight');
  checkInteger(o, 'reweightNeighbours', 1);
  checkRange(o, 'smoothingSigma', { min: 0 });
  checkAtMost(o, 'smoothingSigma', OPTION_LIMITS.smoothingSigma);
  checkAtMost(o, 'patchSize', OPTION_LIMITS.patchSize);
  for (const name of ['stageDim', 'embedDim', 'projectionDim'] as const) checkAtMost(o, name, OPTION_LIMITS.vectorSize);
  checkAtMost(o, 'startPoints', OPTION_LIMITS.startPoints);
}

/** A fitted PatchCore detector: its memory bank and what it was fitted with. */
export interface PatchcoreModel extends PatchBank {
  settings: MethodSettings<PatchcoreOptions>;
  /** Nominal images it was fitted on. */
  trainCount: number;
}

/** The bank's options of a PatchCore configuration. */
export function patchBankOptionsOf(settings: MethodSettings<PatchcoreOptions>): PatchBankOptions {
  const o = settings.options;
  return {
    patchSize: o.patchSize,
    stageDim: o.stageDim,
    embedDim: o.embedDim,
    upsample: settings.featureGrid.upsample,
    coreset: { ratio: o.coresetRatio, projectionDim: o.projectionDim, startPoints: o.startPoints, seed: o.seed },
    search: o.bankSearch,
  };
}

/** Fits PatchCore on nominal images. */
export async function fitPatchcore(paths: readonly ImageSource[], extractor: FeatureExtractor, settings: MethodSettings<PatchcoreOptions>, progress?: ProgressCallback): Promise<PatchcoreModel> {
  validatePatchcoreOptions(settings.options);
  if (paths.length < 1) throw new NpadConfigError('fitting needs at least one nominal image');
  const builder = new PatchBankBuilder(patchBankOptionsOf(settings));
  const plan = { preprocess: settings.preprocess, imagesPerBatch: settings.batchSize, patchStages: true };
  progress?.('features', 0, paths.length);
  await forEachFeatureBatch(paths, extractor, plan, async ({ start, items: batch, stages }) => {
    await builder.add(stages!);
    progress?.('features', start + batch.length, paths.length);
  });
  const bank = await builder.build((done, count) => progress?.('coreset', done, count));
  return { settings, trainCount: paths.length, ...bank };
}

/**
 * The paper's eq. 7 weight of the image score: with m_test the most anomalous patch feature, m* its nearest bank
 * feature and N_b(m*) the b bank features nearest to m* (m* first), w = 1 − exp‖m_test − m*‖ / Σ_{m ∈ N_b(m*)} exp‖m_test − m‖
 * (a softmax, computed stably). An m* among close neighbours (a dense region of the bank) gives a small weight.
 */
async function reweightFactor(model: PatchcoreModel, members: Float32Array, test: Float32Array, nearest: number): Promise<number> {
  const E = model.shape.embedDim;
  const b = Math.min(model.settings.options.reweightNeighbours, model.bankSize);
  // m* first, then the members nearest to it (the bank's index finds m* itself among them, unless a copy precedes it).
  const around = await model.index.search(members.subarray(nearest * E, (nearest + 1) * E), 1, b);
  const support = [nearest, ...Array.from(around.indices).filter((m) => m !== nearest)].slice(0, b);
  const distances = support.map((m) => {
    let s = 0;
    for (let c = 0; c < E; c++) {
      const diff = test[c]! - members[m * E + c]!;
      s += diff * diff;
    }
    return Math.sqrt(s);
  });
  const top = Math.max(...distances);
  const total = distances.reduce((s, d) => s + Math.exp(d - top), 0);
  return 1 - Math.exp(distances[0]! - top) / total;
}

/** Scores images with a fitted PatchCore model; `onImage` receives each result in order. */
export async function scorePatchcore(
  model: PatchcoreModel,
  extractor: FeatureExtractor,
  paths: readonly ImageSource[],
  onImage: ScoredImageHandler,
  imagesPerGroup = 8,
): Promise<void> {
  const o = model.settings.options;
  const { width: inW, height: inH } = inputShape(model.settings.preprocess);
  const E = model.shape.embedDim;
  const { height: H, width: W } = model.shape.stages[0]!;
  const P = H * W;
  // Reweighting reads the members one by one, in float32.
  const members = o.reweight ? floatMembers(model) : null;
  const plan = { preprocess: model.settings.preprocess, imagesPerBatch: imagesPerGroup, patchStages: true };
  await forEachFeatureBatch(paths, extractor, plan, async ({ start: i, items: group, stages }) => {
    const nn = await bankDistances(model, stages!, group.length);
    for (let j = 0; j < group.length; j++) {
      const squared = nn.distances.subarray(j * P, (j + 1) * P);
      const patch = o.patchDistance === 'squared' ? squared : squared.map((v) => Math.sqrt(v));
      const map = bankMap(model, patch, inH, inW, o.smoothingSigma);
      // The most anomalous patch, the first on ties (torch.max's rule).
      let top = 0;
      for (let p = 1; p < P; p++) if (patch[p]! > patch[top]!) top = p;
      let score = patch[top]!;
      if (members) {
        const row = j * P + top;
        score *= await reweightFactor(model, members, nn.features.subarray(row * E, (row + 1) * E), nn.indices[row]!);
      }
      await onImage(i + j, { map, width: inW, height: inH, score });
    }
  });
}

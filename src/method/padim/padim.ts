/**
 * PaDiM (Defard, Setkov, Loesch, Audigier, *PaDiM: a Patch Distribution Modeling Framework for Anomaly Detection
 * and Localization*, ICPR workshops 2020), the baseline of the N-pad paper's tables, on the same feature grid,
 * statistics and kernels as N-pad:
 *
 * - features: stages 1–3 on stage 1's grid (the FeatureExtractor grid; the reference PaDiM upsamples by repeating
 *   cells, `upsample: 'nearest'`), reduced to d channels drawn at random exactly as the reference implementation
 *   draws them (Python's `random.seed(seed); random.sample(range(C), d)`, reproduced by src/util/pythonRandom.ts);
 * - fit: one Gaussian per grid position over the nominal images, covariance + ε·I (N-pad's plain Gaussians, which
 *   are N-pad's module A without neighbours);
 * - score: the Mahalanobis distance (the square root of the squared distance) of each position's feature to its
 *   Gaussian, upsampled bilinearly to the input, smoothed with a Gaussian (σ = 4); the image score is the maximum
 *   of that map, as the reference implementation takes it.
 */
import type { FeatureExtractor } from '../../backbone/featureExtractor.js';
import { PositionStatistics, imagesPerGram } from '../../engine/positionStatistics.js';
import { inputShape } from '../../image/preprocess.js';
import type { ImageSource } from '../../image/source.js';
import { PythonRandom } from '../../util/pythonRandom.js';
import { anomalyMaps, maxOf } from '../parts/anomalyMap.js';
import { fitPlainGaussians, type GaussianGrid } from '../parts/gaussians.js';
import { forEachFeatureBatch } from '../imageLoop.js';
import { positionDistances } from '../parts/gaussianScores.js';
import { NpadConfigError } from '../../errors.js';
import type { ModelTensor } from '../../model/modelFile.js';
import { checkShardGrid, mergeShardStatistics, statisticsTensors } from '../parts/statisticsTensors.js';
import { asyncIterable } from '../../util/asyncIterable.js';
import { OPTION_LIMITS, checkAtMost, checkInteger, checkRange, checkSeed } from '../optionChecks.js';
import type { MethodSettings, ProgressCallback, ScoredImageHandler, ShardContext, StoredModel } from '../types.js';

/** PaDiM's options. */
export interface PadimOptions {
  /** Channels kept, d, a random subset of stages 1–3 (paper: 100 for ResNet-18, 550 for Wide-ResNet-50-2). */
  dim: number;
  /**
   * Seed of the random channel subset, drawn as Python's `random.seed(seed); random.sample(range(C), d)`: the
   * reference implementation's seed 1024 gives its very channels.
   */
  seed: number;
  /** ε added to every covariance diagonal (paper 0.01). */
  epsilon: number;
  /** σ of the Gaussian smoothing of the upsampled map, in pixels (paper 4). */
  smoothingSigma: number;
}

/** The paper's configuration for a ResNet-50-class backbone (1792 channels): d = 550. */
export const DEFAULT_PADIM_OPTIONS: Readonly<PadimOptions> = Object.freeze({
  dim: 550,
  seed: 1024,
  epsilon: 0.01,
  smoothingSigma: 4,
} satisfies PadimOptions);

/** Checks option values, naming the bad one. */
export function validatePadimOptions(o: PadimOptions): void {
  checkInteger(o, 'dim', 1);
  checkSeed(o, 'seed');
  checkRange(o, 'epsilon', { min: 0 });
  checkRange(o, 'smoothingSigma', { min: 0 });
  checkAtMost(o, 'smoothingSigma', OPTION_LIMITS.smoothingSigma);
}

/** The d of `total` channels the reference PaDiM keeps for `seed`, ascending (the order does not change a Mahalanobis distance). */
export function padimChannels(dim: number, total: number, seed: number): Int32Array {
  if (dim > total) throw new NpadConfigError(`option dim = ${dim} exceeds the backbone's ${total} channels`);
  return Int32Array.from(new PythonRandom(seed).sample(total, dim)).sort();
}

/** A fitted PaDiM detector. */
export interface PadimModel {
  settings: MethodSettings<PadimOptions>;
  /** Kept channel indices into the backbone's concatenated stages [d], ascending. */
  channels: Int32Array;
  /** Nominal images it was fitted on. */
  trainCount: number;
  /** Rows of the feature grid. */
  height: number;
  /** Columns of the feature grid. */
  width: number;
  /** One Gaussian per grid position. */
  gaussians: GaussianGrid;
}

/** Fits PaDiM on nominal images: one shard of all of them. */
export async function fitPadim(paths: readonly ImageSource[], extractor: FeatureExtractor, settings: MethodSettings<PadimOptions>, progress?: ProgressCallback): Promise<PadimModel> {
  return finishPadim(asyncIterable([await fitPadimShard(paths, extractor, settings, null, progress)]), extractor, settings, null, [], progress);
}

/** The metadata of a PaDiM shard's part. */
interface PadimShardMeta {
  height: number;
  width: number;
  dim: number;
  /** Images in the shard. */
  count: number;
}

/** One shard of a PaDiM fit: the per-position statistics of its images (method/types.ts ShardedFit). */
export async function fitPadimShard(paths: readonly ImageSource[], extractor: FeatureExtractor, settings: MethodSettings<PadimOptions>, _context: ShardContext | null, progress?: ProgressCallback): Promise<StoredModel> {
  const o = settings.options;
  validatePadimOptions(o);
  if (paths.length < 1) throw new NpadConfigError('fitting needs at least one nominal image');
  const H = extractor.gridHeight;
  const W = extractor.gridWidth;
  const P = H * W;
  const channels = padimChannels(o.dim, extractor.channels, o.seed);
  const stats = new PositionStatistics(P, o.dim, Math.min(imagesPerGram(P, o.dim), paths.length));
  const plan = { preprocess: settings.preprocess, imagesPerBatch: settings.batchSize, channels };
  progress?.('features', 0, paths.length);
  await forEachFeatureBatch(paths, extractor, plan, async ({ start, items: batch, features }) => {
    await stats.add(features!, batch.length);
    progress?.('features', start + batch.length, paths.length);
  });
  await stats.flush();
  const tensors = new Map<string, ModelTensor>();
  const meta: PadimShardMeta = { height: H, width: W, dim: o.dim, count: statisticsTensors('statistics', stats.state(), tensors) };
  return { meta, tensors };
}

/** A PaDiM model from its shards' parts, merged in shard order as they arrive (mergeShardStatistics). */
export async function finishPadim(
  parts: AsyncIterable<StoredModel>,
  extractor: FeatureExtractor,
  settings: MethodSettings<PadimOptions>,
  _context: ShardContext | null,
  _reserved: readonly ImageSource[],
  progress?: ProgressCallback,
): Promise<PadimModel> {
  const o = settings.options;
  const H = extractor.gridHeight;
  const W = extractor.gridWidth;
  let stats: PositionStatistics | null = null;
  let k = 0;
  for await (const part of parts) {
    const meta = part.meta as PadimShardMeta;
    checkShardGrid(meta, H, W, o.dim, k);
    stats = mergeShardStatistics(stats, 'statistics', part.tensors, H * W, o.dim, meta.count, k);
    k++;
  }
  if (stats === null) throw new NpadConfigError('a sharded fit with no shards');
  progress?.('Gaussians', 0, 1);
  const gaussians = await fitPlainGaussians(stats, o.epsilon);
  progress?.('Gaussians', 1, 1);
  return { settings, channels: padimChannels(o.dim, extractor.channels, o.seed), trainCount: stats.count, height: H, width: W, gaussians };
}

/** Scores images with a fitted PaDiM model; `onImage` receives each result in order. */
export async function scorePadim(
  model: PadimModel,
  extractor: FeatureExtractor,
  paths: readonly ImageSource[],
  onImage: ScoredImageHandler,
  imagesPerGroup = 8,
): Promise<void> {
  const o = model.settings.options;
  const { width: inW, height: inH } = inputShape(model.settings.preprocess);
  const { height: H, width: W } = model;
  const plan = { preprocess: model.settings.preprocess, imagesPerBatch: imagesPerGroup, channels: model.channels };
  await forEachFeatureBatch(paths, extractor, plan, async ({ start: i, items: group, features }) => {
    const squared = await positionDistances(model.gaussians, features!, group.length);
    const distances = squared.map((v) => Math.sqrt(Math.max(0, v)));
    const maps = await anomalyMaps(distances, group.length, 1, H, W, inH, inW, o.smoothingSigma, 'min');
    for (let j = 0; j < group.length; j++) {
      const map = maps.slice(j * inW * inH, (j + 1) * inW * inH);
      await onImage(i + j, { map, width: inW, height: inH, score: maxOf(map) });
    }
  });
}

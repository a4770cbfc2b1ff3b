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
import { type PreprocessOptions, inputSize } from '../../image/preprocess.js';
import type { ImageSource } from '../../image/source.js';
import { PythonRandom } from '../../util/pythonRandom.js';
import { anomalyMaps } from '../parts/anomalyMap.js';
import { fitPlainGaussians, type GaussianGrid } from '../parts/gaussians.js';
import { loadImageBatch, maxOf, prefetchedBatches } from '../imageLoop.js';
import { moduleAScores } from '../npad/gridScores.js';
import { NpadConfigError } from '../../errors.js';
import type { ProgressCallback, ScoredImageHandler } from '../types.js';

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
  if (!Number.isInteger(o.dim) || o.dim < 1) throw new NpadConfigError(`option dim must be an integer ≥ 1, got ${String(o.dim)}`);
  if (!Number.isSafeInteger(o.seed)) throw new NpadConfigError(`option seed must be an integer, got ${String(o.seed)}`);
  if (!(o.epsilon >= 0)) throw new NpadConfigError(`option epsilon must be ≥ 0, got ${String(o.epsilon)}`);
  if (!(o.smoothingSigma >= 0)) throw new NpadConfigError(`option smoothingSigma must be ≥ 0, got ${String(o.smoothingSigma)}`);
}

/** The d of `total` channels the reference PaDiM keeps for `seed`, ascending (the order does not change a Mahalanobis distance). */
export function padimChannels(dim: number, total: number, seed: number): Int32Array {
  if (dim > total) throw new NpadConfigError(`option dim = ${dim} exceeds the backbone's ${total} channels`);
  return Int32Array.from(new PythonRandom(seed).sample(total, dim)).sort();
}

/** Everything that shapes a PaDiM fit besides the backbone. */
export interface PadimFitSettings {
  /** PaDiM's options. */
  options: PadimOptions;
  /** Resize and crop of the input images. */
  preprocess: PreprocessOptions;
  /** Images per backbone batch while fitting. */
  batchSize: number;
}

/** A fitted PaDiM detector. */
export interface PadimModel {
  settings: PadimFitSettings;
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

/** Fits PaDiM on nominal images. */
export async function fitPadim(paths: readonly string[], extractor: FeatureExtractor, settings: PadimFitSettings, progress?: ProgressCallback): Promise<PadimModel> {
  const o = settings.options;
  validatePadimOptions(o);
  if (paths.length < 1) throw new NpadConfigError('fitting needs at least one nominal image');
  const H = extractor.gridHeight;
  const W = extractor.gridWidth;
  const P = H * W;
  const channels = padimChannels(o.dim, extractor.channels, o.seed);
  const stats = new PositionStatistics(P, o.dim, Math.min(imagesPerGram(P, o.dim), paths.length));
  for await (const { start, items: batch, loaded } of prefetchedBatches(paths, settings.batchSize, (b) => loadImageBatch(b, settings.preprocess))) {
    const features = await extractor.extract(loaded, batch.length, channels);
    await stats.add(features, batch.length);
    progress?.('features', start + batch.length, paths.length);
  }
  await stats.flush();
  progress?.('Gaussians', 0, 1);
  const gaussians = await fitPlainGaussians(stats, o.epsilon);
  progress?.('Gaussians', 1, 1);
  return { settings, channels, trainCount: paths.length, height: H, width: W, gaussians };
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
  const size = inputSize(model.settings.preprocess);
  const { height: H, width: W } = model;
  const P = H * W;
  for await (const { start: i, items: group, loaded } of prefetchedBatches(paths, imagesPerGroup, (g) => loadImageBatch(g, model.settings.preprocess))) {
    const features = await extractor.extract(loaded, group.length, model.channels);
    if (features.length !== group.length * o.dim * P) throw new Error('feature extractor returned an unexpected size');
    const squared = await moduleAScores(model.gaussians, features, group.length, null);
    const distances = squared.map((v) => Math.sqrt(Math.max(0, v)));
    const maps = await anomalyMaps(distances, group.length, 1, H, W, size, o.smoothingSigma, 'min');
    for (let j = 0; j < group.length; j++) {
      const map = maps.slice(j * size * size, (j + 1) * size * size);
      await onImage(i + j, { map, size, score: maxOf(map) });
    }
  }
}

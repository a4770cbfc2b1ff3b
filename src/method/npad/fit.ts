/**
 * N-pad's fit, as the paper's section 3: the nominal images stream through the backbone once (twice when channels
 * are chosen by their zero counts), accumulating per-position statistics; the Gaussians of modules A and B and the
 * bank are then computed from those statistics.
 *
 * With the default bank ('patch-coreset', options.ts) module B's bank is position-free (parts/patchBank.ts): a share
 * of the nominal images is held out of the fit, both maps (per-position, bank) are scored on them (score.ts), and
 * their maxima are kept to standardise every later map before the two are fused (mapFusion.ts).
 */
import type { FeatureExtractor } from '../../backbone/featureExtractor.js';
import { PositionStatistics, imagesPerGram } from '../../engine/positionStatistics.js';
import { NpadConfigError, NpadInputError } from '../../errors.js';
import type { ModelTensor } from '../../model/modelFile.js';
import type { PatchEmbeddingShape } from '../parts/patchEmbedding.js';
import { checkShardGrid, mergeShardStatistics, statisticsTensors } from '../parts/statisticsTensors.js';
import { asyncIterable } from '../../util/asyncIterable.js';
import { forEachFeatureBatch, inputBatches } from '../imageLoop.js';
import { maxOf } from '../parts/anomalyMap.js';
import { averageNeighbourhood } from '../parts/aggregate.js';
import { fitPlainGaussians, fitWeightedGaussians, type GaussianGrid } from '../parts/gaussians.js';
import { PatchBankBuilder, type PatchBank } from '../parts/patchBank.js';
import type { MethodSettings, ProgressCallback, ShardContext, ShardedFit, StoredModel } from '../types.js';
import { VectorReservoir, buildCentroidBank } from './centroidBank.js';
import { selectChannels } from './channels.js';
import { nominalMaxima } from './mapFusion.js';
import { heldOutCount, npadPatchBankOptions, usesPatchBank, type FusedBank, type NpadModel } from './model.js';
import { squareNeighbourhoods } from './neighbourhood.js';
import { computeNeighbourWeights } from './neighbourWeights.js';
import { validateNpadOptions, type NpadOptions } from './options.js';
import { scoreParts } from './score.js';

/**
 * Splits the nominal images into those fitted on and those held out to standardise the maps (heldOutCount),
 * evenly spaced through the list (image lists often follow capture order, so this spans it).
 * @throws NpadConfigError for fewer than 3 images
 */
export function fusionSplit<T>(paths: readonly T[], fraction: number): { fit: T[]; heldOut: T[] } {
  const n = paths.length;
  if (n < 3) {
    throw new NpadConfigError(
      `N-pad's position-free bank holds out 2 of the nominal images to standardise its maps and needs at least 3 (got ${n}); with fewer, set option bank to kmeans`,
    );
  }
  const count = heldOutCount(n, fraction);
  const held = new Set(Array.from({ length: count }, (_, j) => Math.floor(((j + 0.5) * n) / count)));
  return { fit: paths.filter((_, i) => !held.has(i)), heldOut: paths.filter((_, i) => held.has(i)) };
}

/** Counts, per backbone channel, the positive feature values over the nominal images (paper §3.1). */
async function countPositiveChannels(paths: readonly string[], extractor: FeatureExtractor, s: MethodSettings<NpadOptions>, progress?: ProgressCallback): Promise<Float64Array> {
  const counts = new Float64Array(extractor.channels);
  progress?.('channel statistics', 0, paths.length);
  try {
    for await (const { start, items: batch, loaded } of inputBatches(paths, s.preprocess, s.batchSize)) {
      const c = await extractor.countPositive(loaded, batch.length);
      for (let k = 0; k < counts.length; k++) counts[k]! += c[k]!;
      progress?.('channel statistics', start + batch.length, paths.length);
    }
  } finally {
    await extractor.releaseCountGraph();
  }
  return counts;
}

/**
 * Fits N-pad on nominal images: its sharded fit ({@link NPAD_SHARDS}) with one shard, so that a fit in shards on
 * queue workers and one here are the same code.
 */
export async function fitNpad(given: readonly string[], extractor: FeatureExtractor, settings: MethodSettings<NpadOptions>, progress?: ProgressCallback): Promise<NpadModel> {
  validateNpadOptions(settings.options);
  if (given.length < 1) throw new NpadConfigError('fitting needs at least one nominal image');
  const { shards, reserved } = reserveHeldOut(given, settings);
  const context = NPAD_SURVEY.needed(settings) ? NPAD_SURVEY.combine([await NPAD_SURVEY.surveyShard(shards, extractor, settings, progress)], extractor, settings) : null;
  const part = await fitNpadShard(shards, extractor, settings, context, progress);
  return finishNpad(asyncIterable([part]), extractor, settings, context, reserved, progress);
}

/** The images held out to standardise the maps (with the position-free bank), kept from the shards. */
function reserveHeldOut<T>(images: readonly T[], settings: MethodSettings<NpadOptions>): { shards: readonly T[]; reserved: readonly T[] } {
  if (!usesPatchBank(settings.options)) return { shards: images, reserved: [] };
  const { fit, heldOut } = fusionSplit(images, settings.options.fusionHoldout);
  return { shards: fit, reserved: heldOut };
}

/** The channel survey: each shard's positive counts per channel, summed in shard order (exact: integers), choose the channels. */
const NPAD_SURVEY: NonNullable<ShardedFit<NpadOptions, NpadModel>['survey']> = {
  needed: (s) => s.options.channelSelection !== 'random',
  async surveyShard(images, extractor, s, progress) {
    const counts = await countPositiveChannels(images as string[], extractor, s, progress);
    return { meta: { images: images.length }, tensors: new Map([['counts', { dtype: 'F64', shape: [counts.length], data: counts }]]) };
  },
  combine(summaries, extractor, s) {
    const counts = new Float64Array(extractor.channels);
    summaries.forEach((summary, k) => {
      const c = summary.tensors.get('counts')?.data;
      if (!(c instanceof Float64Array) || c.length !== counts.length) throw new NpadInputError(`shard ${k}: no channel counts for ${counts.length} channels`);
      for (let i = 0; i < counts.length; i++) counts[i]! += c[i]!;
    });
    return { channels: Array.from(selectChannels(s.options.channelSelection, s.options.dim, extractor.channels, counts, s.options.seed)) };
  },
};

/** The channels a shard's fit uses: the survey's, or (random channels, no survey) drawn from the seed. */
function shardChannels(context: ShardContext | null, extractor: FeatureExtractor, o: NpadOptions): Int32Array {
  if (context === null) return selectChannels(o.channelSelection, o.dim, extractor.channels, null, o.seed);
  const channels = context.channels;
  if (!Array.isArray(channels) || channels.length !== o.dim || !channels.every((c) => Number.isInteger(c) && c >= 0 && c < extractor.channels)) {
    throw new NpadInputError(`a sharded fit's context has no ${o.dim} channels of ${extractor.channels}`);
  }
  return Int32Array.from(channels as number[]);
}

/** The metadata of an N-pad shard's part. */
interface NpadShardMeta {
  height: number;
  width: number;
  dim: number;
  /** Images in the shard. */
  images: number;
  /** Vectors the k-means bank's reservoir sampled from (the paper's bank; 0 without it). */
  reservoirTotal: number;
  /** Rows of each block of patch features (`bank.<i>`, a batch each), with the position-free bank. */
  bankBlocks: number[];
  bankShape: PatchEmbeddingShape | null;
}

/**
 * One shard of N-pad's fit: the per-position statistics of modules A and B and, with the position-free bank, the
 * shard's patch features, in blocks of a batch (the coreset is drawn from all shards' features in the finish); with
 * the paper's k-means bank, its reservoir's sample (one shard only: {@link NPAD_SHARDS}'s `unsupported`).
 */
export async function fitNpadShard(paths: readonly string[], extractor: FeatureExtractor, settings: MethodSettings<NpadOptions>, context: ShardContext | null, progress?: ProgressCallback): Promise<StoredModel> {
  const o = settings.options;
  validateNpadOptions(o);
  const fused = usesPatchBank(o);
  const H = extractor.gridHeight;
  const W = extractor.gridWidth;
  const P = H * W;
  const d = o.dim;
  const channels = shardChannels(context, extractor, o);

  // No gather slots beyond the number of images.
  const gather = Math.min(imagesPerGram(P, d), paths.length);
  const statsA = o.moduleA ? new PositionStatistics(P, d, gather) : null;
  const statsB = o.moduleB ? new PositionStatistics(P, d, gather) : null;
  const reservoir = o.moduleB && !fused ? new VectorReservoir(Math.min(o.kmeansSample, paths.length * P), d, o.seed) : null;
  const bankBuilder = fused ? new PatchBankBuilder(npadPatchBankOptions(o)) : null;
  const plan = { preprocess: settings.preprocess, imagesPerBatch: settings.batchSize, channels, patchStages: bankBuilder !== null };
  progress?.('features', 0, paths.length);
  await forEachFeatureBatch(paths, extractor, plan, async ({ start: i, items: batch, features, stages }) => {
    const B = batch.length;
    if (statsA) await statsA.add(features!, B);
    if (statsB) {
      const g = await averageNeighbourhood(features!, B, d, H, W, o.aggregationRadius);
      await statsB.add(g, B);
      reservoir?.offerChannelMajor(g, B, P);
    }
    if (bankBuilder) await bankBuilder.add(stages!);
    progress?.('features', i + B, paths.length);
  });
  await statsA?.flush();
  await statsB?.flush();
  const tensors = new Map<string, ModelTensor>();
  if (statsA) statisticsTensors('A', statsA.state(), tensors);
  if (statsB) statisticsTensors('B', statsB.state(), tensors);
  const sample = reservoir?.sample();
  if (sample) tensors.set('reservoir', { dtype: 'F32', shape: [sample.count, d], data: sample.vectors });
  const { blocks, shape } = bankBuilder ? bankBuilder.takeBlocks() : { blocks: [], shape: null };
  blocks.forEach((b, i) => tensors.set(`bank.${i}`, { dtype: 'F32', shape: [b.length / o.bankDim, o.bankDim], data: b }));
  const meta: NpadShardMeta = { height: H, width: W, dim: d, images: paths.length, reservoirTotal: reservoir?.total ?? 0, bankBlocks: blocks.map((b) => b.length / o.bankDim), bankShape: shape };
  return { meta, tensors };
}

/** N-pad's model from its shards' parts, in shard order, and the held-out images that standardise its maps. */
export async function finishNpad(
  parts: AsyncIterable<StoredModel>,
  extractor: FeatureExtractor,
  settings: MethodSettings<NpadOptions>,
  context: ShardContext | null,
  heldOut: readonly string[],
  progress?: ProgressCallback,
): Promise<NpadModel> {
  const o = settings.options;
  const H = extractor.gridHeight;
  const W = extractor.gridWidth;
  const P = H * W;
  const d = o.dim;
  const fused = usesPatchBank(o);
  const channels = shardChannels(context, extractor, o);
  // Each part merged as it arrives and then let go: the finish holds the merged statistics, the patch features
  // so far and one part. What is taken from a part is also deleted from its tensors (mergeShardStatistics), so
  // that a caller still holding the part (fitNpad) does not keep module A's sums alive past their Gaussians, or
  // the patch features past the coreset.
  let statsA: PositionStatistics | null = null;
  let statsB: PositionStatistics | null = null;
  let sample: Float32Array | null = null;
  let reservoirTotal = 0;
  const refused = NPAD_SHARDS.unsupported!(settings);
  const bankBuilder = fused ? new PatchBankBuilder(npadPatchBankOptions(o)) : null;
  let images = 0;
  let shards = 0;
  for await (const part of parts) {
    const k = shards++;
    if (refused && k > 0) throw new NpadConfigError(refused);
    const meta = part.meta as NpadShardMeta;
    checkShardGrid(meta, H, W, d, k);
    images += meta.images;
    if (o.moduleA) statsA = mergeShardStatistics(statsA, 'A', part.tensors, P, d, meta.images, k);
    if (o.moduleB) statsB = mergeShardStatistics(statsB, 'B', part.tensors, P, d, meta.images, k);
    if (o.moduleB && !fused && k === 0) {
      const reservoir = part.tensors.get('reservoir')?.data;
      if (!(reservoir instanceof Float32Array)) throw new NpadInputError('shard 0: its k-means sample is missing');
      sample = reservoir;
      reservoirTotal = meta.reservoirTotal;
    }
    if (bankBuilder) {
      const blocks = meta.bankBlocks.map((_, i) => part.tensors.get(`bank.${i}`)?.data as Float32Array);
      if (blocks.some((b) => !(b instanceof Float32Array)) || meta.bankShape === null) throw new NpadInputError(`shard ${k}: its patch features are missing`);
      bankBuilder.addBlocks(blocks, meta.bankShape);
      for (let i = 0; i < blocks.length; i++) part.tensors.delete(`bank.${i}`);
    }
  }
  if (shards === 0) throw new NpadConfigError('a sharded fit with no shards');
  // The bank first: its coreset frees every nominal patch feature before the Gaussians take their memory.
  const patchBank = bankBuilder ? await bankBuilder.build((done, count) => progress?.('patch bank coreset', done, count)) : null;

  let weighted: GaussianGrid | null = null;
  if (statsA) {
    progress?.('module A Gaussians', 0, 1);
    if (o.trainRadius === 0) {
      weighted = await fitPlainGaussians(statsA, o.epsilon);
    } else {
      const hood = squareNeighbourhoods(H, W, o.trainRadius, o.neighbourhoodShape);
      const weights = await computeNeighbourWeights(statsA, hood, {
        weighting: o.neighbourWeighting,
        beta: o.beta,
        covariance: o.bhattacharyyaCovariance,
        epsilon: o.epsilon,
        seed: o.seed,
      });
      weighted = await fitWeightedGaussians(statsA, weights, o.epsilon);
    }
    progress?.('module A Gaussians', 1, 1);
    statsA = null; // its d×d sums (3.8 GB at d = 550) are not needed for module B: let them go before B's inverses
  }
  let aggregated: GaussianGrid | null = null;
  let centroids: Float32Array | null = null;
  let centroidCount = 0;
  if (statsB) {
    progress?.('module B Gaussians', 0, 1);
    aggregated = await fitPlainGaussians(statsB, o.epsilon);
    progress?.('module B Gaussians', 1, 1);
  }
  if (sample) {
    progress?.('centroid bank', 0, 1);
    const bank = await buildCentroidBank(sample, reservoirTotal, d, { centroidRatio: o.centroidRatio, maxCentroids: o.maxCentroids, kmeansIterations: o.kmeansIterations, seed: o.seed });
    centroids = bank.centroids;
    centroidCount = bank.count;
    progress?.('centroid bank', 1, 1);
  }
  const model: NpadModel = {
    settings,
    channels,
    trainCount: images + heldOut.length,
    scoring: { height: H, width: W, dim: d, weighted, aggregated, centroids, centroidCount },
    fusion: null,
  };
  if (patchBank) model.fusion = await standardiseOnHeldOut(model, patchBank, extractor, heldOut, progress);
  return model;
}

/** N-pad's fit in shards (method/types.ts ShardedFit); the paper's k-means bank is not sharded. */
export const NPAD_SHARDS: ShardedFit<NpadOptions, NpadModel> = {
  unsupported: (s) =>
    s.options.moduleB && !usesPatchBank(s.options) ? "a sharded N-pad fit needs option bank patch-coreset (the default): the paper's k-means bank samples all images at once" : null,
  reserve: (images, s) => reserveHeldOut(images, s),
  survey: NPAD_SURVEY,
  fitShard: (images, extractor, s, context, progress) => fitNpadShard(images as string[], extractor, s, context, progress),
  finish: (parts, extractor, s, context, reserved, progress) => finishNpad(parts, extractor, s, context, reserved as string[], progress),
};

/** Scores the held-out nominal images with both parts and keeps each part's maxima (mapFusion.ts). */
async function standardiseOnHeldOut(
  model: NpadModel,
  bank: PatchBank,
  extractor: FeatureExtractor,
  heldOut: readonly string[],
  progress?: ProgressCallback,
): Promise<FusedBank> {
  const positionMax = new Float64Array(heldOut.length);
  const bankMax = new Float64Array(heldOut.length);
  progress?.('map standardisation', 0, heldOut.length);
  await scoreParts(model, bank, extractor, heldOut, (i, parts) => {
    positionMax[i] = maxOf(parts.position.map);
    bankMax[i] = maxOf(parts.bank!);
    progress?.('map standardisation', i + 1, heldOut.length);
  });
  return { ...bank, heldOut: heldOut.length, positionMaxima: nominalMaxima(positionMax), bankMaxima: nominalMaxima(bankMax) };
}

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
import { NpadConfigError } from '../../errors.js';
import { forEachFeatureBatch, inputBatches } from '../imageLoop.js';
import { maxOf } from '../parts/anomalyMap.js';
import { averageNeighbourhood } from '../parts/aggregate.js';
import { fitPlainGaussians, fitWeightedGaussians, type GaussianGrid } from '../parts/gaussians.js';
import { PatchBankBuilder, searchable, type PatchBank } from '../parts/patchBank.js';
import type { MethodSettings, ProgressCallback } from '../types.js';
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

/** Fits N-pad on nominal images. */
export async function fitNpad(given: readonly string[], extractor: FeatureExtractor, settings: MethodSettings<NpadOptions>, progress?: ProgressCallback): Promise<NpadModel> {
  const o = settings.options;
  validateNpadOptions(o);
  if (given.length < 1) throw new NpadConfigError('fitting needs at least one nominal image');
  const fused = usesPatchBank(o);
  const { fit: paths, heldOut } = fused ? fusionSplit(given, o.fusionHoldout) : { fit: given, heldOut: [] };
  const H = extractor.gridHeight;
  const W = extractor.gridWidth;
  const P = H * W;
  const d = o.dim;

  const counts = o.channelSelection === 'random' ? null : await countPositiveChannels(paths, extractor, settings, progress);
  const channels = selectChannels(o.channelSelection, d, extractor.channels, counts, o.seed);

  // No gather slots beyond the number of images.
  const gather = Math.min(imagesPerGram(P, d), paths.length);
  let statsA = o.moduleA ? new PositionStatistics(P, d, gather) : null;
  const statsB = o.moduleB ? new PositionStatistics(P, d, gather) : null;
  const reservoir = o.moduleB && !fused ? new VectorReservoir(Math.min(o.kmeansSample, paths.length * P), d, o.seed) : null;
  const bankBuilder = fused ? new PatchBankBuilder(npadPatchBankOptions(o)) : null;
  const plan = { preprocess: settings.preprocess, imagesPerBatch: settings.batchSize, channels, patchStages: bankBuilder !== null };
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
  if (reservoir) {
    progress?.('centroid bank', 0, 1);
    const bank = await buildCentroidBank(reservoir, { centroidRatio: o.centroidRatio, maxCentroids: o.maxCentroids, kmeansIterations: o.kmeansIterations, seed: o.seed });
    centroids = bank.centroids;
    centroidCount = bank.count;
    progress?.('centroid bank', 1, 1);
  }
  const model: NpadModel = {
    settings,
    channels,
    trainCount: given.length,
    scoring: { height: H, width: W, dim: d, weighted, aggregated, centroids, centroidCount },
    fusion: null,
  };
  if (patchBank) model.fusion = await standardiseOnHeldOut(model, patchBank, extractor, heldOut, progress);
  return model;
}

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
  await scoreParts(model, searchable(bank), extractor, heldOut, (i, parts) => {
    positionMax[i] = maxOf(parts.position.map);
    bankMax[i] = maxOf(parts.bank!);
    progress?.('map standardisation', i + 1, heldOut.length);
  });
  return { ...bank, heldOut: heldOut.length, positionMaxima: nominalMaxima(positionMax), bankMaxima: nominalMaxima(bankMax) };
}

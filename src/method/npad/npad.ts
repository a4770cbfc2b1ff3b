/**
 * N-pad, top to bottom as the paper's section 3: fitting streams the nominal images through the backbone
 * once (twice when channels are chosen by their zero counts), accumulating per-position statistics; the
 * Gaussians of modules A and B and the bank are then computed from those statistics. Scoring runs
 * modules A–D on each test image and returns a pixel map and an image score.
 *
 * With the default bank ('patch-coreset', options.ts) module B's bank is position-free (patchBank.ts): a share of
 * the nominal images is held out of the fit, both maps (per-position, bank) are scored on them, and every map is
 * afterwards standardised by those nominal maxima and fused (mapFusion.ts); the image score is the larger of the
 * fused map's maximum and the bank map's, both in those units. With the paper's bank ('kmeans') the map is eq. 11's
 * and the image score eq. 12–14's.
 */
import type { FeatureExtractor } from '../../backbone/featureExtractor.js';
import { PositionStatistics, imagesPerGram } from '../../engine/positionStatistics.js';
import { loadShiftedCrops, type Shift } from '../../image/shiftedCrops.js';
import { type PreprocessOptions, inputSize } from '../../image/preprocess.js';
import type { ImageSource } from '../../image/source.js';
import { averageNeighbourhood } from '../parts/aggregate.js';
import { loadImageBatch, maxOf, prefetchedBatches } from '../imageLoop.js';
import { fuseStandardised, nominalMaxima, standardise, type NominalMaxima } from './mapFusion.js';
import { AUTHORS_CORESET, AUTHORS_PATCH_FEATURES, PATCH_STAGES, PatchBankBuilder, bankDistances, bankMap, patchStages, searchable, type PatchBank, type PatchBankOptions, type SearchableBank } from '../parts/patchBank.js';
import { anomalyMaps, gaussianSmooth, upsampleBilinear } from '../parts/anomalyMap.js';
import { VectorReservoir, buildCentroidBank } from './centroidBank.js';
import { selectChannels } from './channels.js';
import { fitPlainGaussians, fitWeightedGaussians, type GaussianGrid } from '../parts/gaussians.js';
import { squareNeighbourhoods, type Neighbourhoods } from './neighbourhood.js';
import { computeNeighbourWeights } from './neighbourWeights.js';
import { validateNpadOptions, type NpadOptions } from './options.js';
import { scoreShiftedFeatures } from './featureShifts.js';
import { scoreFeatures, type ScoringModel } from './gridScores.js';
import { aggregateShiftedMaps, aggregateShiftedScores, shiftsFor } from './shifting.js';
import { NpadConfigError } from '../../errors.js';
import type { ProgressCallback, ScoredImage, ScoredImageHandler } from '../types.js';

/** Everything that shapes a fit besides the backbone itself. */
export interface NpadFitSettings {
  options: NpadOptions;
  preprocess: PreprocessOptions;
  /** Images per backbone batch while fitting. */
  batchSize: number;
}

/** Module B's position-free bank (option bank 'patch-coreset') and what its map is fused with. */
export interface FusedBank extends PatchBank {
  /** Nominal images held out of the fit, whose maxima standardise the maps. */
  heldOut: number;
  /** The per-position map's maxima over the held-out images. */
  positionMaxima: NominalMaxima;
  /** The bank map's maxima over the held-out images. */
  bankMaxima: NominalMaxima;
}

/** A fitted N-pad detector. */
export interface NpadModel {
  settings: NpadFitSettings;
  /** Kept channel indices into the backbone's concatenated stages [d]. */
  channels: Int32Array;
  /** Nominal images given to the fit (with bank 'patch-coreset', `fusion.heldOut` of them were held out of it). */
  trainCount: number;
  scoring: ScoringModel;
  /** The position-free bank and the fusion's statistics (bank 'patch-coreset' with module B), else null. */
  fusion: FusedBank | null;
}

/** True when the options fuse a position-free bank's map with the per-position map. */
export function usesPatchBank(o: Pick<NpadOptions, 'moduleB' | 'bank'>): boolean {
  return o.moduleB && o.bank === 'patch-coreset';
}

/** The position-free bank's features and coreset: PatchCore's authors', at N-pad's ratio, dimension and seed. */
export function npadPatchBankOptions(o: NpadOptions): PatchBankOptions {
  return { ...AUTHORS_PATCH_FEATURES, embedDim: o.bankDim, coreset: { ...AUTHORS_CORESET, ratio: o.bankRatio, seed: o.seed } };
}

/** How many of n nominal images the fit holds out to standardise the maps: ⌈fraction · n⌉, at least 2, at most n − 1. */
export function heldOutCount(n: number, fraction: number): number {
  return Math.min(n - 1, Math.max(2, Math.ceil(fraction * n - 1e-9)));
}

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
async function countPositiveChannels(paths: readonly string[], extractor: FeatureExtractor, s: NpadFitSettings, progress?: ProgressCallback): Promise<Float64Array> {
  const counts = new Float64Array(extractor.channels);
  try {
    for await (const { start, items: batch, loaded } of prefetchedBatches(paths, s.batchSize, (b) => loadImageBatch(b, s.preprocess))) {
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
export async function fitNpad(given: readonly string[], extractor: FeatureExtractor, settings: NpadFitSettings, progress?: ProgressCallback): Promise<NpadModel> {
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
  for await (const { start: i, items: batch, loaded } of prefetchedBatches(paths, settings.batchSize, (b) => loadImageBatch(b, settings.preprocess))) {
    const B = batch.length;
    // With the bank, one backbone pass gives both the selected grid and the bank's stages.
    const { features, stages } = bankBuilder ? await extractor.extractWithStages(loaded, B, channels, PATCH_STAGES) : { features: await extractor.extract(loaded, B, channels), stages: [] };
    if (statsA) await statsA.add(features, B);
    if (statsB) {
      const g = await averageNeighbourhood(features, B, d, H, W, o.aggregationRadius);
      await statsB.add(g, B);
      reservoir?.offerChannelMajor(g, B, P);
    }
    await bankBuilder?.add(stages);
    progress?.('features', i + B, paths.length);
  }
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

/** Crops per backbone call while scoring (the fit's default batch size). */
const CROPS_PER_BATCH = 16;

/**
 * Scores images with a fitted model. Images go through the backbone and the Gaussians in groups of
 * `imagesPerGroup` (default: as many as make 16 crops with their shifted copies, the batch size fitting uses).
 */
export async function scoreImages(
  model: NpadModel,
  extractor: FeatureExtractor,
  paths: readonly ImageSource[],
  onImage: ScoredImageHandler,
  imagesPerGroup?: number,
): Promise<void> {
  const fusion = model.fusion;
  if (!fusion) {
    await scoreParts(model, null, extractor, paths, (i, parts) => onImage(i, parts.position), imagesPerGroup);
    return;
  }
  const stats = [fusion.positionMaxima, fusion.bankMaxima];
  await scoreParts(
    model,
    searchable(fusion),
    extractor,
    paths,
    (i, parts) => {
      const map = fuseStandardised([parts.position.map, parts.bank!], stats);
      // The bank alone can also call the image: where parts are not aligned, the per-position part's false alarms
      // lift good images' fused peaks, and the fused map's maximum alone ranks images worse than the bank's
      // (docs/method-choices.md F2).
      const score = Math.max(maxOf(map), standardise(maxOf(parts.bank!), fusion.bankMaxima));
      return onImage(i, { map, size: parts.position.size, score });
    },
    imagesPerGroup,
  );
}

/** What each part makes of one image: the per-position map and image score, and the bank's map (null without a bank). */
export interface ScoredParts {
  position: ScoredImage;
  bank: Float32Array | null;
}

/**
 * Scores images with the per-position part and, given a bank, its map too, unfused; `onImage` receives each in
 * order. scoreImages fuses them; scripts/fusion-sweep.ts compares ways of fusing.
 */
export async function scoreParts(
  model: NpadModel,
  bank: SearchableBank | null,
  extractor: FeatureExtractor,
  paths: readonly ImageSource[],
  onImage: (index: number, parts: ScoredParts) => void | Promise<void>,
  imagesPerGroup?: number,
): Promise<void> {
  const o = model.settings.options;
  const pre = model.settings.preprocess;
  const size = inputSize(pre);
  const shifts = shiftsFor(o);
  const V = shifts.length;
  const { height: H, width: W, dim: d } = model.scoring;
  const P = H * W;
  // In feature space the backbone sees each image once and the copies are made on the grid, already aligned
  // (featureShifts.ts takes module C's neighbourhood as offsets, so it needs no neighbour lists).
  const inFeatureSpace = V > 1 && o.shiftSpace === 'features';
  const hood: Neighbourhoods | null = o.moduleC && !inFeatureSpace ? squareNeighbourhoods(H, W, o.inferenceRadius, o.neighbourhoodShape) : null;
  const crops = inFeatureSpace ? [shifts[0]!] : shifts;
  const per = crops.length * 3 * size * size;
  const groupSize = imagesPerGroup ?? Math.max(1, Math.floor(CROPS_PER_BATCH / crops.length));
  const loadGroup = async (group: readonly ImageSource[]): Promise<Float32Array> => {
    const inputs = new Float32Array(group.length * per);
    const loaded = await Promise.all(group.map((p) => loadShiftedCrops(p, pre, crops)));
    loaded.forEach((c, j) => inputs.set(c, j * per));
    return inputs;
  };
  for await (const { start: i, items: group, loaded: inputs } of prefetchedBatches(paths, groupSize, loadGroup)) {
    const M = group.length * crops.length;
    // In one backbone pass when every crop is unshifted (shifting in feature space, or none); the bank sees each
    // image's unshifted crop, the first of its crops.
    const shared = bank !== null && crops.length === 1;
    const { features, stages } = shared ? await extractor.extractWithStages(inputs, M, model.channels, PATCH_STAGES) : { features: await extractor.extract(inputs, M, model.channels), stages: null };
    if (features.length !== M * d * P) throw new Error('feature extractor returned an unexpected size');
    const scores = inFeatureSpace
      ? await scoreShiftedFeatures(model.scoring, features, group.length, o, shifts, size / W)
      : await scoreFeatures(model.scoring, features, group.length * V, o, hood);
    // Copies already aligned with the crop (one copy, or shifted on the grid) make their maps in one batched
    // call; copies of moved crops are moved back one by one, counting only the pixels each covers.
    const aligned = V === 1 || inFeatureSpace;
    const batchMaps = aligned ? await anomalyMaps(scores.pixel, group.length, V, H, W, size, o.smoothingSigma, o.shiftAggregate) : null;
    const bankStages = bank ? (stages ?? (await patchStages(extractor, unshiftedCrops(inputs, group.length, crops.length, 3 * size * size), group.length))) : null;
    const nn = bank && bankStages ? await bankDistances(bank, bankStages, group.length) : null;
    const bankGrid = bank ? bank.bank.shape.stages[0]!.height * bank.bank.shape.stages[0]!.width : 0;
    for (let j = 0; j < group.length; j++) {
      const map = batchMaps ? batchMaps.slice(j * size * size, (j + 1) * size * size) : movedCopiesMap(scores.pixel, j, V, H, W, size, shifts, o);
      const score = aggregateShiftedScores(scores.image.subarray(j * V, (j + 1) * V), o.shiftAggregate);
      const bankMapOfImage = nn && bank ? bankMap(bank.bank, nn.distances.subarray(j * bankGrid, (j + 1) * bankGrid), size, o.smoothingSigma) : null;
      await onImage(i + j, { position: { map, size, score }, bank: bankMapOfImage });
    }
  }
}

/** The first of each image's `copies` crops (each `perCrop` values) of a group: the crops themselves when there is one. */
function unshiftedCrops(inputs: Float32Array, images: number, copies: number, perCrop: number): Float32Array {
  if (copies === 1) return inputs;
  const out = new Float32Array(images * perCrop);
  for (let j = 0; j < images; j++) out.set(inputs.subarray(j * copies * perCrop, (j * copies + 1) * perCrop), j * perCrop);
  return out;
}

/** The map of image j from V copies whose crops were moved (image-space shifting): each moved back, then combined. */
function movedCopiesMap(pixel: Float32Array, j: number, V: number, H: number, W: number, size: number, shifts: readonly Shift[], o: NpadOptions): Float32Array {
  const P = H * W;
  const maps: Float32Array[] = [];
  for (let v = 0; v < V; v++) maps.push(upsampleBilinear(pixel.subarray((j * V + v) * P, (j * V + v + 1) * P), H, W, size, size));
  return gaussianSmooth(aggregateShiftedMaps(maps, shifts, size, o.shiftAggregate), size, size, o.smoothingSigma);
}

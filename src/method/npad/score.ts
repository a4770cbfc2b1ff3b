/**
 * N-pad's scoring (paper §3.4): modules A–D on each image give a per-position map (eq. 11) and an image score
 * (eq. 12–14). With the position-free bank the bank's map is scored beside it, both are standardised by the maxima
 * the fit measured on held-out nominal images and fused (mapFusion.ts); the image score is the larger of the fused
 * map's maximum and the bank map's, both in those units.
 */
import type { FeatureExtractor } from '../../backbone/featureExtractor.js';
import { inputShape } from '../../image/preprocess.js';
import type { ImageSource } from '../../image/source.js';
import { forEachFeatureBatch } from '../imageLoop.js';
import { anomalyMaps, gaussianSmooth, maxOf, upsampleBilinear } from '../parts/anomalyMap.js';
import { bankDistances, bankMap, type PatchBank } from '../parts/patchBank.js';
import type { ScoredImage, ScoredImageHandler } from '../types.js';
import type { Shift } from '../../image/shiftedCrops.js';
import { scoreShiftedFeatures } from './featureShifts.js';
import { scoreFeatures } from './gridScores.js';
import { fuseStandardised, standardise } from './mapFusion.js';
import type { NpadModel } from './model.js';
import { squareNeighbourhoods, type Neighbourhoods } from './neighbourhood.js';
import type { NpadOptions } from './options.js';
import { aggregateShiftedMaps, aggregateShiftedScores, shiftsFor } from './shifting.js';

/** Crops per backbone call while scoring (the fit's default batch size). */
const CROPS_PER_BATCH = 16;

/**
 * Scores images with a fitted model. Images go through the backbone and the Gaussians in groups of
 * `imagesPerGroup` (default: as many as make 16 crops with their shifted copies, the batch size fitting uses).
 */
export async function scoreNpad(
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
    fusion,
    extractor,
    paths,
    (i, parts) => {
      const map = fuseStandardised([parts.position.map, parts.bank!], stats);
      // The bank alone can also call the image: where parts are not aligned, the per-position part's false alarms
      // lift good images' fused peaks, and the fused map's maximum alone ranks images worse than the bank's
      // (docs/method-choices.md F2).
      const score = Math.max(maxOf(map), standardise(maxOf(parts.bank!), fusion.bankMaxima));
      return onImage(i, { map, width: parts.position.width, height: parts.position.height, score });
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
 * order. scoreNpad fuses them; scripts/fusion-sweep.ts compares ways of fusing.
 */
export async function scoreParts(
  model: NpadModel,
  bank: PatchBank | null,
  extractor: FeatureExtractor,
  paths: readonly ImageSource[],
  onImage: (index: number, parts: ScoredParts) => void | Promise<void>,
  imagesPerGroup?: number,
): Promise<void> {
  const o = model.settings.options;
  const pre = model.settings.preprocess;
  const { width: inW, height: inH } = inputShape(pre);
  const shifts = shiftsFor(o);
  const V = shifts.length;
  const { height: H, width: W } = model.scoring;
  // In feature space the backbone sees each image once and the copies are made on the grid, already aligned
  // (featureShifts.ts takes module C's neighbourhood as offsets, so it needs no neighbour lists).
  const inFeatureSpace = V > 1 && o.shiftSpace === 'features';
  const hood: Neighbourhoods | null = o.moduleC && !inFeatureSpace ? squareNeighbourhoods(H, W, o.inferenceRadius, o.neighbourhoodShape) : null;
  const crops = inFeatureSpace ? [shifts[0]!] : shifts;
  const imagesPerBatch = imagesPerGroup ?? Math.max(1, Math.floor(CROPS_PER_BATCH / crops.length));
  // The bank sees each image's unshifted crop, the first of its crops.
  const plan = { preprocess: pre, imagesPerBatch, crops, channels: model.channels, patchStages: bank !== null };
  await forEachFeatureBatch(paths, extractor, plan, async ({ start: i, items: group, features: grid, stages }) => {
    const features = grid!;
    const scores = inFeatureSpace
      ? await scoreShiftedFeatures(model.scoring, features, group.length, o, shifts, inW / W)
      : await scoreFeatures(model.scoring, features, group.length * V, o, hood);
    // Copies already aligned with the crop (one copy, or shifted on the grid) make their maps in one batched
    // call; copies of moved crops are moved back one by one, counting only the pixels each covers.
    const aligned = V === 1 || inFeatureSpace;
    const batchMaps = aligned ? await anomalyMaps(scores.pixel, group.length, V, H, W, inH, inW, o.smoothingSigma, o.shiftAggregate) : null;
    const nn = bank ? await bankDistances(bank, stages!, group.length) : null;
    const bankGrid = bank ? bank.shape.stages[0]!.height * bank.shape.stages[0]!.width : 0;
    for (let j = 0; j < group.length; j++) {
      const map = batchMaps ? batchMaps.slice(j * inW * inH, (j + 1) * inW * inH) : movedCopiesMap(scores.pixel, j, V, H, W, inW, shifts, o);
      const score = aggregateShiftedScores(scores.image.subarray(j * V, (j + 1) * V), o.shiftAggregate);
      const bankMapOfImage = nn && bank ? bankMap(bank, nn.distances.subarray(j * bankGrid, (j + 1) * bankGrid), inH, inW, o.smoothingSigma) : null;
      await onImage(i + j, { position: { map, width: inW, height: inH, score }, bank: bankMapOfImage });
    }
  });
}

/** The map of image j from V copies whose crops were moved (image-space shifting, square crops only): each moved back, then combined. */
function movedCopiesMap(pixel: Float32Array, j: number, V: number, H: number, W: number, size: number, shifts: readonly Shift[], o: NpadOptions): Float32Array {
  const P = H * W;
  const maps: Float32Array[] = [];
  for (let v = 0; v < V; v++) maps.push(upsampleBilinear(pixel.subarray((j * V + v) * P, (j * V + v + 1) * P), H, W, size, size));
  return gaussianSmooth(aggregateShiftedMaps(maps, shifts, size, o.shiftAggregate), size, size, o.smoothingSigma);
}

/**
 * N-pad (Jang, Hwang, Park, CVPRW 2023) as the registry holds it (method/types.ts MethodDefinition): its options
 * and presets, fit and scoring (fit.ts, score.ts), model file (modelTensors.ts) and memory.
 */
import { NpadConfigError } from '../../errors.js';
import { describePreprocess, expectedInputShape, inputShapeText, maxShift } from '../../image/preprocess.js';
import { KERNEL_CHUNK_BYTES } from '../../engine/kernels.js';
import { checkFeatureGrid, checkStageMaps, blankInput } from '../parts/gridChecks.js';
import { ACTIVATIONS_PER_IMAGE_224, batchPart, checkStatisticsDim, chunkBytes, gridBytes, patchBankParts, statisticsBytes, streamedFeatureBytes } from '../parts/memoryParts.js';
import { PATCH_STAGES } from '../parts/patchBank.js';
import type { MemoryPart, MemoryPhase, MethodDefinition, MethodSettings } from '../types.js';
import { NPAD_SHARDS, fitNpad } from './fit.js';
import { heldOutCount, npadPatchBankOptions, usesPatchBank, type NpadModel } from './model.js';
import { checkNpadMeta, npadFormatVersion, npadModelFromTensors, npadModelToTensors, type NpadModelMeta } from './modelTensors.js';
import { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS, validateNpadOptions, type NpadOptions } from './options.js';
import { scoreNpad } from './score.js';
import type { FeatureGeometry } from '../types.js';

/** Checks N-pad's options, and that image-space shifting has the margin between resize and crop it needs. */
function validate(s: MethodSettings<NpadOptions>): void {
  const o = s.options;
  validateNpadOptions(o);
  // Shifting in image space moves the crop window inside the resized image, so it needs that margin.
  if (o.moduleD && o.shiftSpace === 'image' && o.shiftMax > maxShift(s.preprocess)) {
    throw new NpadConfigError(
      `option shiftMax = ${o.shiftMax} needs ${o.shiftMax} px between the crop and the resized image on each side ` +
        `(${describePreprocess(s.preprocess)} leaves ${maxShift(s.preprocess)}): lower shiftMax, shift in feature space or turn moduleD off`,
    );
  }
}

/**
 * N-pad's fit phases: per module on, streaming statistics P × (d + d(d+1)/2) float64 and a Gaussian grid P × d²
 * float32 (packed by symmetry from d = 384 on), with P the feature grid's positions; module A's statistics are
 * released before module B's inverses; the k-means sample (≤ kmeansSample × d float32); with the position-free bank
 * instead every patch feature of the images fitted on while the statistics are held, and the bank afterwards.
 */
function memoryPhases(s: MethodSettings<NpadOptions>, trainCount: number, geometry: FeatureGeometry): MemoryPhase[] {
  const o = s.options;
  const input = expectedInputShape(s.preprocess);
  const P = geometry.gridHeight * geometry.gridWidth;
  const batch = Math.max(1, Math.min(s.batchSize, trainCount));
  const images = batchPart(batch, o.channelSelection !== 'random' ? ACTIVATIONS_PER_IMAGE_224.fullGrid : ACTIVATIONS_PER_IMAGE_224.selected, input);
  const d = Math.min(o.dim, geometry.channels);
  const stats = (m: string): MemoryPart => ({ what: `module ${m} statistics (${P} positions × d = ${d})`, bytes: statisticsBytes(P, d) });
  const grid = (m: string): MemoryPart => ({ what: `module ${m} Gaussians (${P} precision matrices ${d}×${d})`, bytes: gridBytes(P, d) });
  const chunks: MemoryPart = { what: 'precision matrices being inverted', bytes: chunkBytes(P, d) };
  const sample = o.moduleB && !usesPatchBank(o) ? Math.min(o.kmeansSample, trainCount * P) : 0;
  const reservoir: MemoryPart = { what: `k-means sample (${sample} vectors)`, bytes: sample * d * 4 };
  const streamFeatures: MemoryPart = { what: 'feature copies of a batch', bytes: streamedFeatureBytes(o.moduleB ? 4 : 2, batch, P, d) };
  // The position-free bank: its patch features until the coreset (drawn before the Gaussians), then the bank.
  const fused = usesPatchBank(o);
  const fitImages = fused ? Math.max(1, trainCount - heldOutCount(trainCount, o.fusionHoldout)) : trainCount;
  const b = npadPatchBankOptions(o);
  const bank = fused ? patchBankParts(fitImages, geometry, { embedDim: b.embedDim, projectionDim: b.coreset.projectionDim, startPoints: b.coreset.startPoints, ratio: b.coreset.ratio }) : null;
  const patchActivations: MemoryPart = { what: 'stages 2–3 of a batch for the patch features', bytes: fused ? batchPart(batch, ACTIVATIONS_PER_IMAGE_224.patchcore, input).bytes : 0 };
  const kept = bank ? [bank.bank] : [];
  const phases: MemoryPhase[] = [
    {
      phase: 'feature extraction',
      parts: [...(o.moduleA ? [stats('A')] : []), ...(o.moduleB ? [stats('B'), reservoir] : []), images, streamFeatures, ...(bank ? [bank.all, patchActivations] : [])],
    },
  ];
  if (bank) phases.push({ phase: 'patch bank coreset', parts: [...(o.moduleA ? [stats('A')] : []), stats('B'), ...bank.coreset] });
  if (o.moduleA) {
    phases.push({ phase: 'module A Gaussians', parts: [stats('A'), ...(o.moduleB ? [stats('B'), reservoir] : []), grid('A'), chunks, ...kept] });
  }
  if (o.moduleB) {
    // One k-means assignment run's distance block (the kernels' chunk budget).
    const kmeans: MemoryPart = { what: 'k-means assignment', bytes: KERNEL_CHUNK_BYTES };
    phases.push({ phase: 'module B Gaussians', parts: [stats('B'), reservoir, ...(o.moduleA ? [grid('A')] : []), grid('B'), chunks, ...(fused ? kept : [kmeans])] });
  }
  return phases;
}

export const NPAD: MethodDefinition<NpadOptions, NpadModel> = {
  defaults: DEFAULT_NPAD_OPTIONS,
  presets: NPAD_PRESETS,
  // Files from before option `bank` were fitted with the paper's k-means bank.
  optionsBeforeTheyExisted: { bank: 'kmeans' },
  featureGrid: { upsample: 'nearest' },
  memoryRemedies: [{ option: 'dim', to: 'largest' }],
  validate,
  fit: fitNpad,
  score: scoreNpad,
  toTensors: npadModelToTensors,
  checkMeta: checkNpadMeta,
  fromTensors: (settings, meta, tensors, file, form) => npadModelFromTensors(settings, meta as unknown as NpadModelMeta, tensors, file, form),
  formatVersion: (meta) => npadFormatVersion(meta as NpadModelMeta),
  async checkGrid(model, extractor, file) {
    checkFeatureGrid(model.scoring.height, model.scoring.width, extractor, file);
    if (model.fusion) {
      const { stages } = await extractor.extractWithStages(blankInput(extractor), 1, model.channels, PATCH_STAGES);
      checkStageMaps(model.fusion.shape.stages, stages, extractor, file);
    }
  },
  checkGeometry: (s, geometry) => checkStatisticsDim(s.options.dim, geometry),
  memoryPhases,
  fitSummary: (model) =>
    model.fusion
      ? `position-free bank: ${model.fusion.bankSize} patch features; ${model.fusion.heldOut} of the ${model.trainCount} images were held out of the fit to standardise the maps`
      : null,
  describe: (s) => `N-pad with d = ${s.options.dim} on ${inputShapeText(s.preprocess)} inputs`,
  shards: NPAD_SHARDS,
};

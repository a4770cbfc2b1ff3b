/** PaDiM (Defard et al. 2020), the N-pad paper's baseline, as the registry holds it (method/types.ts MethodDefinition). */
import { expectedInputShape, inputShapeText } from '../../image/preprocess.js';
import { checkFeatureGrid } from '../parts/gridChecks.js';
import { ACTIVATIONS_PER_IMAGE_224, batchPart, checkStatisticsDim, chunkBytes, gridBytes, statisticsBytes, streamedFeatureBytes } from '../parts/memoryParts.js';
import { precisionFormatVersion } from '../parts/modelTensors.js';
import type { MemoryPart, MethodDefinition } from '../types.js';
import { checkPadimMeta, padimModelFromTensors, padimModelToTensors, type PadimModelMeta } from './modelTensors.js';
import { DEFAULT_PADIM_OPTIONS, finishPadim, fitPadim, fitPadimShard, scorePadim, validatePadimOptions, type PadimModel, type PadimOptions } from './padim.js';

export const PADIM: MethodDefinition<PadimOptions, PadimModel> = {
  defaults: DEFAULT_PADIM_OPTIONS,
  presets: {},
  optionsBeforeTheyExisted: {},
  // The reference PaDiM repeats the coarser stages' cells onto stage 1's grid.
  featureGrid: { upsample: 'nearest' },
  memoryRemedies: [{ option: 'dim', to: 'largest' }],
  validate: (s) => validatePadimOptions(s.options),
  fit: fitPadim,
  score: scorePadim,
  toTensors: padimModelToTensors,
  checkMeta: checkPadimMeta,
  fromTensors: (settings, meta, tensors, file, form) => padimModelFromTensors(settings, meta as unknown as PadimModelMeta, tensors, file, form),
  formatVersion: (meta) => precisionFormatVersion(meta as PadimModelMeta),
  async checkGrid(model, extractor, file) {
    checkFeatureGrid(model.height, model.width, extractor, file);
  },
  checkGeometry: (s, geometry) => checkStatisticsDim(s.options.dim, geometry),
  /** One set of streaming statistics while the features stream, then one Gaussian grid and its inversion. */
  memoryPhases(s, trainCount, geometry) {
    const P = geometry.gridHeight * geometry.gridWidth;
    const batch = Math.max(1, Math.min(s.batchSize, trainCount));
    const d = Math.min(s.options.dim, geometry.channels);
    const stats: MemoryPart = { what: `statistics (${P} positions × d = ${d})`, bytes: statisticsBytes(P, d) };
    const images = batchPart(batch, ACTIVATIONS_PER_IMAGE_224.selected, expectedInputShape(s.preprocess));
    const streamFeatures: MemoryPart = { what: 'feature copies of a batch', bytes: streamedFeatureBytes(2, batch, P, d) };
    return [
      { phase: 'feature extraction', parts: [stats, images, streamFeatures] },
      {
        phase: 'Gaussians',
        parts: [stats, { what: `Gaussians (${P} precision matrices ${d}×${d})`, bytes: gridBytes(P, d) }, { what: 'precision matrices being inverted', bytes: chunkBytes(P, d) }],
      },
    ];
  },
  fitSummary: () => null,
  describe: (s) => `PaDiM with d = ${s.options.dim} on ${inputShapeText(s.preprocess)} inputs`,
  shards: { fitShard: fitPadimShard, finish: finishPadim },
};

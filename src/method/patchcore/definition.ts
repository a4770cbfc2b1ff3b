/** PatchCore (Roth et al. 2022), the N-pad paper's strongest baseline, as the registry holds it (method/types.ts MethodDefinition). */
import { expectedInputShape, inputShapeText } from '../../image/preprocess.js';
import { blankInput, checkStageMaps } from '../parts/gridChecks.js';
import { ACTIVATIONS_PER_IMAGE_224, batchPart, patchBankParts } from '../parts/memoryParts.js';
import { patchStages } from '../parts/patchBank.js';
import type { MethodDefinition } from '../types.js';
import { checkPatchcoreMeta, patchcoreModelFromTensors, patchcoreModelToTensors, type PatchcoreModelMeta } from './modelTensors.js';
import { DEFAULT_PATCHCORE_OPTIONS, fitPatchcore, scorePatchcore, validatePatchcoreOptions, type PatchcoreModel, type PatchcoreOptions } from './patchcore.js';

export const PATCHCORE: MethodDefinition<PatchcoreOptions, PatchcoreModel> = {
  defaults: DEFAULT_PATCHCORE_OPTIONS,
  presets: {},
  optionsBeforeTheyExisted: {},
  // The authors resize stage 3 to stage 2's grid bilinearly.
  featureGrid: { upsample: 'bilinear' },
  memoryRemedies: [{ option: 'coresetRatio', to: 0.01 }, { trainImages: 'largest' }, { option: 'embedDim', to: 'largest' }],
  validate: (s) => validatePatchcoreOptions(s.options),
  fit: fitPatchcore,
  score: scorePatchcore,
  toTensors: patchcoreModelToTensors,
  checkMeta: checkPatchcoreMeta,
  fromTensors: (settings, meta, tensors, file, form) => patchcoreModelFromTensors(settings, meta as unknown as PatchcoreModelMeta, tensors, file, form),
  formatVersion: () => 1,
  async checkGrid(model, extractor, file) {
    checkStageMaps(model.shape.stages, await patchStages(extractor, blankInput(extractor), 1), extractor, file);
  },
  // Its arrays are per batch of images and per coreset run: none grows with an option past what memory bounds.
  checkGeometry: () => {},
  /** Every nominal patch feature until the coreset is drawn, then the coreset's working set and the bank. */
  memoryPhases(s, trainCount, geometry) {
    const o = s.options;
    const batch = Math.max(1, Math.min(s.batchSize, trainCount));
    const bank = patchBankParts(trainCount, geometry, { embedDim: o.embedDim, projectionDim: o.projectionDim, startPoints: o.startPoints, ratio: o.coresetRatio });
    return [
      { phase: 'feature extraction', parts: [bank.all, batchPart(batch, ACTIVATIONS_PER_IMAGE_224.patchcore, expectedInputShape(s.preprocess))] },
      { phase: 'coreset', parts: bank.coreset },
    ];
  },
  fitSummary: () => null,
  describe: (s, trainCount) =>
    `PatchCore on ${trainCount} images of ${inputShapeText(s.preprocess)} (coresetRatio ${s.options.coresetRatio}, embedDim ${s.options.embedDim})`,
};

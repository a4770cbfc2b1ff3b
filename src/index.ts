/**
 * npad's public API: fit a detector (N-pad, or the baselines PaDiM and PatchCore) on nominal images, save and
 * load it, score images, evaluate on an MVTec-layout dataset. See README.md for an example.
 */
export { Detector, validateConfig } from './detector/detector.js';
export {
  resolveConfig,
  DEFAULT_FEATURE_GRID,
  DEFAULT_METHOD_OPTIONS,
  METHODS,
  type DetectorConfig,
  type DetectorConfigInput,
  type MethodName,
  type MethodOptions,
} from './detector/config.js';
export type { FittedModel } from './detector/methods.js';
export { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS, type NpadOptions, type NpadPreset } from './method/options.js';
export { DEFAULT_PADIM_OPTIONS, type PadimOptions } from './method/padim.js';
export { DEFAULT_PATCHCORE_OPTIONS, type PatchcoreOptions } from './method/patchcore.js';
export type { ScoredImage, ScoredImageHandler, ProgressCallback } from './method/npad.js';
export type { BackboneSpec } from './backbone/index.js';
export { readMvtecDataset, listImages, type MvtecDataset, type LabelledImage } from './data/mvtec.js';
export { evaluateDetector, type DatasetEvaluation } from './evaluation/runEvaluation.js';
export type { EvaluationMetrics } from './evaluation/evaluate.js';
export { auroc, perRegionOverlap, f1Max } from './metrics/index.js';
export { NpadInputError } from './errors.js';

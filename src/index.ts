/**
 * npad's public API: fit a detector (N-pad, or the baselines PaDiM and PatchCore) on nominal images, set its
 * score thresholds, save and load it, score images or predict verdicts with heatmaps and masks, evaluate on an
 * MVTec-layout dataset with an HTML report. See README.md for an example, docs/scores.md for the scores.
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
export type { FittedModel } from './method/registry.js';
export { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS, type NpadOptions, type NpadPreset } from './method/npad/options.js';
export { DEFAULT_PADIM_OPTIONS, type PadimOptions } from './method/padim/padim.js';
export { DEFAULT_PATCHCORE_OPTIONS, type PatchcoreOptions } from './method/patchcore/patchcore.js';
export type { ScoredImage, ScoredImageHandler, ProgressCallback } from './method/types.js';
export type { BackboneSpec } from './backbone/types.js';
export { readMvtecDataset, listImages, type MvtecDataset, type LabelledImage } from './data/mvtec.js';
export { evaluateDetector, type DatasetEvaluation } from './evaluation/runEvaluation.js';
export type { EvaluationMetrics } from './evaluation/evaluate.js';
export { auroc, perRegionOverlap, f1Max } from './metrics/index.js';
export { NpadConfigError, NpadInputError } from './errors.js';
export {
  DEFAULT_FALSE_ALARM_RATE,
  DEFAULT_HOLDOUT_FRACTION,
  f1MaxCalibration,
  holdoutCalibration,
  manualCalibration,
  normaliseImageScore,
  normalisePixelScore,
  normaliseScore,
  splitHoldout,
  describeCalibration,
  NpadNoThresholdError,
  type ScoreCalibration,
} from './detector/calibration.js';
export { readModelCalibration, writeModelCalibration } from './detector/calibrationFile.js';
export { predictionFrom, type Prediction, type PredictionHandler, type SkippedImageHandler } from './detector/predict.js';
export type { ImageSource, EncodedImage, DecodedImage } from './image/source.js';
export type { PreprocessOptions } from './image/preprocess.js';
export { renderOverlayPng, renderMaskPng, type OverlayOptions } from './report/overlay.js';
export { buildEvaluationReport, type EvaluationReportInput } from './report/evaluationReport.js';
export { checkImages, checkTestItems, type CheckedInputs, type SkippedInput } from './data/checkImages.js';
export {
  assumedGeometry,
  checkFitMemory,
  estimateFitMemory,
  geometryOf,
  memoryBudget,
  NpadMemoryError,
  type FittingChange,
  type MemoryErrorWording,
  type FeatureGeometry,
  type MemoryEstimate,
  type MemoryGuardOptions,
} from './detector/memoryEstimate.js';

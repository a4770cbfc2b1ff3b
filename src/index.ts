/**
 * npad's public API: fit a detector on nominal images, save and load it, score images, evaluate on an
 * MVTec-layout dataset. See README.md for an example.
 */
export { Detector, validateConfig } from './detector/detector.js';
export { resolveConfig, DEFAULT_FEATURE_GRID, type DetectorConfig, type DetectorConfigInput } from './detector/config.js';
export { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS, type NpadOptions, type NpadPreset } from './method/options.js';
export type { ScoredImage, ProgressCallback } from './method/npad.js';
export type { BackboneSpec } from './backbone/index.js';
export { readMvtecDataset, listImages, type MvtecDataset, type LabelledImage } from './data/mvtec.js';
export { evaluateDetector, type DatasetEvaluation } from './evaluation/runEvaluation.js';
export type { EvaluationMetrics } from './evaluation/evaluate.js';
export { auroc, perRegionOverlap, f1Max } from './metrics/index.js';
export { NpadInputError } from './errors.js';

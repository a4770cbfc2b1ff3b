/**
 * The complete description of a detector: method, its options, preprocessing and backbone. It is stored in
 * the model file, so a loaded detector scores exactly as the fitted one did.
 */
import type { BackboneSpec } from '../backbone/index.js';
import type { FeatureGridOptions } from '../backbone/featureExtractor.js';
import { DEFAULT_PREPROCESS, type PreprocessOptions } from '../image/preprocess.js';
import { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS, type NpadOptions, type NpadPreset } from '../method/options.js';

export interface DetectorConfig {
  /** The detection method. */
  method: 'npad';
  /** N-pad's options (see NpadOptions). */
  options: NpadOptions;
  /** Resize and crop of the input images (paper: 256, 224). */
  preprocess: PreprocessOptions;
  /** The pretrained CNN (default: the shared ResNet50-v2). */
  backbone: BackboneSpec;
  /** How stages 2–3 are brought to stage 1's grid. */
  featureGrid: FeatureGridOptions;
  /** Images per backbone batch while fitting. */
  batchSize: number;
}

/** Options a caller may leave out; everything missing takes the measured default. */
export interface DetectorConfigInput {
  preset?: NpadPreset;
  options?: Partial<NpadOptions>;
  preprocess?: Partial<PreprocessOptions>;
  backbone?: BackboneSpec;
  featureGrid?: Partial<FeatureGridOptions>;
  batchSize?: number;
}

/** The defaults: full N-pad on the shared ResNet50-v2, 256 → 224. */
export const DEFAULT_FEATURE_GRID: FeatureGridOptions = { upsample: 'nearest' };

/** Fills a partial configuration with the defaults (preset first, then explicit options). */
export function resolveConfig(input: DetectorConfigInput = {}): DetectorConfig {
  const preset = input.preset ? NPAD_PRESETS[input.preset] : {};
  return {
    method: 'npad',
    options: { ...DEFAULT_NPAD_OPTIONS, ...preset, ...input.options },
    preprocess: { ...DEFAULT_PREPROCESS, ...input.preprocess },
    backbone: input.backbone ?? { kind: 'resnet50-v2' },
    featureGrid: { ...DEFAULT_FEATURE_GRID, ...input.featureGrid },
    batchSize: input.batchSize ?? 16,
  };
}

/**
 * The complete description of a detector: method, its options, preprocessing and backbone. It is stored in
 * the model file, so a loaded detector scores exactly as the fitted one did.
 *
 * The methods (N-pad, the default, and the N-pad paper's baselines PaDiM and PatchCore) share the images, backbone,
 * engine and metrics; each has its own options, so the configuration is a union discriminated by `method`, derived
 * from the method table (method/registry.ts).
 */
import type { BackboneSpec } from '../backbone/types.js';
import type { FeatureGridOptions } from '../backbone/featureExtractor.js';
import { NpadConfigError } from '../errors.js';
import { resolvePreprocess, type PreprocessInput, type PreprocessOptions } from '../image/preprocess.js';
import { DEFAULT_METHOD, METHODS, METHOD_DEFINITIONS, definitionOf, isMethodName, type MethodName, type MethodOptions, type MethodPresets } from '../method/registry.js';
import type { MethodSettings } from '../method/types.js';

export { METHODS, isMethodName, type MethodName, type MethodOptions } from '../method/registry.js';

/** Each method's default options. */
export const DEFAULT_METHOD_OPTIONS = Object.fromEntries(METHODS.map((m) => [m, METHOD_DEFINITIONS[m].defaults])) as {
  readonly [M in MethodName]: Readonly<MethodOptions[M]>;
};

/** What every method's configuration has besides its options. */
export interface CommonConfig {
  /** Resize and crop of the input images (paper: 256, 224). */
  preprocess: PreprocessOptions;
  /** The pretrained CNN (default: the shared ResNet50-v2). */
  backbone: BackboneSpec;
  /**
   * How coarser stages are brought to a finer stage's grid: stages 2–3 to stage 1's (N-pad, PaDiM), stage 3 to
   * stage 2's (PatchCore).
   */
  featureGrid: FeatureGridOptions;
  /** Images per backbone batch while fitting. */
  batchSize: number;
}

/** The configuration of one method. */
export type MethodConfig<M extends MethodName> = CommonConfig & {
  /** The detection method. */
  method: M;
  /** The method's options. */
  options: MethodOptions[M];
};

/** A complete configuration, of any method. */
export type DetectorConfig = { [M in MethodName]: MethodConfig<M> }[MethodName];

/** The common part of a configuration a caller may leave out. */
export interface CommonConfigInput {
  /**
   * How images reach the network (default: the whole image, its aspect ratio kept, at 224² pixels; the
   * benchmark's resize 256 → crop 224 when `mode: 'crop'`, `resize` or `crop` is given).
   */
  preprocess?: PreprocessInput;
  /** The pretrained CNN (default the shared ResNet50-v2). */
  backbone?: BackboneSpec;
  /** Stage resizing (default: the method's; nearest, PatchCore bilinear). */
  featureGrid?: Partial<FeatureGridOptions>;
  /** Images per backbone batch while fitting (default 16). */
  batchSize?: number;
}

/** What a caller gives for method M: its name, a preset, and the options that differ from the defaults. */
type MethodInput<M extends MethodName> = {
  /** The detection method. */
  method: M;
  /** One of the method's presets (N-pad: the paper's reading and ablations), applied before `options`. */
  preset?: MethodPresets[M];
  /** The options that differ from the method's defaults (after the preset). */
  options?: Partial<MethodOptions[M]>;
};

/** Options a caller may leave out; everything missing takes the measured default. Without `method`: N-pad. */
export type DetectorConfigInput = CommonConfigInput &
  ({ [M in MethodName]: MethodInput<M> }[MethodName] | (Omit<MethodInput<typeof DEFAULT_METHOD>, 'method'> & { method?: undefined }));

/** The default method's feature grid (N-pad's: stages 2–3 repeated onto stage 1's grid, as the reference PaDiM). */
export const DEFAULT_FEATURE_GRID: Readonly<FeatureGridOptions> = METHOD_DEFINITIONS[DEFAULT_METHOD].featureGrid;

/** Images per backbone batch while fitting, unless the configuration says otherwise. */
const DEFAULT_BATCH_SIZE = 16;

/**
 * The configuration input of a method named at run time with loosely typed options (a model file, a script);
 * the options are checked later by validateConfig.
 */
export function configInputFor(method: MethodName, options: Record<string, unknown>, common: CommonConfigInput): DetectorConfigInput {
  return { ...common, method, options } as DetectorConfigInput;
}

/**
 * Fills a partial configuration with the defaults (preset first, then explicit options). A complete configuration
 * comes back equal to itself.
 */
export function resolveConfig(input: DetectorConfigInput = {}): DetectorConfig {
  const method: unknown = input.method ?? DEFAULT_METHOD;
  if (!isMethodName(method)) throw new NpadConfigError(`method must be one of ${METHODS.join(', ')}; got ${String(method)}`);
  const definition = definitionOf(method);
  const presets = definition.presets as Record<string, object>;
  if (input.preset !== undefined && !Object.hasOwn(presets, input.preset)) {
    throw new NpadConfigError(`preset must be one of ${Object.keys(presets).join(', ') || '(none: method ' + method + ' has no presets)'}; got ${String(input.preset)}`);
  }
  const preset = input.preset === undefined ? {} : presets[input.preset];
  return {
    method,
    options: { ...definition.defaults, ...preset, ...input.options },
    preprocess: resolvePreprocess(input.preprocess),
    backbone: input.backbone ?? { kind: 'resnet50-v2' },
    featureGrid: { ...definition.featureGrid, ...input.featureGrid },
    batchSize: input.batchSize ?? DEFAULT_BATCH_SIZE,
  } as DetectorConfig;
}

/** What a method's own functions receive of a configuration: its options and the common settings. */
export function settingsOf(config: DetectorConfig): MethodSettings<object> {
  return { options: config.options, preprocess: config.preprocess, featureGrid: config.featureGrid, batchSize: config.batchSize };
}

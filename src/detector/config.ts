/**
 * The complete description of a detector: method, its options, preprocessing and backbone. It is stored in
 * the model file, so a loaded detector scores exactly as the fitted one did.
 *
 * Three methods share the images, backbone, engine and metrics: N-pad (the default) and the two baselines the
 * N-pad paper compares against, PaDiM and PatchCore. Each has its own options, so the configuration is a union
 * discriminated by `method`.
 */
import type { BackboneSpec } from '../backbone/index.js';
import type { FeatureGridOptions } from '../backbone/featureExtractor.js';
import { DEFAULT_PREPROCESS, type PreprocessOptions } from '../image/preprocess.js';
import { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS, type NpadOptions, type NpadPreset } from '../method/npad/options.js';
import { DEFAULT_PADIM_OPTIONS, type PadimOptions } from '../method/padim/padim.js';
import { DEFAULT_PATCHCORE_OPTIONS, type PatchcoreOptions } from '../method/patchcore/patchcore.js';

/** Each detection method's options. */
export interface MethodOptions {
  /** N-pad (Jang, Hwang, Park, CVPRW 2023): see NpadOptions. */
  npad: NpadOptions;
  /** PaDiM (Defard et al. 2020): see PadimOptions. */
  padim: PadimOptions;
  /** PatchCore (Roth et al. 2022): see PatchcoreOptions. */
  patchcore: PatchcoreOptions;
}

/** A detection method's name. */
export type MethodName = keyof MethodOptions;

/** The methods, the default first. */
export const METHODS: readonly MethodName[] = ['npad', 'padim', 'patchcore'];

/** Each method's default options. */
export const DEFAULT_METHOD_OPTIONS: { readonly [M in MethodName]: Readonly<MethodOptions[M]> } = {
  npad: DEFAULT_NPAD_OPTIONS,
  padim: DEFAULT_PADIM_OPTIONS,
  patchcore: DEFAULT_PATCHCORE_OPTIONS,
};

/** True when `x` names a method. */
export function isMethodName(x: unknown): x is MethodName {
  return typeof x === 'string' && (METHODS as readonly string[]).includes(x);
}

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
  /** Resize and crop (default 256 → 224). */
  preprocess?: Partial<PreprocessOptions>;
  /** The pretrained CNN (default the shared ResNet50-v2). */
  backbone?: BackboneSpec;
  /** Stage resizing (default: nearest; PatchCore bilinear). */
  featureGrid?: Partial<FeatureGridOptions>;
  /** Images per backbone batch while fitting (default 16). */
  batchSize?: number;
}

/** Options a caller may leave out; everything missing takes the measured default. Without `method`: N-pad. */
export type DetectorConfigInput = CommonConfigInput &
  (
    | {
        /** N-pad (also when left out). */
        method?: 'npad';
        /** One of the N-pad paper's ablations (applied before `options`). */
        preset?: NpadPreset;
        /** N-pad's options that differ from DEFAULT_NPAD_OPTIONS (after the preset). */
        options?: Partial<NpadOptions>;
      }
    | {
        method: 'padim';
        /** PaDiM's options that differ from DEFAULT_PADIM_OPTIONS. */
        options?: Partial<PadimOptions>;
      }
    | {
        method: 'patchcore';
        /** PatchCore's options that differ from DEFAULT_PATCHCORE_OPTIONS. */
        options?: Partial<PatchcoreOptions>;
      }
  );

/**
 * The configuration input of a method named at run time with loosely typed options (a model file, a script);
 * the options are checked later by validateConfig.
 */
export function configInputFor(method: MethodName, options: Record<string, unknown>, common: CommonConfigInput): DetectorConfigInput {
  switch (method) {
    case 'npad':
      return { ...common, method, options };
    case 'padim':
      return { ...common, method, options };
    case 'patchcore':
      return { ...common, method, options };
  }
}

/** The defaults of N-pad and PaDiM: stages 2–3 repeated onto stage 1's grid, as the reference PaDiM. */
export const DEFAULT_FEATURE_GRID: FeatureGridOptions = { upsample: 'nearest' };

/** Each method's default feature grid: PatchCore's authors resize stage 3 bilinearly. */
export function defaultFeatureGrid(method: MethodName): FeatureGridOptions {
  return method === 'patchcore' ? { upsample: 'bilinear' } : DEFAULT_FEATURE_GRID;
}

/**
 * Fills a partial configuration with the defaults (N-pad: preset first, then explicit options). A complete
 * configuration comes back equal to itself.
 */
export function resolveConfig(input: DetectorConfigInput = {}): DetectorConfig {
  const method = input.method ?? 'npad';
  const common: CommonConfig = {
    preprocess: { ...DEFAULT_PREPROCESS, ...input.preprocess },
    backbone: input.backbone ?? { kind: 'resnet50-v2' },
    featureGrid: { ...defaultFeatureGrid(method), ...input.featureGrid },
    batchSize: input.batchSize ?? 16,
  };
  switch (input.method) {
    case undefined:
    case 'npad': {
      const preset = input.preset ? NPAD_PRESETS[input.preset] : {};
      return { method: 'npad', options: { ...DEFAULT_NPAD_OPTIONS, ...preset, ...input.options }, ...common };
    }
    case 'padim':
      return { method: 'padim', options: { ...DEFAULT_PADIM_OPTIONS, ...input.options }, ...common };
    case 'patchcore':
      return { method: 'patchcore', options: { ...DEFAULT_PATCHCORE_OPTIONS, ...input.options }, ...common };
  }
}

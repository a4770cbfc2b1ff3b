/**
 * The library's main object: a fitted anomaly detector that can be saved, loaded and asked to score images.
 * It ties the backbone, the method (N-pad, PaDiM or PatchCore) and the model file together; the CLI and any
 * other face call this.
 */
import { loadBackbone, type Backbone, type BackboneSpec } from '../backbone/index.js';
import { FeatureExtractor } from '../backbone/featureExtractor.js';
import { NpadInputError } from '../errors.js';
import { inputSize, maxShift } from '../image/shiftedCrops.js';
import { validatePreprocessOptions } from '../image/preprocess.js';
import type { ProgressCallback, ScoredImageHandler } from '../method/npad.js';
import { validateNpadOptions } from '../method/options.js';
import { validatePadimOptions } from '../method/padim.js';
import { validatePatchcoreOptions } from '../method/patchcore.js';
import { loadModel, saveModel } from '../model/modelFile.js';
import {
  DEFAULT_METHOD_OPTIONS,
  METHODS,
  isMethodName,
  configInputFor,
  resolveConfig,
  type CommonConfigInput,
  type DetectorConfig,
  type DetectorConfigInput,
  type MethodName,
} from './config.js';
import { fitMethod, scoreMethod, type FittedModel } from './methods.js';
import { checkModelMeta, fittedModelFromTensors, fittedModelToTensors } from './modelTensors.js';

/** Rejects option keys the method does not have (e.g. PatchCore's coresetRatio given to PaDiM). */
function checkOptionKeys(method: MethodName, options: object): void {
  const known = DEFAULT_METHOD_OPTIONS[method];
  for (const key of Object.keys(options)) {
    if (!(key in known)) throw new RangeError(`option ${key} does not apply to method ${method} (its options: ${Object.keys(known).join(', ')})`);
  }
}

/** Checks a whole configuration, naming the bad option. */
export function validateConfig(config: DetectorConfig): void {
  const method: unknown = config.method;
  if (!isMethodName(method)) throw new RangeError(`method must be one of ${METHODS.join(', ')}; got ${String(method)}`);
  checkOptionKeys(config.method, config.options);
  switch (config.method) {
    case 'npad':
      validateNpadOptions(config.options);
      if (config.options.moduleD && config.options.shiftMax > maxShift(config.preprocess)) {
        throw new RangeError(
          `option shiftMax = ${config.options.shiftMax} needs ${config.options.shiftMax} px between the crop and the resized image on each side ` +
            `(resize ${config.preprocess.resize}, crop ${String(config.preprocess.crop)} leave ${maxShift(config.preprocess)}): lower shiftMax or turn moduleD off`,
        );
      }
      break;
    case 'padim':
      validatePadimOptions(config.options);
      break;
    case 'patchcore':
      validatePatchcoreOptions(config.options);
      break;
  }
  validatePreprocessOptions(config.preprocess);
  if (config.featureGrid.upsample !== 'nearest' && config.featureGrid.upsample !== 'bilinear') {
    throw new RangeError(`featureGrid.upsample must be 'nearest' or 'bilinear', got ${String(config.featureGrid.upsample)}`);
  }
  if (!Number.isInteger(config.batchSize) || config.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${config.batchSize}`);
}

export class Detector {
  private constructor(
    readonly config: DetectorConfig,
    readonly backbone: Backbone,
    private readonly extractor: FeatureExtractor,
    /** The fitted model, tagged with its method. */
    readonly fitted: FittedModel,
  ) {}

  /** Side of the square anomaly maps this detector produces. */
  get mapSize(): number {
    return inputSize(this.config.preprocess);
  }

  /** Fits a detector on nominal (defect-free) images; without `method` in the configuration, N-pad. */
  static async fit(trainImages: readonly string[], input: DetectorConfigInput | DetectorConfig = {}, progress?: ProgressCallback): Promise<Detector> {
    const config = resolveConfig(input);
    validateConfig(config);
    const backbone = await loadBackbone(config.backbone);
    const extractor = await FeatureExtractor.create(backbone, config.featureGrid, inputSize(config.preprocess));
    const fitted = await fitMethod(config, trainImages, extractor, progress);
    return new Detector(config, backbone, extractor, fitted);
  }

  /**
   * Loads a detector saved by {@link save}. The backbone is the one recorded in the file unless `backbone`
   * points elsewhere; either way its weights must have the recorded checksum.
   */
  static async load(path: string, overrides: { backbone?: BackboneSpec } = {}): Promise<Detector> {
    const peek = await loadModel(path);
    const stored = parseStoredConfig(peek.header.method, peek.header.config, path);
    const config: DetectorConfig = { ...stored.detector, backbone: overrides.backbone ?? stored.detector.backbone };
    const backbone = await loadBackbone(config.backbone);
    if (backbone.id !== peek.header.backbone.id || backbone.weightsSha256 !== peek.header.backbone.weightsSha256) {
      throw new NpadInputError(
        `${path}: fitted with backbone ${peek.header.backbone.id} (weights sha256 ${peek.header.backbone.weightsSha256.slice(0, 12)}…) ` +
          `but the backbone found is ${backbone.id} (weights sha256 ${backbone.weightsSha256.slice(0, 12)}…)`,
        path,
      );
    }
    const extractor = await FeatureExtractor.create(backbone, config.featureGrid, inputSize(config.preprocess));
    return new Detector(config, backbone, extractor, fittedModelFromTensors(config, stored.model, peek.tensors, path));
  }

  /** Writes the detector to `path` atomically (a crash mid-save leaves any previous file intact). */
  async save(path: string): Promise<void> {
    const { meta, tensors } = fittedModelToTensors(this.fitted);
    await saveModel(
      path,
      { method: this.config.method, config: { detector: this.config, model: meta }, backbone: { id: this.backbone.id, weightsSha256: this.backbone.weightsSha256 } },
      tensors,
    );
  }

  /** Scores images; `onImage` receives each result in order. */
  async score(paths: readonly string[], onImage: ScoredImageHandler): Promise<void> {
    await scoreMethod(this.fitted, this.extractor, paths, onImage);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Validates the configuration JSON of a model file (options missing in older files take today's defaults).
 * Files written before the baselines existed are N-pad files with the same layout.
 */
function parseStoredConfig(headerMethod: string, config: Record<string, unknown>, file: string): { detector: DetectorConfig; model: Record<string, unknown> } {
  const detector = config.detector;
  const model = config.model;
  const method = isRecord(detector) ? detector.method : undefined;
  if (!isRecord(detector) || !isRecord(model) || !isMethodName(method) || !isRecord(detector.options) || !isRecord(detector.preprocess) || !isRecord(detector.backbone)) {
    throw new NpadInputError(`${file}: model file has no valid ${isMethodName(headerMethod) ? headerMethod : 'npad'} configuration`, file);
  }
  if (method !== headerMethod) throw new NpadInputError(`${file}: model file says method ${headerMethod} but its configuration is for ${method}`, file);
  checkModelMeta(method, model, file);
  const common: CommonConfigInput = {
    preprocess: detector.preprocess as Partial<DetectorConfig['preprocess']>,
    backbone: detector.backbone as BackboneSpec,
    featureGrid: isRecord(detector.featureGrid) ? (detector.featureGrid as Partial<DetectorConfig['featureGrid']>) : {},
    batchSize: typeof detector.batchSize === 'number' ? detector.batchSize : undefined,
  };
  const resolved = resolveConfig(configInputFor(method, detector.options, common));
  try {
    validateConfig(resolved);
  } catch (e) {
    throw new NpadInputError(`${file}: invalid configuration in model file: ${(e as Error).message}`, file);
  }
  return { detector: resolved, model };
}


/**
 * The library's main object: a fitted anomaly detector that can be saved, loaded and asked to score images.
 * It ties the backbone, the method and the model file together; the CLI and any other face call this.
 */
import { loadBackbone, type Backbone, type BackboneSpec } from '../backbone/index.js';
import { FeatureExtractor } from '../backbone/featureExtractor.js';
import { NpadInputError } from '../errors.js';
import { inputSize, maxShift } from '../image/shiftedCrops.js';
import { validatePreprocessOptions } from '../image/preprocess.js';
import { fitNpad, scoreImages, type NpadModel, type ProgressCallback, type ScoredImage } from '../method/npad.js';
import { DEFAULT_NPAD_OPTIONS, validateNpadOptions, type NpadOptions } from '../method/options.js';
import { loadModel, saveModel } from '../model/modelFile.js';
import { resolveConfig, type DetectorConfig, type DetectorConfigInput } from './config.js';
import { npadModelFromTensors, npadModelToTensors, type NpadModelMeta } from './modelTensors.js';

/** Checks a whole configuration, naming the bad option. */
export function validateConfig(config: DetectorConfig): void {
  validateNpadOptions(config.options);
  validatePreprocessOptions(config.preprocess);
  if (config.options.moduleD && config.options.shiftMax > maxShift(config.preprocess)) {
    throw new RangeError(
      `option shiftMax = ${config.options.shiftMax} needs ${config.options.shiftMax} px between the crop and the resized image on each side ` +
        `(resize ${config.preprocess.resize}, crop ${String(config.preprocess.crop)} leave ${maxShift(config.preprocess)}): lower shiftMax or turn moduleD off`,
    );
  }
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
    readonly model: NpadModel,
  ) {}

  /** Side of the square anomaly maps this detector produces. */
  get mapSize(): number {
    return inputSize(this.config.preprocess);
  }

  /** Fits a detector on nominal (defect-free) images. */
  static async fit(trainImages: readonly string[], input: DetectorConfigInput | DetectorConfig = {}, progress?: ProgressCallback): Promise<Detector> {
    const config = 'method' in input ? input : resolveConfig(input);
    validateConfig(config);
    const backbone = await loadBackbone(config.backbone);
    const extractor = await FeatureExtractor.create(backbone, config.featureGrid, inputSize(config.preprocess));
    const model = await fitNpad(trainImages, extractor, { options: config.options, preprocess: config.preprocess, batchSize: config.batchSize }, progress);
    return new Detector(config, backbone, extractor, model);
  }

  /**
   * Loads a detector saved by {@link save}. The backbone is the one recorded in the file unless `backbone`
   * points elsewhere; either way its weights must have the recorded checksum.
   */
  static async load(path: string, overrides: { backbone?: BackboneSpec } = {}): Promise<Detector> {
    const peek = await loadModel(path);
    const stored = parseStoredConfig(peek.header.config, path);
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
    const settings = { options: config.options, preprocess: config.preprocess, batchSize: config.batchSize };
    return new Detector(config, backbone, extractor, npadModelFromTensors(settings, stored.model, peek.tensors, path));
  }

  /** Writes the detector to `path` atomically (a crash mid-save leaves any previous file intact). */
  async save(path: string): Promise<void> {
    const { meta, tensors } = npadModelToTensors(this.model);
    await saveModel(path, { method: 'npad', config: { detector: this.config, model: meta }, backbone: { id: this.backbone.id, weightsSha256: this.backbone.weightsSha256 } }, tensors);
  }

  /** Scores images; `onImage` receives each result in order. */
  async score(paths: readonly string[], onImage: (index: number, result: ScoredImage) => void | Promise<void>): Promise<void> {
    await scoreImages(this.model, this.extractor, paths, onImage);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validates the configuration JSON of a model file (options missing in older files take today's defaults). */
function parseStoredConfig(config: Record<string, unknown>, file: string): { detector: DetectorConfig; model: NpadModelMeta } {
  const detector = config.detector;
  const model = config.model;
  if (!isRecord(detector) || !isRecord(model) || detector.method !== 'npad' || !isRecord(detector.options) || !isRecord(detector.preprocess) || !isRecord(detector.backbone)) {
    throw new NpadInputError(`${file}: model file has no valid npad configuration`, file);
  }
  for (const key of ['trainCount', 'height', 'width', 'dim', 'chunkSize', 'centroidCount'] as const) {
    if (typeof model[key] !== 'number') throw new NpadInputError(`${file}: model metadata lacks ${key}`, file);
  }
  const resolved = resolveConfig({
    options: { ...DEFAULT_NPAD_OPTIONS, ...(detector.options as Partial<NpadOptions>) },
    preprocess: detector.preprocess as Partial<DetectorConfig['preprocess']>,
    backbone: detector.backbone as BackboneSpec,
    featureGrid: isRecord(detector.featureGrid) ? (detector.featureGrid as Partial<DetectorConfig['featureGrid']>) : {},
    batchSize: typeof detector.batchSize === 'number' ? detector.batchSize : undefined,
  });
  try {
    validateConfig(resolved);
  } catch (e) {
    throw new NpadInputError(`${file}: invalid configuration in model file: ${(e as Error).message}`, file);
  }
  return { detector: resolved, model: model as unknown as NpadModelMeta };
}

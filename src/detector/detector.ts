/**
 * The library's main object: a fitted anomaly detector that can be saved, loaded and asked to score images.
 * It ties the backbone, the method (N-pad, PaDiM or PatchCore) and the model file together; the CLI and any
 * other face call this.
 */
import { loadBackbone, parseStoredBackbone, resolveStoredBackbone, storableBackbone } from '../backbone/load.js';
import { totalChannels, type Backbone, type BackboneSpec } from '../backbone/types.js';
import { FeatureExtractor } from '../backbone/featureExtractor.js';
import { NpadConfigError, NpadInputError } from '../errors.js';
import { inputShape, isWhole, validatePreprocessOptions, type PreprocessInput } from '../image/preprocess.js';
import { imageSourceName, type ImageSource } from '../image/source.js';
import { checkOptionKeys } from '../method/optionChecks.js';
import { definitionOf, type FittedModel } from '../method/registry.js';
import type { LoadedForm, ProgressCallback, ScoredImageHandler, ShardContext, ShardedFit, StoragePrecision, StoredModel } from '../method/types.js';
import { openModel, saveModel } from '../model/modelFile.js';
import { METHODS, isMethodName, configInputFor, resolveConfig, settingsOf, type CommonConfigInput, type DetectorConfig, type DetectorConfigInput, type MethodName } from './config.js';
import { DEFAULT_FALSE_ALARM_RATE, NpadNoThresholdError, holdoutCalibration, parseCalibration, type ScoreCalibration } from './calibration.js';
import { assumedGeometry, checkFitMemory, checkLoadMemory, geometryOf, type MemoryGuardOptions } from './memoryEstimate.js';
import { predictImages, type PredictionHandler, type SkippedImageHandler } from './predict.js';
import { isRecord } from '../util/isRecord.js';
import { fitInput, scoreTiled } from './wholeImageInput.js';

/** How {@link Detector.save} writes the model. */
export interface SaveOptions {
  /**
   * Storage of the large matrices: 'f32' (default), 'f16' (half the file size) or 'i8' (the precision matrices
   * in int8 with a scale per row, the banks in f16); they are widened to float32 on load. The AUROC cost of each
   * is measured in docs/speed.md.
   */
  precision?: StoragePrecision;
}

/** How {@link Detector.load} loads a model. */
export interface LoadOptions {
  /** Another backbone than the one the file records (its weights must have the recorded checksum). */
  backbone?: BackboneSpec;
  /**
   * 'expanded' (default): f16 and i8 matrices and banks widened to float32 on load, the fastest to score many images
   * with; 'stored': kept as the file holds them and converted a run at a time as they are scored, for a process that
   * scores a few images (the default bottle model loads in 0.6–0.7 s against 1.8–2.9 s, and one image's prediction
   * peaks at 0.5 against 1.5 GB), slower per image in batches. LoadedForm, docs/speed.md "Cold start".
   */
  form?: LoadedForm;
}

/** Checks a whole configuration, naming the bad option. */
export function validateConfig(config: DetectorConfig): void {
  const method: unknown = config.method;
  if (!isMethodName(method)) throw new NpadConfigError(`method must be one of ${METHODS.join(', ')}; got ${String(method)}`);
  const definition = definitionOf(method);
  checkOptionKeys(method, config.options, definition.defaults);
  definition.validate(settingsOf(config));
  validatePreprocessOptions(config.preprocess);
  if (config.featureGrid.upsample !== 'nearest' && config.featureGrid.upsample !== 'bilinear') {
    throw new NpadConfigError(`featureGrid.upsample must be 'nearest' or 'bilinear', got ${String(config.featureGrid.upsample)}`);
  }
  if (!Number.isInteger(config.batchSize) || config.batchSize < 1) throw new NpadConfigError(`batchSize must be a positive integer, got ${config.batchSize}`);
}

/** One round of a sharded fit: the survey (when the method needs one), then the fit; each shard gives a part. */
export interface ShardRound {
  kind: 'survey' | 'fit';
  shards: readonly (readonly string[])[];
  /** the fit's configuration as resolved (its input shape set) */
  config: DetectorConfig;
  backbone: Backbone;
  /** what the survey found (fit rounds of methods with a survey), else null */
  context: ShardContext | null;
}

/**
 * Computes a round's parts ({@link Detector.fitSharded}): here, or as queue jobs. It yields them in shard order,
 * each read (or computed) when the finish asks for it, so that the finish never holds them all.
 */
export type ShardRunner = (round: ShardRound) => AsyncIterable<StoredModel>;

/** `images` cut into `count` contiguous shards as even as can be (the first ones one longer). */
export function shardImages<T>(images: readonly T[], count: number): T[][] {
  const out: T[][] = [];
  for (let k = 0, start = 0; k < count; k++) {
    const size = Math.floor(images.length / count) + (k < images.length % count ? 1 : 0);
    out.push(images.slice(start, start + size));
    start += size;
  }
  return out;
}

/** Runs the shards one after another in this process, each when its part is asked for. */
function localShards(extractor: FeatureExtractor, progress?: ProgressCallback): ShardRunner {
  return async function* ({ kind, shards, config, context }) {
    for (const images of shards) yield await shardPart(kind, images, extractor, config, context, progress);
  };
}

/** One shard's part of a round. */
async function shardPart(kind: ShardRound['kind'], images: readonly string[], extractor: FeatureExtractor, config: DetectorConfig, context: ShardContext | null, progress?: ProgressCallback): Promise<StoredModel> {
  const sharded = shardedFitOf(config);
  const settings = settingsOf(config);
  if (kind === 'fit') return sharded.fitShard(images, extractor, settings, context, progress);
  if (!sharded.survey) throw new NpadConfigError(`${config.method}'s sharded fit has no survey round`);
  return sharded.survey.surveyShard(images, extractor, settings, progress);
}

/**
 * The sharded fit of `config`'s method, for `shards` shards.
 * @throws NpadConfigError for a method without one, or settings it cannot fit in several shards
 */
function shardedFitOf(config: DetectorConfig, shards = 1): ShardedFit<unknown, unknown> {
  const sharded = definitionOf(config.method).shards as ShardedFit<unknown, unknown> | undefined;
  if (!sharded) throw new NpadConfigError(`${config.method} has no sharded fit: fit it in one process, without shards`);
  const refused = shards > 1 ? (sharded.unsupported?.(settingsOf(config)) ?? null) : null;
  if (refused) throw new NpadConfigError(refused);
  return sharded;
}

/**
 * What {@link Detector.fit} checks of a valid configuration before any image is read: the method's options and
 * the memory against the backbone's channels at the input's grid (a whole image's at the side² area its shape
 * will have).
 */
function checkFitBeforeImages(config: DetectorConfig, backbone: Backbone, imageCount: number, guard: MemoryGuardOptions): void {
  const early = assumedGeometry(config, totalChannels(backbone));
  definitionOf(config.method).checkGeometry(settingsOf(config), early);
  checkFitMemory(config, imageCount, guard, early);
}

export class Detector {
  /** Thresholds and normalisation of the scores (null until calibrated; see calibration.ts). */
  private currentCalibration: ScoreCalibration | null = null;
  /** The model file this detector was loaded from, for messages. */
  private loadedFrom: string | null = null;
  /** What the fit noticed about its images that a user should hear (differing aspect ratios), or null. */
  private inputNote: string | null = null;

  private constructor(
    readonly config: DetectorConfig,
    readonly backbone: Backbone,
    private readonly extractor: FeatureExtractor,
    /** The fitted model, tagged with its method. */
    readonly fitted: FittedModel,
  ) {}

  /**
   * What the fit made that a user should hear about beyond the usual (N-pad: its position-free bank; training
   * images of differing aspect ratios), or null.
   */
  get fitSummary(): string | null {
    const parts = [definitionOf(this.fitted.method).fitSummary(this.fitted.model), this.inputNote].filter((p) => p !== null);
    return parts.length ? parts.join('; ') : null;
  }

  /**
   * The score thresholds and normalisation (docs/scores.md), saved with the model; null for a detector never
   * calibrated (e.g. fitted without held-out images, or loaded from a file written before thresholds existed).
   */
  get calibration(): ScoreCalibration | null {
    return this.currentCalibration;
  }

  /** Sets (or, with null, removes) the calibration; {@link save} stores it with the model. */
  setCalibration(calibration: ScoreCalibration | null): void {
    this.currentCalibration = calibration === null ? null : parseCalibration(calibration, 'calibration');
  }

  /**
   * Fits a detector on nominal (defect-free) images; without `method` in the configuration, N-pad.
   * @param guard the memory the fit may use (default: NPAD_MEMORY_LIMIT, else the machine's; memoryEstimate.ts)
   * @throws NpadInputError "not enough memory …", before any work, when the configuration cannot fit that memory
   */
  static async fit(trainImages: readonly string[], input: DetectorConfigInput | DetectorConfig = {}, progress?: ProgressCallback, guard: MemoryGuardOptions = {}): Promise<Detector> {
    const requested = resolveConfig(input);
    validateConfig(requested);
    const backbone = await loadBackbone(requested.backbone);
    const definition = definitionOf(requested.method);
    checkFitBeforeImages(requested, backbone, trainImages.length, guard);
    // The whole image's input shape comes from the training images; tiles are fitted on as images of their own.
    const { preprocess, inputs, note } = await fitInput(requested.preprocess, trainImages);
    const config: DetectorConfig = { ...requested, preprocess };
    const extractor = await FeatureExtractor.create(backbone, config.featureGrid, inputShape(preprocess));
    // Again with the grid the backbone gives at that shape and the inputs' count (tiles), before any fitting work.
    const geometry = geometryOf(extractor);
    definition.checkGeometry(settingsOf(config), geometry);
    checkFitMemory(config, inputs.length, guard, geometry);
    const model = await definition.fit(inputs, extractor, settingsOf(config), progress);
    const detector = new Detector(config, backbone, extractor, { method: config.method, model } as FittedModel);
    detector.inputNote = note;
    return detector;
  }

  /**
   * Fits as {@link fit} does, the training images cut into `shards` contiguous shards: each shard's part (its
   * statistics) is computed by `runShards` (by default here, one after another; or on queue workers) and the parts
   * are merged in shard order, so the model is the same bytes wherever each shard ran (docs/scale.md). For methods
   * with a sharded fit (MethodDefinition.shards: N-pad and PaDiM).
   * @throws NpadConfigError for a method without a sharded fit, tiles, or more shards than images
   */
  static async fitSharded(
    trainImages: readonly string[],
    input: DetectorConfigInput | DetectorConfig,
    shards: number,
    runShards?: ShardRunner,
    progress?: ProgressCallback,
    guard: MemoryGuardOptions = {},
  ): Promise<Detector> {
    const requested = resolveConfig(input);
    validateConfig(requested);
    const sharded = shardedFitOf(requested, shards);
    if (!Number.isSafeInteger(shards) || shards < 1 || shards > trainImages.length) throw new NpadConfigError(`shards must be an integer from 1 to the ${trainImages.length} training images, got ${shards}`);
    const backbone = await loadBackbone(requested.backbone);
    checkFitBeforeImages(requested, backbone, Math.ceil(trainImages.length / shards), guard);
    const { preprocess, inputs, note } = await fitInput(requested.preprocess, trainImages);
    if (inputs.some((i) => typeof i !== 'string')) throw new NpadConfigError('a sharded fit does not take tiles yet: fit tiled images in one process');
    const config: DetectorConfig = { ...requested, preprocess };
    const settings = settingsOf(config);
    const extractor = await FeatureExtractor.create(backbone, config.featureGrid, inputShape(preprocess));
    const run = runShards ?? localShards(extractor, progress);
    const { shards: shardable, reserved } = sharded.reserve?.(inputs, settings) ?? { shards: inputs, reserved: [] };
    const pieces = shardImages(shardable as string[], Math.min(shards, shardable.length));
    let context: ShardContext | null = null;
    if (sharded.survey?.needed(settings)) {
      const summaries: StoredModel[] = []; // channel counts: small
      for await (const summary of run({ kind: 'survey', shards: pieces, config, backbone, context: null })) summaries.push(summary);
      context = sharded.survey.combine(summaries, extractor, settings);
    }
    const model = await sharded.finish(run({ kind: 'fit', shards: pieces, config, backbone, context }), extractor, settings, context, reserved, progress);
    const detector = new Detector(config, backbone, extractor, { method: config.method, model } as FittedModel);
    detector.inputNote = note;
    return detector;
  }

  /**
   * One shard's part of {@link fitSharded}, for a worker: the survey summary or the statistics of `images` under
   * `config` (as the coordinator resolved it: the whole image's input shape set), and the backbone they were
   * computed with.
   */
  static async fitShard(images: readonly string[], config: DetectorConfig, kind: ShardRound['kind'], context: ShardContext | null, progress?: ProgressCallback): Promise<{ part: StoredModel; backbone: Backbone }> {
    validateConfig(config);
    const backbone = await loadBackbone(config.backbone);
    const extractor = await FeatureExtractor.create(backbone, config.featureGrid, inputShape(config.preprocess));
    return { part: await shardPart(kind, images, extractor, config, context, progress), backbone };
  }

  /**
   * The checks {@link fit} makes before it reads any image, on their own: the configuration, the backbone's
   * channels against the method's options (d), and the memory for `imageCount` images. For a caller with work to
   * do before the fit (the CLI decodes every image first), so that a bad option is refused before that work.
   * @param sharded true for {@link fitSharded}: the method must have a sharded fit
   * @throws NpadConfigError or NpadInputError as {@link fit} would
   */
  static async checkFit(input: DetectorConfigInput | DetectorConfig, imageCount: number, guard: MemoryGuardOptions = {}, sharded = false): Promise<void> {
    const requested = resolveConfig(input);
    validateConfig(requested);
    if (sharded) shardedFitOf(requested, 2);
    checkFitBeforeImages(requested, await loadBackbone(requested.backbone), imageCount, guard);
  }

  /**
   * Loads a detector saved by {@link save}. The backbone is the kind the file records, its weights found as
   * resolveStoredBackbone says (never at a path read from the file), unless `backbone` points elsewhere; either
   * way its weights must have the recorded checksum.
   */
  static async load(path: string, overrides: LoadOptions = {}): Promise<Detector> {
    // The backbone the header names is loaded while the tensors are read (openModel).
    const opened = await openModel(path);
    const { header } = opened;
    checkLoadMemory(opened.shapes, path);
    const stored = parseStoredConfig(header.method, header.config, path);
    const config: DetectorConfig = { ...stored.detector, backbone: overrides.backbone ?? (await resolveStoredBackbone(stored.detector.backbone, path)) };
    const backbone = await loadBackbone(config.backbone);
    if (backbone.id !== header.backbone.id || backbone.weightsSha256 !== header.backbone.weightsSha256) {
      throw new NpadInputError(
        `${path}: fitted with backbone ${header.backbone.id} (weights sha256 ${header.backbone.weightsSha256.slice(0, 12)}…) ` +
          `but the backbone found is ${backbone.id} (weights sha256 ${backbone.weightsSha256.slice(0, 12)}…)`,
        path,
      );
    }
    if (isWhole(config.preprocess) && config.preprocess.width === undefined) {
      throw new NpadInputError(`${path}: damaged model file: its whole-image preprocessing has no input width and height`, path);
    }
    const extractor = await FeatureExtractor.create(backbone, config.featureGrid, inputShape(config.preprocess));
    const definition = definitionOf(config.method);
    const model = definition.fromTensors(settingsOf(config), stored.model, await opened.tensors, path, overrides.form ?? 'expanded');
    await definition.checkGrid(model, extractor, path); // the configuration JSON is not checksummed: it must match the tensors
    const fitted = { method: config.method, model } as FittedModel;
    const detector = new Detector(config, backbone, extractor, fitted);
    // Files written before thresholds existed have none: they load, and predict explains how to calibrate.
    const calibration = header.config.calibration;
    detector.currentCalibration = calibration === undefined || calibration === null ? null : parseCalibration(calibration, path);
    detector.loadedFrom = path;
    return detector;
  }

  /** Writes the detector to `path` atomically (a crash mid-save leaves any previous file intact). */
  async save(path: string, options: SaveOptions = {}): Promise<void> {
    const definition = definitionOf(this.fitted.method);
    const { meta, tensors } = definition.toTensors(this.fitted.model, options.precision ?? 'f32');
    await saveModel(
      path,
      {
        method: this.config.method,
        config: { detector: { ...this.config, backbone: storableBackbone(this.config.backbone) }, model: meta, ...(this.currentCalibration ? { calibration: this.currentCalibration } : {}) },
        backbone: { id: this.backbone.id, weightsSha256: this.backbone.weightsSha256 },
        formatVersion: definition.formatVersion(meta),
      },
      tensors,
    );
  }

  /**
   * Scores images (files, encoded bytes or pixels); `onImage` receives each result in order.
   * @throws NpadInputError, naming the model, when it gives a score or map that is not finite: its tensors hold NaN
   *   or infinite values (a damaged or forged file), and no verdict may come of that
   */
  async score(inputs: readonly ImageSource[], onImage: ScoredImageHandler): Promise<void> {
    const pre = this.config.preprocess;
    if (isWhole(pre) && pre.tile) {
      await scoreTiled(inputs, pre.tile, inputShape(pre).width, (tiles, onTile) => this.scoreInputs(tiles, onTile), onImage);
      return;
    }
    await this.scoreInputs(inputs, onImage);
  }

  /** Scores network inputs (images, or tiles of images) with the method. */
  private async scoreInputs(inputs: readonly ImageSource[], onImage: ScoredImageHandler): Promise<void> {
    await definitionOf(this.fitted.method).score(this.fitted.model, this.extractor, inputs, (i, result) => {
      if (!Number.isFinite(result.score) || !result.map.every(Number.isFinite)) {
        const model = this.loadedFrom ?? 'detector';
        throw new NpadInputError(
          `${model}: the model gives a non-finite score for ${imageSourceName(inputs[i]!)} (image score ${result.score}): its tensors hold NaN or infinite values; fit it again`,
          this.loadedFrom ?? undefined,
        );
      }
      return onImage(i, result);
    });
  }

  /**
   * Sets the thresholds from nominal images that were not used for fitting (held out): scores them and keeps the
   * thresholds at which a good image is called defective, or shows a non-empty mask, at `falseAlarmRate`
   * (calibration.ts: holdoutCalibration). {@link save} stores the result with the model.
   *
   * @param nominal good images the detector was not fitted on
   * @param options.falseAlarmRate target share of good images called defective (default 0.01)
   * @param progress receives 'threshold' steps while the images are scored
   * @returns the new calibration
   * @throws NpadInputError when an image cannot be read; RangeError when `nominal` is empty
   */
  async calibrate(nominal: readonly ImageSource[], options: { falseAlarmRate?: number } = {}, progress?: ProgressCallback): Promise<ScoreCalibration> {
    if (nominal.length === 0) throw new NpadConfigError('calibration needs at least one nominal image');
    const scores = new Float64Array(nominal.length);
    const maps: Float32Array[] = [];
    progress?.('threshold', 0, nominal.length);
    await this.score(nominal, (i, r) => {
      scores[i] = r.score;
      maps[i] = r.map;
      progress?.('threshold', i + 1, nominal.length);
    });
    this.currentCalibration = holdoutCalibration(scores, maps, options.falseAlarmRate ?? DEFAULT_FALSE_ALARM_RATE);
    return this.currentCalibration;
  }

  /**
   * The calibration, which verdicts need.
   * @throws NpadInputError, naming the model file, when there is none; the message says how to make one
   */
  requireCalibration(): ScoreCalibration {
    if (this.currentCalibration) return this.currentCalibration;
    throw new NpadNoThresholdError(this.loadedFrom);
  }

  /**
   * Predicts a verdict (good / defective), the raw and normalised image score, the anomaly map and the defect mask
   * of each input, with the detector's calibration. Inputs are file paths, encoded image bytes (a Buffer, named
   * `<buffer N>` in messages, or `{ name, bytes }`) or decoded pixels.
   *
   * @param onResult receives each prediction, in input order
   * @param onSkip receives each input that cannot be read or decoded, which is then skipped; without it the first
   *   such input stops the run with its NpadInputError
   * @throws NpadInputError when the detector has no calibration (the message says how to make one)
   */
  async predict(inputs: readonly (ImageSource | Buffer)[], onResult: PredictionHandler, onSkip?: SkippedImageHandler): Promise<void> {
    const calibration = this.requireCalibration();
    const named = inputs.map((input, i) => (Buffer.isBuffer(input) ? { name: `<buffer ${i}>`, bytes: input } : input));
    await predictImages({ preprocess: this.config.preprocess, score: (x, on) => this.score(x, on) }, calibration, named, onResult, onSkip);
  }
}

/** A model file's options with those it predates filled as its npad fitted them (the method's optionsBeforeTheyExisted). */
function withOptionsOfItsTime(method: MethodName, options: Record<string, unknown>): Record<string, unknown> {
  return { ...definitionOf(method).optionsBeforeTheyExisted, ...options };
}

/**
 * Validates the configuration JSON of a model file (options missing in older files take the value that reproduces
 * them: withOptionsOfItsTime; the others today's defaults).
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
  definitionOf(method).checkMeta(model, file);
  const common: CommonConfigInput = {
    preprocess: detector.preprocess as PreprocessInput,
    backbone: parseStoredBackbone(detector.backbone, file),
    featureGrid: isRecord(detector.featureGrid) ? (detector.featureGrid as Partial<DetectorConfig['featureGrid']>) : {},
    batchSize: typeof detector.batchSize === 'number' ? detector.batchSize : undefined,
  };
  const resolved = resolveConfig(configInputFor(method, withOptionsOfItsTime(method, detector.options), common));
  try {
    validateConfig(resolved);
  } catch (e) {
    throw new NpadInputError(`${file}: invalid configuration in model file: ${(e as Error).message}`, file);
  }
  return { detector: resolved, model };
}


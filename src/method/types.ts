/**
 * What every detection method shares: the settings it is fitted with, what scoring returns, and the definition a
 * method gives the registry (registry.ts) so that the detector, the model file and the memory guard can fit, score,
 * store and size it without knowing which method it is.
 */
import type { FeatureExtractor, FeatureGridOptions } from '../backbone/featureExtractor.js';
import type { PreprocessOptions } from '../image/preprocess.js';
import type { ImageSource } from '../image/source.js';
import type { ModelTensor } from '../model/modelFile.js';

/** Reports progress of a long step: `done` of `total` units of `step`. */
export type ProgressCallback = (step: string, done: number, total: number) => void;

/**
 * One scored image: the anomaly map, width × height row-major, and the image score. A method's map covers its
 * network input; the detector's, for tiled images, the mosaic of the tiles' maps (image/wholeImage.ts).
 */
export interface ScoredImage {
  map: Float32Array;
  width: number;
  height: number;
  score: number;
}

/** Receives each scored image, in input order (`index` into the images given). */
export type ScoredImageHandler = (index: number, result: ScoredImage) => void | Promise<void>;

/** Everything that shapes a fit besides the backbone itself: the method's options and the images' geometry. */
export interface MethodSettings<O> {
  /** The method's options. */
  options: O;
  /** Resize and crop of the input images. */
  preprocess: PreprocessOptions;
  /** How the backbone's coarser stages are brought to a finer stage's grid. */
  featureGrid: FeatureGridOptions;
  /** Images per backbone batch while fitting. */
  batchSize: number;
}

/**
 * How the large matrices (precision matrices, centroid and memory banks) are stored: 'f32', or 'f16' at half
 * the size (IEEE binary16: about 3 significant digits; precision entries are bounded by 1/ε = 100, far inside
 * its range), or 'i8': the precision matrices in int8 with a float32 scale per row (a quarter of f32,
 * engine/packedPrecision.ts quantisePrecisions), the banks in f16. Scoring runs in float32 either way (widened on
 * load, or a run at a time: LoadedForm). The AUROC cost of each is measured in docs/speed.md. Means and everything
 * small stay float32.
 */
export type StoragePrecision = 'f32' | 'f16' | 'i8';

/**
 * How a loaded model keeps what its file stores in f16 and i8 (precision matrices from d = 150 on, and banks):
 * 'expanded' into float32 on load, the fastest to score with, for a model that scores many images (the default);
 * or 'stored' as the file holds them, converted a run at a time as they are scored: a faster load and a quarter
 * to an eighth of the memory, but slower per image in batches (docs/speed.md "Cold start"). Scores differ only in
 * their last bits.
 */
export type LoadedForm = 'expanded' | 'stored';

/** A fitted model as the model file holds it: named tensors and the JSON metadata that describes them. */
export interface StoredModel {
  meta: object;
  tensors: Map<string, ModelTensor>;
}

/** The sizes a fit's buffers follow: the backbone's stages 1–3 and the feature grids they give at the input size. */
export interface FeatureGeometry {
  /** Channels of stages 1–3 together (1792 for the ResNet-50 family). */
  channels: number;
  /** Rows and columns of the feature grid (stage 1's: N-pad, PaDiM). */
  gridHeight: number;
  gridWidth: number;
  /** Rows and columns of the patch grid (stage 2's: PatchCore, N-pad's position-free bank). */
  patchHeight: number;
  patchWidth: number;
}

/** One named share of a memory estimate. */
export interface MemoryPart {
  /** What the memory holds, e.g. "module A statistics". */
  what: string;
  /** Bytes. */
  bytes: number;
}

/** One phase of a fit and the large buffers alive during it (the process itself is added by the memory guard). */
export interface MemoryPhase {
  /** e.g. "module B Gaussians". */
  phase: string;
  parts: MemoryPart[];
}

/**
 * A setting the memory guard may lower to fit a budget: an option searched down to the largest value that fits, an
 * option set to one smaller value, or fewer training images (the guard always tries a smaller batch too).
 */
export type MemoryRemedy = { option: string; to: 'largest' | number } | { trainImages: 'largest' };

/**
 * One detection method, complete: everything the rest of npad needs from it. A method is a folder under src/method/
 * that exports one of these, and one line in registry.ts, whose key is its name in configurations, model files and
 * `--method` (docs/architecture.md lists the steps).
 *
 * @typeParam O the method's options
 * @typeParam M its fitted model
 */
export interface MethodDefinition<O extends object, M extends object> {
  /** Every option's default (measured; each option's comment gives the paper's value). */
  readonly defaults: Readonly<O>;
  /** Named sets of option values applied before explicit options (N-pad's paper reading and ablations); may be empty. */
  readonly presets: Readonly<Record<string, Partial<O>>>;
  /**
   * Options added after model files were written, with the value that reproduces those files where it differs from
   * today's default (a file that lacks the option was fitted with it).
   */
  readonly optionsBeforeTheyExisted: Partial<O>;
  /** How the backbone's stages are brought to one grid unless the configuration says otherwise. */
  readonly featureGrid: FeatureGridOptions;
  /** Settings the memory guard may lower when a fit does not fit, in the order it suggests them. */
  readonly memoryRemedies: readonly MemoryRemedy[];

  /**
   * Checks every option value (type, range, enumeration, upper limit) and its fit with the rest of the settings.
   * @throws NpadConfigError naming the option
   */
  validate(settings: MethodSettings<O>): void;
  /** Fits on nominal (defect-free) images (files, or the tiles of files). */
  fit(images: readonly ImageSource[], extractor: FeatureExtractor, settings: MethodSettings<O>, progress?: ProgressCallback): Promise<M>;
  /** Scores images; `onImage` receives each result in input order. */
  score(model: M, extractor: FeatureExtractor, images: readonly ImageSource[], onImage: ScoredImageHandler): Promise<void>;

  /** The fitted model as tensors and metadata for the model file (docs/model-format.md). */
  toTensors(model: M, precision: StoragePrecision): StoredModel;
  /**
   * Checks a model file's metadata before its configuration is trusted, naming what is missing.
   * @throws NpadInputError naming the file
   */
  checkMeta(meta: Record<string, unknown>, file: string): void;
  /**
   * Rebuilds the fitted model from a model file (metadata checked by checkMeta; settings from its configuration).
   * @throws NpadInputError naming the file and the tensor or metadata at fault
   */
  fromTensors(settings: MethodSettings<O>, meta: Record<string, unknown>, tensors: Map<string, ModelTensor>, file: string, form?: LoadedForm): M;
  /** The oldest model file format version that can read this metadata. */
  formatVersion(meta: object): number;
  /**
   * Refuses a loaded model whose grids are not those the backbone gives at its input size (the configuration in a
   * model file is not checksummed, its tensors are).
   * @throws NpadInputError naming the file and both grids
   */
  checkGrid(model: M, extractor: FeatureExtractor, file: string): Promise<void>;

  /**
   * Checks the options against the loaded backbone's channels and grids (Detector.fit calls it before the memory
   * guard): what no machine could fit, whatever its memory.
   * @throws NpadConfigError naming the option and what would fit
   */
  checkGeometry(settings: MethodSettings<O>, geometry: FeatureGeometry): void;
  /** The phases of a fit on `trainCount` images and their large buffers (memory guard, detector/memoryEstimate.ts). */
  memoryPhases(settings: MethodSettings<O>, trainCount: number, geometry: FeatureGeometry): MemoryPhase[];
  /** What a fit made that a user should hear about beyond the usual (N-pad: its position-free bank), or null. */
  fitSummary(model: M): string | null;
  /** The fit in a few words for messages, e.g. "N-pad with d = 200 on 224×224 inputs". */
  describe(settings: MethodSettings<O>, trainCount: number): string;
  /**
   * A fit cut into shards of the training images that run anywhere (queue workers, docs/scale.md), for methods
   * whose fit is sums of per-image statistics; absent where that is not built. `fit` must equal
   * `finish([fitShard(all images)])`.
   */
  readonly shards?: ShardedFit<O, M>;
}

/**
 * A fit as shards: each shard's part is computed from its images alone and stored as tensors (checksummed when it
 * travels as a file), and the model is made from the parts merged in shard order, so it is the same bytes wherever
 * each shard ran. A method may first survey the shards (N-pad counts each channel's positive values to choose its
 * channels) and keep some images out of the shards for its finish (N-pad's fusion holdout).
 */
export interface ShardedFit<O, M> {
  /** Why these settings cannot be fitted in several shards (then only one), or null. */
  unsupported?(settings: MethodSettings<O>): string | null;
  /** The images the shards see, and those the finish reads itself (default: all to the shards, none kept). */
  reserve?(images: readonly ImageSource[], settings: MethodSettings<O>): { shards: readonly ImageSource[]; reserved: readonly ImageSource[] };
  /** A first pass over the shards, when the settings need one: each shard's summary, and the context they give. */
  survey?: {
    needed(settings: MethodSettings<O>): boolean;
    surveyShard(images: readonly ImageSource[], extractor: FeatureExtractor, settings: MethodSettings<O>, progress?: ProgressCallback): Promise<StoredModel>;
    /** The context every shard's fit needs, from the summaries in shard order (JSON: it travels in jobs). */
    combine(summaries: readonly StoredModel[], extractor: FeatureExtractor, settings: MethodSettings<O>): ShardContext;
  };
  /** One shard's part: its statistics as tensors and metadata. */
  fitShard(images: readonly ImageSource[], extractor: FeatureExtractor, settings: MethodSettings<O>, context: ShardContext | null, progress?: ProgressCallback): Promise<StoredModel>;
  /**
   * The model from the shards' parts, in shard order, and the reserved images. The parts arrive one at a time and
   * are merged as they come, so that the finish holds the merged statistics and one part, not every part at once.
   * @throws NpadInputError when a part does not belong to this fit (other grid or dimension)
   */
  finish(parts: AsyncIterable<StoredModel>, extractor: FeatureExtractor, settings: MethodSettings<O>, context: ShardContext | null, reserved: readonly ImageSource[], progress?: ProgressCallback): Promise<M>;
}

/** What the survey of a sharded fit tells every shard (JSON). */
export type ShardContext = Record<string, unknown>;

/**
 * A fitted model (N-pad, PaDiM or PatchCore) as named tensors plus JSON, and back, for the model file
 * (docs/model-format.md). Precision matrices stay in their position chunks (`A.precision.0`, `A.precision.1`, …)
 * so that a model of any size is written and read without one multi-GB array.
 */
import { NpadInputError } from '../errors.js';
import { invalidBlockBounds, packPrecisions, packedBlockBounds, packedMatrixSize, unpackPrecisions } from '../engine/packedPrecision.js';
import type { GaussianGrid } from '../method/parts/gaussians.js';
import { npadPatchBankOptions, usesPatchBank, type FusedBank, type NpadModel } from '../method/npad/npad.js';
import type { PadimModel } from '../method/padim/padim.js';
import type { PatchcoreModel } from '../method/patchcore/patchcore.js';
import type { PatchEmbeddingShape } from '../method/parts/patchEmbedding.js';
import type { ModelTensor } from '../model/modelFile.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../tensorfile/safetensors.js';
import type { DetectorConfig } from './config.js';
import type { FittedModel } from './methods.js';

/**
 * How the large matrices (precision matrices, centroid and memory banks) are stored: 'f32', or 'f16' at half
 * the size (IEEE binary16: about 3 significant digits; precision entries are bounded by 1/ε = 100, far inside
 * its range). They are widened back to float32 on load, so scoring runs in float32 either way. The AUROC cost
 * of f16 is measured in docs/speed.md. Means and everything small stay float32.
 */
export type StoragePrecision = 'f32' | 'f16';

/** The JSON part of a fitted N-pad model besides its configuration. */
export interface NpadModelMeta {
  trainCount: number;
  height: number;
  width: number;
  dim: number;
  chunkSize: number;
  centroidCount: number;
  /** Block bounds of the packed precision matrices (engine/packedPrecision.ts); absent in older files: full matrices. */
  precisionBlocks?: number[];
  /** The position-free bank (option bank 'patch-coreset'; its members are the tensor `bank`); absent otherwise. */
  patchBank?: NpadPatchBankMeta;
}

/** The JSON part of N-pad's position-free bank. */
export interface NpadPatchBankMeta {
  /** Members of the bank. */
  bankSize: number;
  /** Nominal patch features before subsampling. */
  totalPatches: number;
  /** Channels, rows and columns of the stage maps (stages 2 and 3), which fix the patch grid. */
  stages: { channels: number; height: number; width: number }[];
  /** Nominal images held out of the fit to standardise the maps. */
  heldOut: number;
  /** Mean and standard deviation of the per-position map's maxima over them. */
  positionMaxima: { mean: number; sd: number };
  /** The same for the bank's map. */
  bankMaxima: { mean: number; sd: number };
}

function f32(data: Float32Array, shape: number[]): ModelTensor {
  return { dtype: 'F32', shape, data };
}

/** A large float tensor at the chosen storage precision. */
function stored(data: Float32Array, shape: number[], precision: StoragePrecision): ModelTensor {
  return precision === 'f16' ? { dtype: 'F16', shape, data: float32ToFloat16Bits(data) } : f32(data, shape);
}

/** A grid's tensors, its precision matrices in their packed form: [chunk, d, d] for one block, else [chunk, packed size]. */
function gridTensors(prefix: string, grid: GaussianGrid, out: Map<string, ModelTensor>, precision: StoragePrecision): void {
  const d = grid.dim;
  const bounds = packedBlockBounds(d);
  const size = packedMatrixSize(bounds, d);
  out.set(`${prefix}.mean`, f32(grid.means, [grid.positions, d]));
  grid.precisions.forEach((chunk, i) => {
    const count = chunk.length / size;
    out.set(`${prefix}.precision.${i}`, stored(chunk, bounds.length === 2 ? [count, d, d] : [count, size], precision));
  });
}

/** Tensors and metadata of a fitted model. */
export function npadModelToTensors(model: NpadModel, precision: StoragePrecision = 'f32'): { meta: NpadModelMeta; tensors: Map<string, ModelTensor> } {
  const s = model.scoring;
  const tensors = new Map<string, ModelTensor>();
  tensors.set('channels', { dtype: 'I32', shape: [model.channels.length], data: model.channels });
  if (s.weighted) gridTensors('A', s.weighted, tensors, precision);
  if (s.aggregated) gridTensors('B', s.aggregated, tensors, precision);
  if (s.centroids) tensors.set('B.centroids', stored(s.centroids, [s.centroidCount, s.dim], precision));
  const f = model.fusion;
  if (f) tensors.set('bank', stored(f.bank, [f.bankSize, f.shape.embedDim], precision));
  const chunkSize = s.weighted?.chunkSize ?? s.aggregated?.chunkSize ?? 0;
  const meta: NpadModelMeta = { trainCount: model.trainCount, height: s.height, width: s.width, dim: s.dim, chunkSize, centroidCount: s.centroidCount, precisionBlocks: packedBlockBounds(s.dim) };
  if (f) {
    const stages = f.shape.stages.map((t) => ({ channels: t.channels, height: t.height, width: t.width }));
    meta.patchBank = { bankSize: f.bankSize, totalPatches: f.totalPatches, stages, heldOut: f.heldOut, positionMaxima: { ...f.positionMaxima }, bankMaxima: { ...f.bankMaxima } };
  }
  return { meta, tensors };
}

/** Checks the stored position-free bank's metadata, naming what is wrong. */
function checkPatchBankMeta(value: unknown, file: string): NpadPatchBankMeta {
  const bad = (what: string): never => {
    throw new NpadInputError(`${file}: model metadata patchBank ${what}`, file);
  };
  if (!isRecord(value)) return bad('is missing (the configuration uses bank patch-coreset)');
  for (const key of ['bankSize', 'totalPatches', 'heldOut'] as const) {
    const v = value[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(`lacks ${key} (a positive integer)`);
  }
  for (const key of ['positionMaxima', 'bankMaxima'] as const) {
    const v = value[key];
    if (!isRecord(v) || !Number.isFinite(v.mean) || !(typeof v.sd === 'number' && v.sd > 0 && Number.isFinite(v.sd))) bad(`lacks ${key} (a finite mean and a positive sd)`);
  }
  if (!validStages(value.stages)) bad('lacks stages (channels, height, width of each stage map)');
  return value as unknown as NpadPatchBankMeta;
}

/** A float tensor of `size` values, stored as F32 or F16 (widened to float32). */
function take(tensors: Map<string, ModelTensor>, name: string, file: string, size: number): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new NpadInputError(`${file}: model file has no tensor ${name}`, file);
  if (t.data.length !== size || (t.dtype !== 'F32' && t.dtype !== 'F16')) {
    throw new NpadInputError(`${file}: tensor ${name} has ${t.data.length} ${t.dtype} values, expected ${size} F32 or F16`, file);
  }
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Uint16Array) return float16BitsToFloat32(t.data);
  throw new NpadInputError(`${file}: tensor ${name} is not a float tensor`, file);
}

/**
 * A grid from its tensors. Precision matrices stored in other blocks than today's (files before packing stored
 * them full) are unpacked and packed again, chunk by chunk.
 */
function readGrid(prefix: string, meta: Pick<NpadModelMeta, 'height' | 'width' | 'dim' | 'chunkSize' | 'precisionBlocks'>, tensors: Map<string, ModelTensor>, file: string): GaussianGrid {
  const P = meta.height * meta.width;
  const d = meta.dim;
  const stored = meta.precisionBlocks ?? [0, d];
  const problem = invalidBlockBounds(stored, d);
  if (problem) throw new NpadInputError(`${file}: model metadata precisionBlocks ${JSON.stringify(stored)} ${problem}`, file);
  const wanted = packedBlockBounds(d);
  const same = stored.length === wanted.length && stored.every((b, i) => b === wanted[i]);
  const size = packedMatrixSize(stored, d);
  const precisions: Float32Array[] = [];
  for (let p0 = 0, i = 0; p0 < P; p0 += meta.chunkSize, i++) {
    const count = Math.min(meta.chunkSize, P - p0);
    const chunk = take(tensors, `${prefix}.precision.${i}`, file, count * size);
    precisions.push(same ? chunk : packPrecisions(unpackPrecisions(chunk, count, d, stored), count, d, wanted));
  }
  return { positions: P, dim: d, chunkSize: meta.chunkSize, means: take(tensors, `${prefix}.mean`, file, P * d), precisions };
}

/** Rebuilds the fitted model; `settings` come from the file's configuration. */
export function npadModelFromTensors(
  settings: NpadModel['settings'],
  meta: NpadModelMeta,
  tensors: Map<string, ModelTensor>,
  file: string,
): NpadModel {
  const channels = tensors.get('channels');
  if (!channels || !(channels.data instanceof Int32Array) || channels.data.length !== meta.dim) {
    throw new NpadInputError(`${file}: model file has no valid channels tensor`, file);
  }
  const o = settings.options;
  let fusion: FusedBank | null = null;
  if (usesPatchBank(o)) {
    const b = checkPatchBankMeta(meta.patchBank, file);
    const bankOptions = npadPatchBankOptions(o);
    const shape: PatchEmbeddingShape = { stages: b.stages, patchSize: bankOptions.patchSize, stageDim: bankOptions.stageDim, embedDim: bankOptions.embedDim, upsample: bankOptions.upsample };
    const bank = take(tensors, 'bank', file, b.bankSize * shape.embedDim);
    fusion = { shape, bank, bankSize: b.bankSize, totalPatches: b.totalPatches, heldOut: b.heldOut, positionMaxima: b.positionMaxima, bankMaxima: b.bankMaxima };
  }
  return {
    settings,
    channels: channels.data,
    trainCount: meta.trainCount,
    fusion,
    scoring: {
      height: meta.height,
      width: meta.width,
      dim: meta.dim,
      weighted: o.moduleA ? readGrid('A', meta, tensors, file) : null,
      aggregated: o.moduleB ? readGrid('B', meta, tensors, file) : null,
      centroids: o.moduleB && !usesPatchBank(o) ? take(tensors, 'B.centroids', file, meta.centroidCount * meta.dim) : null,
      centroidCount: meta.centroidCount,
    },
  };
}

/** The JSON part of a fitted PaDiM model besides its configuration. */
export interface PadimModelMeta {
  /** Nominal images fitted on. */
  trainCount: number;
  /** Rows of the feature grid. */
  height: number;
  /** Columns of the feature grid. */
  width: number;
  /** Channels kept, d. */
  dim: number;
  /** Positions per precision chunk. */
  chunkSize: number;
  /** Block bounds of the packed precision matrices (engine/packedPrecision.ts); absent in older files: full matrices. */
  precisionBlocks?: number[];
}

/** The JSON part of a fitted PatchCore model besides its configuration. */
export interface PatchcoreModelMeta {
  /** Nominal images fitted on. */
  trainCount: number;
  /** Values of a patch feature (embedDim). */
  dim: number;
  /** Members of the memory bank. */
  bankSize: number;
  /** Nominal patch features before subsampling. */
  totalPatches: number;
  /** Channels, rows and columns of the stage maps (stages 2 and 3), which fix the patch grid. */
  stages: { channels: number; height: number; width: number }[];
}

/** PaDiM: the kept channels and one Gaussian per position (`gaussian.mean`, `gaussian.precision.<chunk>`). */
export function padimModelToTensors(model: PadimModel, precision: StoragePrecision = 'f32'): { meta: PadimModelMeta; tensors: Map<string, ModelTensor> } {
  const g = model.gaussians;
  const tensors = new Map<string, ModelTensor>();
  tensors.set('channels', { dtype: 'I32', shape: [model.channels.length], data: model.channels });
  gridTensors('gaussian', g, tensors, precision);
  return { meta: { trainCount: model.trainCount, height: model.height, width: model.width, dim: g.dim, chunkSize: g.chunkSize, precisionBlocks: packedBlockBounds(g.dim) }, tensors };
}

/** Rebuilds a fitted PaDiM model; `settings` come from the file's configuration. */
export function padimModelFromTensors(settings: PadimModel['settings'], meta: PadimModelMeta, tensors: Map<string, ModelTensor>, file: string): PadimModel {
  const channels = tensors.get('channels');
  if (!channels || !(channels.data instanceof Int32Array) || channels.data.length !== meta.dim) {
    throw new NpadInputError(`${file}: model file has no valid channels tensor`, file);
  }
  if (meta.dim !== settings.options.dim) throw new NpadInputError(`${file}: model metadata dim ${meta.dim} disagrees with option dim ${settings.options.dim}`, file);
  const grid = readGrid('gaussian', meta, tensors, file);
  return { settings, channels: channels.data, trainCount: meta.trainCount, height: meta.height, width: meta.width, gaussians: grid };
}

/** PatchCore: the memory bank `bank` [bankSize, dim], coreset members in selection order. */
export function patchcoreModelToTensors(model: PatchcoreModel, precision: StoragePrecision = 'f32'): { meta: PatchcoreModelMeta; tensors: Map<string, ModelTensor> } {
  const E = model.shape.embedDim;
  const tensors = new Map<string, ModelTensor>([['bank', stored(model.bank, [model.bankSize, E], precision)]]);
  const stages = model.shape.stages.map((s) => ({ channels: s.channels, height: s.height, width: s.width }));
  return { meta: { trainCount: model.trainCount, dim: E, bankSize: model.bankSize, totalPatches: model.totalPatches, stages }, tensors };
}

/** Rebuilds a fitted PatchCore model; `settings` come from the file's configuration. */
export function patchcoreModelFromTensors(
  settings: PatchcoreModel['settings'],
  meta: PatchcoreModelMeta,
  tensors: Map<string, ModelTensor>,
  file: string,
): PatchcoreModel {
  const o = settings.options;
  if (meta.dim !== o.embedDim) throw new NpadInputError(`${file}: model metadata dim ${meta.dim} disagrees with option embedDim ${o.embedDim}`, file);
  const shape: PatchEmbeddingShape = { stages: meta.stages, patchSize: o.patchSize, stageDim: o.stageDim, embedDim: o.embedDim, upsample: settings.upsample };
  const bank = take(tensors, 'bank', file, meta.bankSize * meta.dim);
  return { settings, trainCount: meta.trainCount, shape, bank, bankSize: meta.bankSize, totalPatches: meta.totalPatches };
}

/** The JSON part of a fitted model of any method. */
export type ModelMeta = NpadModelMeta | PadimModelMeta | PatchcoreModelMeta;

/**
 * The oldest model file version that reads a model with this metadata: 3 for N-pad's position-free bank, 2 once
 * precision matrices are packed in several blocks, else 1.
 */
export function formatVersionOf(meta: ModelMeta): number {
  if ('patchBank' in meta && meta.patchBank !== undefined) return 3;
  return 'precisionBlocks' in meta && meta.precisionBlocks !== undefined && meta.precisionBlocks.length > 2 ? 2 : 1;
}

/** Tensors and metadata of a fitted model of any method. */
export function fittedModelToTensors(fitted: FittedModel, precision: StoragePrecision = 'f32'): { meta: ModelMeta; tensors: Map<string, ModelTensor> } {
  switch (fitted.method) {
    case 'npad':
      return npadModelToTensors(fitted.model, precision);
    case 'padim':
      return padimModelToTensors(fitted.model, precision);
    case 'patchcore':
      return patchcoreModelToTensors(fitted.model, precision);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** True for a non-empty list of stage map sizes (positive integers). */
function validStages(stages: unknown): boolean {
  return (
    Array.isArray(stages) &&
    stages.length > 0 &&
    stages.every((s) => isRecord(s) && ['channels', 'height', 'width'].every((k) => Number.isSafeInteger(s[k]) && (s[k] as number) > 0))
  );
}

/** The metadata numbers each method's model needs. */
const META_NUMBERS = {
  npad: ['trainCount', 'height', 'width', 'dim', 'chunkSize', 'centroidCount'],
  padim: ['trainCount', 'height', 'width', 'dim', 'chunkSize'],
  patchcore: ['trainCount', 'dim', 'bankSize', 'totalPatches'],
} as const;

/** Checks a model file's metadata for `method`, naming what is missing. */
export function checkModelMeta(method: FittedModel['method'], meta: Record<string, unknown>, file: string): void {
  for (const key of META_NUMBERS[method]) {
    const v = meta[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new NpadInputError(`${file}: model metadata lacks ${key} (a non-negative integer)`, file);
  }
  if (method === 'patchcore' && !validStages(meta.stages)) {
    throw new NpadInputError(`${file}: model metadata lacks stages (channels, height, width of each stage map)`, file);
  }
}

/** Rebuilds the fitted model of `config.method` from a model file's metadata (checked by checkModelMeta) and tensors. */
export function fittedModelFromTensors(config: DetectorConfig, meta: Record<string, unknown>, tensors: Map<string, ModelTensor>, file: string): FittedModel {
  const { preprocess, batchSize } = config;
  switch (config.method) {
    case 'npad':
      return { method: 'npad', model: npadModelFromTensors({ options: config.options, preprocess, batchSize }, meta as unknown as NpadModelMeta, tensors, file) };
    case 'padim':
      return { method: 'padim', model: padimModelFromTensors({ options: config.options, preprocess, batchSize }, meta as unknown as PadimModelMeta, tensors, file) };
    case 'patchcore': {
      const settings = { options: config.options, preprocess, upsample: config.featureGrid.upsample, batchSize };
      return { method: 'patchcore', model: patchcoreModelFromTensors(settings, meta as unknown as PatchcoreModelMeta, tensors, file) };
    }
  }
}

/**
 * A fitted N-pad model as the model file holds it (docs/model-format.md): the kept channels, module A's Gaussians
 * (`A.mean`, `A.precision.<chunk>`), module B's (`B.…`) and its bank (`B.centroids`, or the position-free `bank`
 * with metadata `patchBank`).
 */
import { NpadInputError } from '../../errors.js';
import type { ModelTensor } from '../../model/modelFile.js';
import { bankIndexTensors, channelsTensor, checkMetaIntegers, gridStorageMeta, gridTensors, precisionFormatVersion, readGrid, stored, take, takeBank, takeBankIndex, takeChannels, validStages, type GridMeta, type StageSize } from '../parts/modelTensors.js';
import type { PatchEmbeddingShape } from '../parts/patchEmbedding.js';
import type { LoadedForm, MethodSettings, StoragePrecision, StoredModel } from '../types.js';
import { npadPatchBankOptions, usesPatchBank, type FusedBank, type NpadModel } from './model.js';
import type { NpadOptions } from './options.js';
import { isRecord } from '../../util/isRecord.js';

/** The JSON part of a fitted N-pad model besides its configuration. */
export interface NpadModelMeta extends GridMeta {
  trainCount: number;
  centroidCount: number;
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
  stages: StageSize[];
  /** Nominal images held out of the fit to standardise the maps. */
  heldOut: number;
  /** Mean and standard deviation of the per-position map's maxima over them. */
  positionMaxima: { mean: number; sd: number };
  /** The same for the bank's map. */
  bankMaxima: { mean: number; sd: number };
}

/** The metadata numbers every N-pad model has. */
const META_INTEGERS = ['trainCount', 'height', 'width', 'dim', 'chunkSize', 'centroidCount'] as const;

/** Tensors and metadata of a fitted model. */
export function npadModelToTensors(model: NpadModel, precision: StoragePrecision = 'f32'): StoredModel & { meta: NpadModelMeta } {
  const s = model.scoring;
  const tensors = new Map<string, ModelTensor>();
  tensors.set('channels', channelsTensor(model.channels));
  if (s.weighted) gridTensors('A', s.weighted, tensors, precision);
  if (s.aggregated) gridTensors('B', s.aggregated, tensors, precision);
  if (s.centroids) tensors.set('B.centroids', stored(s.centroids, [s.centroidCount, s.dim], precision));
  const f = model.fusion;
  if (f) {
    tensors.set('bank', stored(f.bank, [f.bankSize, f.shape.embedDim], precision));
    bankIndexTensors(f.index, tensors);
  }
  const chunkSize = s.weighted?.chunkSize ?? s.aggregated?.chunkSize ?? 0;
  const meta: NpadModelMeta = { trainCount: model.trainCount, height: s.height, width: s.width, dim: s.dim, chunkSize, centroidCount: s.centroidCount, ...gridStorageMeta(s.dim, precision) };
  if (f) {
    const stages = f.shape.stages.map((t) => ({ channels: t.channels, height: t.height, width: t.width }));
    meta.patchBank = { bankSize: f.bankSize, totalPatches: f.totalPatches, stages, heldOut: f.heldOut, positionMaxima: { ...f.positionMaxima }, bankMaxima: { ...f.bankMaxima } };
  }
  return { meta, tensors };
}

/** Checks the metadata numbers every N-pad model has, naming the first missing. */
export function checkNpadMeta(meta: Record<string, unknown>, file: string): void {
  checkMetaIntegers(meta, META_INTEGERS, file);
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

/** Rebuilds the fitted model; `settings` come from the file's configuration, `meta` was checked by checkNpadMeta. */
export function npadModelFromTensors(settings: MethodSettings<NpadOptions>, meta: NpadModelMeta, tensors: Map<string, ModelTensor>, file: string, form: LoadedForm = 'expanded'): NpadModel {
  const channels = takeChannels(tensors, meta.dim, file);
  const o = settings.options;
  let fusion: FusedBank | null = null;
  if (usesPatchBank(o)) {
    const b = checkPatchBankMeta(meta.patchBank, file);
    const bankOptions = npadPatchBankOptions(o);
    const shape: PatchEmbeddingShape = { stages: b.stages, patchSize: bankOptions.patchSize, stageDim: bankOptions.stageDim, embedDim: bankOptions.embedDim, upsample: bankOptions.upsample };
    const bank = takeBank(tensors, 'bank', file, b.bankSize * shape.embedDim, form);
    const index = takeBankIndex(tensors, o.bankSearch, bank, b.bankSize, shape.embedDim, file);
    fusion = { shape, bank, bankSize: b.bankSize, totalPatches: b.totalPatches, index, heldOut: b.heldOut, positionMaxima: b.positionMaxima, bankMaxima: b.bankMaxima };
  }
  return {
    settings,
    channels,
    trainCount: meta.trainCount,
    fusion,
    scoring: {
      height: meta.height,
      width: meta.width,
      dim: meta.dim,
      weighted: o.moduleA ? readGrid('A', meta, tensors, file, form) : null,
      aggregated: o.moduleB ? readGrid('B', meta, tensors, file, form) : null,
      centroids: o.moduleB && !usesPatchBank(o) ? take(tensors, 'B.centroids', file, meta.centroidCount * meta.dim) : null,
      centroidCount: meta.centroidCount,
    },
  };
}

/** The oldest model file version that reads this model: 3 with the position-free bank, 4 with int8 precision matrices, else as its precision blocks need. */
export function npadFormatVersion(meta: NpadModelMeta): number {
  return Math.max(meta.patchBank !== undefined ? 3 : 1, precisionFormatVersion(meta));
}

/** A fitted PatchCore model as the model file holds it: the memory bank `bank` [bankSize, dim], coreset members in selection order. */
import { NpadInputError } from '../../errors.js';
import type { ModelTensor } from '../../model/modelFile.js';
import { bankIndexTensors, checkMetaIntegers, stored, takeBank, takeBankIndex, validStages, type StageSize } from '../parts/modelTensors.js';
import type { PatchEmbeddingShape } from '../parts/patchEmbedding.js';
import type { LoadedForm, MethodSettings, StoragePrecision, StoredModel } from '../types.js';
import type { PatchcoreModel, PatchcoreOptions } from './patchcore.js';

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
  stages: StageSize[];
}

/** The metadata numbers every PatchCore model has. */
const META_INTEGERS = ['trainCount', 'dim', 'bankSize', 'totalPatches'] as const;

/** PatchCore: the memory bank `bank` [bankSize, dim], coreset members in selection order. */
export function patchcoreModelToTensors(model: PatchcoreModel, precision: StoragePrecision = 'f32'): StoredModel & { meta: PatchcoreModelMeta } {
  const E = model.shape.embedDim;
  const tensors = new Map<string, ModelTensor>([['bank', stored(model.bank, [model.bankSize, E], precision)]]);
  bankIndexTensors(model.index, tensors);
  const stages = model.shape.stages.map((s) => ({ channels: s.channels, height: s.height, width: s.width }));
  return { meta: { trainCount: model.trainCount, dim: E, bankSize: model.bankSize, totalPatches: model.totalPatches, stages }, tensors };
}

/** Checks a PatchCore model's metadata, naming the first value missing. */
export function checkPatchcoreMeta(meta: Record<string, unknown>, file: string): void {
  checkMetaIntegers(meta, META_INTEGERS, file);
  if (!validStages(meta.stages)) throw new NpadInputError(`${file}: model metadata lacks stages (channels, height, width of each stage map)`, file);
}

/** Rebuilds a fitted PatchCore model; `settings` come from the file's configuration. */
export function patchcoreModelFromTensors(settings: MethodSettings<PatchcoreOptions>, meta: PatchcoreModelMeta, tensors: Map<string, ModelTensor>, file: string, form: LoadedForm = 'expanded'): PatchcoreModel {
  const o = settings.options;
  if (meta.dim !== o.embedDim) throw new NpadInputError(`${file}: model metadata dim ${meta.dim} disagrees with option embedDim ${o.embedDim}`, file);
  const shape: PatchEmbeddingShape = { stages: meta.stages, patchSize: o.patchSize, stageDim: o.stageDim, embedDim: o.embedDim, upsample: settings.featureGrid.upsample };
  const bank = takeBank(tensors, 'bank', file, meta.bankSize * meta.dim, form);
  const index = takeBankIndex(tensors, o.bankSearch, bank, meta.bankSize, meta.dim, file);
  return { settings, trainCount: meta.trainCount, shape, bank, bankSize: meta.bankSize, totalPatches: meta.totalPatches, index };
}

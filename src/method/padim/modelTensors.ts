/** A fitted PaDiM model as the model file holds it: the kept channels and one Gaussian per position (`gaussian.…`). */
import { NpadInputError } from '../../errors.js';
import type { ModelTensor } from '../../model/modelFile.js';
import { channelsTensor, checkMetaIntegers, gridStorageMeta, gridTensors, readGrid, takeChannels, type GridMeta } from '../parts/modelTensors.js';
import type { LoadedForm, MethodSettings, StoragePrecision, StoredModel } from '../types.js';
import type { PadimModel, PadimOptions } from './padim.js';

/** The JSON part of a fitted PaDiM model besides its configuration. */
export interface PadimModelMeta extends GridMeta {
  /** Nominal images fitted on. */
  trainCount: number;
}

/** The metadata numbers every PaDiM model has. */
const META_INTEGERS = ['trainCount', 'height', 'width', 'dim', 'chunkSize'] as const;

/** PaDiM: the kept channels and one Gaussian per position (`gaussian.mean`, `gaussian.precision.<chunk>`). */
export function padimModelToTensors(model: PadimModel, precision: StoragePrecision = 'f32'): StoredModel & { meta: PadimModelMeta } {
  const g = model.gaussians;
  const tensors = new Map<string, ModelTensor>();
  tensors.set('channels', channelsTensor(model.channels));
  gridTensors('gaussian', g, tensors, precision);
  return { meta: { trainCount: model.trainCount, height: model.height, width: model.width, dim: g.dim, chunkSize: g.chunkSize, ...gridStorageMeta(g.dim, precision) }, tensors };
}

/** Checks the metadata numbers every PaDiM model has, naming the first missing. */
export function checkPadimMeta(meta: Record<string, unknown>, file: string): void {
  checkMetaIntegers(meta, META_INTEGERS, file);
}

/** Rebuilds a fitted PaDiM model; `settings` come from the file's configuration. */
export function padimModelFromTensors(settings: MethodSettings<PadimOptions>, meta: PadimModelMeta, tensors: Map<string, ModelTensor>, file: string, form: LoadedForm = 'expanded'): PadimModel {
  const channels = takeChannels(tensors, meta.dim, file);
  if (meta.dim !== settings.options.dim) throw new NpadInputError(`${file}: model metadata dim ${meta.dim} disagrees with option dim ${settings.options.dim}`, file);
  const grid = readGrid('gaussian', meta, tensors, file, form);
  return { settings, channels, trainCount: meta.trainCount, height: meta.height, width: meta.width, gaussians: grid };
}

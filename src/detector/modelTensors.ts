/**
 * A fitted N-pad model as named tensors plus JSON, and back, for the model file (docs/model-format.md).
 * Precision matrices stay in their position chunks (`A.precision.0`, `A.precision.1`, …) so that a model
 * of any size is written and read without one multi-GB array.
 */
import { NpadInputError } from '../errors.js';
import type { GaussianGrid } from '../method/gaussians.js';
import type { NpadModel } from '../method/npad.js';
import type { ModelTensor } from '../model/modelFile.js';

/** The JSON part of a fitted N-pad model besides its configuration. */
export interface NpadModelMeta {
  trainCount: number;
  height: number;
  width: number;
  dim: number;
  chunkSize: number;
  centroidCount: number;
}

function f32(data: Float32Array, shape: number[]): ModelTensor {
  return { dtype: 'F32', shape, data };
}

function gridTensors(prefix: string, grid: GaussianGrid, out: Map<string, ModelTensor>): void {
  out.set(`${prefix}.mean`, f32(grid.means, [grid.positions, grid.dim]));
  grid.precisions.forEach((chunk, i) => out.set(`${prefix}.precision.${i}`, f32(chunk, [chunk.length / (grid.dim * grid.dim), grid.dim, grid.dim])));
}

/** Tensors and metadata of a fitted model. */
export function npadModelToTensors(model: NpadModel): { meta: NpadModelMeta; tensors: Map<string, ModelTensor> } {
  const s = model.scoring;
  const tensors = new Map<string, ModelTensor>();
  tensors.set('channels', { dtype: 'I32', shape: [model.channels.length], data: model.channels });
  if (s.weighted) gridTensors('A', s.weighted, tensors);
  if (s.aggregated) gridTensors('B', s.aggregated, tensors);
  if (s.centroids) tensors.set('B.centroids', f32(s.centroids, [s.centroidCount, s.dim]));
  const chunkSize = s.weighted?.chunkSize ?? s.aggregated?.chunkSize ?? 0;
  return {
    meta: { trainCount: model.trainCount, height: s.height, width: s.width, dim: s.dim, chunkSize, centroidCount: s.centroidCount },
    tensors,
  };
}

function take(tensors: Map<string, ModelTensor>, name: string, file: string, size: number): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new NpadInputError(`${file}: model file has no tensor ${name}`, file);
  if (!(t.data instanceof Float32Array) || t.data.length !== size) {
    throw new NpadInputError(`${file}: tensor ${name} has ${t.data.length} ${t.dtype} values, expected ${size} F32`, file);
  }
  return t.data;
}

function readGrid(prefix: string, meta: NpadModelMeta, tensors: Map<string, ModelTensor>, file: string): GaussianGrid {
  const P = meta.height * meta.width;
  const d = meta.dim;
  const precisions: Float32Array[] = [];
  for (let p0 = 0, i = 0; p0 < P; p0 += meta.chunkSize, i++) {
    precisions.push(take(tensors, `${prefix}.precision.${i}`, file, Math.min(meta.chunkSize, P - p0) * d * d));
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
  return {
    settings,
    channels: channels.data,
    trainCount: meta.trainCount,
    scoring: {
      height: meta.height,
      width: meta.width,
      dim: meta.dim,
      weighted: o.moduleA ? readGrid('A', meta, tensors, file) : null,
      aggregated: o.moduleB ? readGrid('B', meta, tensors, file) : null,
      centroids: o.moduleB ? take(tensors, 'B.centroids', file, meta.centroidCount * meta.dim) : null,
      centroidCount: meta.centroidCount,
    },
  };
}

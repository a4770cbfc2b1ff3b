/**
 * Streaming per-position statistics (engine/positionStatistics.ts) as tensors, the part of a sharded fit a shard
 * sends back (docs/scale.md): `<prefix>.reference` (F32 [P, d]), `<prefix>.sums` (F64 [P, d]) and
 * `<prefix>.scatter` (F64 [P, d(d+1)/2]), exact; the count in the metadata.
 */
import { packedSize, PositionStatistics, type PositionStatisticsState } from '../../engine/positionStatistics.js';
import { NpadInputError } from '../../errors.js';
import type { ModelTensor } from '../../model/modelFile.js';

/** Adds `state`'s tensors under `prefix` to `out`; returns its count for the metadata. */
export function statisticsTensors(prefix: string, state: PositionStatisticsState, out: Map<string, ModelTensor>): number {
  const { positions: P, dim: d } = state;
  out.set(`${prefix}.reference`, { dtype: 'F32', shape: [P, d], data: state.reference });
  out.set(`${prefix}.sums`, { dtype: 'F64', shape: [P, d], data: state.sums });
  out.set(`${prefix}.scatter`, { dtype: 'F64', shape: [P, packedSize(d)], data: state.scatter });
  return state.count;
}

/**
 * The statistics stored under `prefix` for a grid of `positions` × `dim` and `count` images.
 * @throws NpadInputError naming `source` and the tensor that is missing or of another size
 */
function readStatistics(prefix: string, tensors: Map<string, ModelTensor>, positions: number, dim: number, count: number, source: string): PositionStatisticsState {
  const take = <T extends Float32Array | Float64Array>(name: string, kind: new (n: number) => T, size: number): T => {
    const t = tensors.get(`${prefix}.${name}`);
    if (!t || !(t.data instanceof kind) || t.data.length !== size) throw new NpadInputError(`${source}: no ${prefix}.${name} of ${size} values for ${positions} positions at d = ${dim}`, source);
    return t.data as T;
  };
  if (!Number.isSafeInteger(count) || count < 1) throw new NpadInputError(`${source}: statistics of ${String(count)} images`, source);
  return {
    positions,
    dim,
    count,
    reference: take('reference', Float32Array, positions * dim),
    sums: take('sums', Float64Array, positions * dim),
    scatter: take('scatter', Float64Array, positions * packedSize(dim)),
  };
}

/**
 * Refuses a shard's part computed on another feature grid or dimension than this fit's.
 * @throws NpadInputError naming the shard and both grids
 */
export function checkShardGrid(meta: { height: number; width: number; dim: number }, height: number, width: number, dim: number, shard: number): void {
  if (meta.height !== height || meta.width !== width || meta.dim !== dim) {
    throw new NpadInputError(`shard ${shard}: statistics of a ${meta.height}×${meta.width} grid at d = ${meta.dim}, not this fit's ${height}×${width} at d = ${dim}`);
  }
}

/**
 * `merged` with the statistics stored under `prefix` in a shard's `tensors` added after what it holds (a left fold
 * in shard order; the first shard starts it). The tensors are then deleted from the map, so that a caller still
 * holding the part does not keep them alive once merged (the first shard's arrays become the merged ones).
 * @throws NpadInputError as {@link readStatistics}
 */
export function mergeShardStatistics(merged: PositionStatistics | null, prefix: string, tensors: Map<string, ModelTensor>, positions: number, dim: number, count: number, shard: number): PositionStatistics {
  const part = readStatistics(prefix, tensors, positions, dim, count, `shard ${shard}`);
  for (const name of ['reference', 'sums', 'scatter']) tensors.delete(`${prefix}.${name}`);
  if (merged === null) return PositionStatistics.merge([part]);
  merged.mergeIn(part);
  return merged;
}

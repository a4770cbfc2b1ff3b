/**
 * The pieces every method's model file is made of (docs/model-format.md): float tensors at the chosen storage
 * precision, Gaussian grids with their precision matrices in position chunks (`<prefix>.precision.0`, `.1`, …, so
 * that a model of any size is written and read without one multi-GB array), and checks of the JSON metadata that
 * name the file and what is wrong.
 */
import { expandPrecisions, invalidBlockBounds, packPrecisions, packedBlockBounds, packedMatrixSize, quantisePrecisions, scoredAsStored, storedBlockBounds, unpackPrecisions, type PrecisionChunk, type StoredPrecisions } from '../../engine/packedPrecision.js';
import { NpadInputError } from '../../errors.js';
import type { ModelTensor } from '../../model/modelFile.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../tensorfile/safetensors.js';
import type { LoadedForm, StoragePrecision } from '../types.js';
import type { GaussianGrid } from './gaussians.js';
import { isRecord } from '../../util/isRecord.js';
import { loadIndex, type IndexKind, type IndexTensors, type NearestIndex } from '../../engine/nearestIndex.js';

/** A float32 tensor. */
export function f32(data: Float32Array, shape: number[]): ModelTensor {
  return { dtype: 'F32', shape, data };
}

/**
 * A large float tensor at the chosen storage precision (f16 under 'i8', which quantises only precision matrices),
 * from float32 values or binary16 bit patterns (a bank loaded as stored, written back as it is).
 */
export function stored(data: Float32Array | Uint16Array, shape: number[], precision: StoragePrecision): ModelTensor {
  if (data instanceof Uint16Array) return precision === 'f32' ? f32(float16BitsToFloat32(data), shape) : { dtype: 'F16', shape, data };
  return precision === 'f32' ? f32(data, shape) : { dtype: 'F16', shape, data: float32ToFloat16Bits(data) };
}

/** The kept channel indices as an I32 tensor `channels`. */
export function channelsTensor(channels: Int32Array): ModelTensor {
  return { dtype: 'I32', shape: [channels.length], data: channels };
}

/** The `channels` tensor of a model of `dim` kept channels. */
export function takeChannels(tensors: Map<string, ModelTensor>, dim: number, file: string): Int32Array {
  const channels = tensors.get('channels');
  if (!channels || !(channels.data instanceof Int32Array) || channels.data.length !== dim) {
    throw new NpadInputError(`${file}: model file has no valid channels tensor`, file);
  }
  return channels.data;
}

/** A float tensor of `size` values, stored as F32 or F16 (widened to float32). */
export function take(tensors: Map<string, ModelTensor>, name: string, file: string, size: number): Float32Array {
  const values = takeStored(tensors, name, file, size, false);
  return values instanceof Float32Array ? values : float16BitsToFloat32(values as Uint16Array);
}

/**
 * A patch bank of `size` values: float32 in form 'expanded'; in form 'stored' as the file holds it, F32 or F16
 * (binary16 bit patterns, which the bank's search reads so).
 */
export function takeBank(tensors: Map<string, ModelTensor>, name: string, file: string, size: number, form: LoadedForm): Float32Array | Uint16Array {
  return form === 'stored' ? (takeStored(tensors, name, file, size, false) as Float32Array | Uint16Array) : take(tensors, name, file, size);
}

/** The tensors of a bank's nearest-neighbour index (engine/nearestIndex.ts), `bankIndex.<name>`, in float32. */
export function bankIndexTensors(index: NearestIndex, out: Map<string, ModelTensor>): void {
  const dim = index.dim;
  for (const [name, data] of index.tensors()) out.set(`bankIndex.${name}`, f32(data, name === 'centre' ? [dim] : [data.length / dim, dim]));
}

/**
 * The nearest-neighbour index of a bank read by {@link takeBank}, searched as `kind`, from its `bankIndex.<name>`
 * tensors (absent in files from before indexes: the index then computes them on its first search).
 */
export function takeBankIndex(tensors: Map<string, ModelTensor>, kind: IndexKind, bank: Float32Array | Uint16Array, size: number, dim: number, file: string): NearestIndex {
  const saved: IndexTensors = new Map();
  for (const name of ['directions', 'centre'] as const) {
    const t = tensors.get(`bankIndex.${name}`);
    if (!t) continue;
    if (!(t.data instanceof Float32Array)) throw new NpadInputError(`${file}: tensor bankIndex.${name} is ${t.dtype}, expected F32`, file);
    saved.set(name, t.data);
  }
  try {
    return loadIndex(kind, bank, size, dim, saved);
  } catch (e) {
    if (e instanceof RangeError) throw new NpadInputError(`${file}: the bank's index is unusable: ${e.message}`, file);
    throw e;
  }
}

/**
 * A float tensor of `size` values as stored: float32 values (F32), binary16 bit patterns (F16) or, where
 * `int8` allows (precision matrices), int8 values to scale (I8).
 */
function takeStored(tensors: Map<string, ModelTensor>, name: string, file: string, size: number, int8 = true): Float32Array | Uint16Array | Int8Array {
  const t = tensors.get(name);
  if (!t) throw new NpadInputError(`${file}: model file has no tensor ${name}`, file);
  const kinds = int8 ? 'F32, F16 or I8' : 'F32 or F16';
  if (t.data.length !== size || !(t.dtype === 'F32' || t.dtype === 'F16' || (int8 && t.dtype === 'I8'))) {
    throw new NpadInputError(`${file}: tensor ${name} has ${t.data.length} ${t.dtype} values, expected ${size} ${kinds}`, file);
  }
  if (t.data instanceof Float32Array || t.data instanceof Uint16Array || t.data instanceof Int8Array) return t.data;
  throw new NpadInputError(`${file}: tensor ${name} is not a float tensor`, file);
}

/**
 * A grid's tensors, its precision matrices packed in the blocks {@link storedBlockBounds} gives (the metadata's
 * `precisionBlocks`): [chunk, d, d] for one block, else [chunk, packed size]; in i8, with their row scales
 * `<prefix>.precisionScale.<i>` (F32 [chunk, d]).
 */
export function gridTensors(prefix: string, grid: GaussianGrid, out: Map<string, ModelTensor>, precision: StoragePrecision): void {
  const d = grid.dim;
  const scoring = packedBlockBounds(d);
  const bounds = storedBlockBounds(d, precision);
  const same = sameBounds(bounds, scoring);
  out.set(`${prefix}.mean`, f32(grid.means, [grid.positions, d]));
  grid.precisions.forEach((loaded, i) => {
    const count = Math.min(grid.chunkSize, grid.positions - i * grid.chunkSize);
    const shape = bounds.length === 2 ? [count, d, d] : [count, packedMatrixSize(bounds, d)];
    // Matrices loaded as stored in this same storage are written back as they are, not rounded a second time.
    if (!(loaded instanceof Float32Array) && storageOf(loaded) === precision && sameBounds(loaded.bounds, bounds)) {
      out.set(`${prefix}.precision.${i}`, { dtype: precision === 'i8' ? 'I8' : 'F16', shape, data: loaded.values });
      if (loaded.scales) out.set(`${prefix}.precisionScale.${i}`, f32(loaded.scales, [count, d]));
      return;
    }
    // Stored matrices go from their blocks to these in one pass; float32 ones are in the scoring form.
    let packed: Float32Array;
    if (!(loaded instanceof Float32Array)) packed = expandPrecisions(loaded.values, count, d, loaded.bounds, loaded.scales ?? undefined, bounds);
    else if (same) packed = loaded;
    else packed = packPrecisions(unpackPrecisions(loaded, count, d, scoring), count, d, bounds);
    if (precision !== 'i8') {
      out.set(`${prefix}.precision.${i}`, stored(packed, shape, precision));
      return;
    }
    const { values, scales } = quantisePrecisions(packed, count, d, bounds);
    out.set(`${prefix}.precision.${i}`, { dtype: 'I8', shape, data: values });
    out.set(`${prefix}.precisionScale.${i}`, f32(scales, [count, d]));
  });
}

/** The metadata a stored Gaussian grid needs. */
export interface GridMeta {
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
  /** True when the precision matrices are stored in int8 with a scale per row (`--storage i8`); absent otherwise. */
  precisionInt8?: boolean;
}

/** The storage a model file's stored matrices came from. */
function storageOf(stored: StoredPrecisions): StoragePrecision {
  return stored.values instanceof Int8Array ? 'i8' : 'f16';
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * A grid from its tensors. F16 and I8 precision matrices are expanded into the scoring form, or, in `form`
 * 'stored' from d = 150 on (scoredAsStored), kept as stored (StoredPrecisions: scoring converts them a run at a
 * time); float32 ones stored in other blocks than the scoring form's (files before packing stored them full) are
 * packed again, chunk by chunk ({@link expandPrecisions}: the same quadratic forms).
 */
export function readGrid(prefix: string, meta: GridMeta, tensors: Map<string, ModelTensor>, file: string, form: LoadedForm = 'expanded'): GaussianGrid {
  const P = meta.height * meta.width;
  const d = meta.dim;
  const storedBlocks = meta.precisionBlocks ?? [0, d];
  const problem = invalidBlockBounds(storedBlocks, d);
  if (problem) throw new NpadInputError(`${file}: model metadata precisionBlocks ${JSON.stringify(storedBlocks)} ${problem}`, file);
  const size = packedMatrixSize(storedBlocks, d);
  const precisions: PrecisionChunk[] = [];
  for (let p0 = 0, i = 0; p0 < P; p0 += meta.chunkSize, i++) {
    const count = Math.min(meta.chunkSize, P - p0);
    const values = takeStored(tensors, `${prefix}.precision.${i}`, file, count * size);
    const scales = values instanceof Int8Array ? take(tensors, `${prefix}.precisionScale.${i}`, file, count * d) : undefined;
    if (form === 'stored' && !(values instanceof Float32Array) && scoredAsStored(d)) precisions.push({ values, scales: scales ?? null, bounds: storedBlocks });
    else precisions.push(expandPrecisions(values, count, d, storedBlocks, scales, packedBlockBounds(d)));
  }
  return { positions: P, dim: d, chunkSize: meta.chunkSize, means: take(tensors, `${prefix}.mean`, file, P * d), precisions };
}

/** The metadata that says how {@link gridTensors} stored a grid's precision matrices at `precision`. */
export function gridStorageMeta(dim: number, precision: StoragePrecision): Pick<GridMeta, 'precisionBlocks' | 'precisionInt8'> {
  return precision === 'i8' ? { precisionBlocks: storedBlockBounds(dim, precision), precisionInt8: true } : { precisionBlocks: storedBlockBounds(dim, precision) };
}

/** The oldest format that reads precision matrices stored so: 4 in int8, 2 packed in several blocks, else 1. */
export function precisionFormatVersion(meta: Pick<GridMeta, 'precisionBlocks' | 'precisionInt8'>): number {
  if (meta.precisionInt8 === true) return 4;
  return meta.precisionBlocks !== undefined && meta.precisionBlocks.length > 2 ? 2 : 1;
}

/** Channels, rows and columns of one backbone stage map. */
export interface StageSize {
  channels: number;
  height: number;
  width: number;
}

/** True for a non-empty list of stage map sizes (positive integers). */
export function validStages(stages: unknown): stages is StageSize[] {
  return (
    Array.isArray(stages) &&
    stages.length > 0 &&
    stages.every((s) => isRecord(s) && ['channels', 'height', 'width'].every((k) => Number.isSafeInteger(s[k]) && (s[k] as number) > 0))
  );
}

/** Checks that each of `keys` of a model's metadata is a non-negative integer, naming the first that is not. */
export function checkMetaIntegers(meta: Record<string, unknown>, keys: readonly string[], file: string): void {
  for (const key of keys) {
    const v = meta[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new NpadInputError(`${file}: model metadata lacks ${key} (a non-negative integer)`, file);
  }
}

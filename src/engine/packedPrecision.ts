/**
 * Precision matrices packed by their symmetry, the form scoring reads them in.
 *
 * A d×d matrix A is cut into b diagonal blocks of rows [o_i, o_{i+1}). The packed form keeps, for each block
 * row i, the strip of columns from o_i on: the diagonal block as it is and every block right of it as
 * A_ij + A_ji (2·A_ij for a symmetric matrix). The quadratic form is unchanged, only summed in another order:
 *
 *   yᵀ A y = Σ_i y_iᵀ · strip_i · y_{o_i … d}
 *
 * and it costs (b + 1) / 2b of the dense work and memory: 0.625 at b = 4. Scoring is bound by exactly these two
 * (each image reads every precision matrix once), so this is a lossless speed-up: measured at d = 550 on this
 * project's 2-core machine, 448 positions, 21 vectors each 43 → 29 ms, 5 vectors 25 → 21 ms, 1 vector
 * 17 → 14–17 ms. Below PACKING_MIN_DIM the smaller MatMuls lose more than they save (d = 200, 32 vectors:
 * 8.6 → 11–13 ms), so there the packed form is one block: the full matrix, unchanged.
 *
 * Layout of `count` packed matrices: strip-major, [count, r_0, d − o_0], then [count, r_1, d − o_1], …, so the
 * strips of any run of consecutive positions are views, never copies.
 */
import { halfTable } from '../tensorfile/safetensors.js';

/** Smallest dimension packed into several blocks (measured: see the file comment). */
const PACKING_MIN_DIM = 384;

/** Diagonal blocks of a packed matrix at d ≥ PACKING_MIN_DIM. */
const PACKED_BLOCKS = 4;

/**
 * Row bounds [0, o_1, …, d] of the diagonal blocks for dimension d: 4 blocks of a multiple of 16 rows (the last
 * one shorter) from PACKING_MIN_DIM on, one block below.
 */
export function packedBlockBounds(dim: number): number[] {
  if (dim < PACKING_MIN_DIM) return [0, dim];
  const size = Math.ceil(dim / PACKED_BLOCKS / 16) * 16;
  const bounds = [0];
  while (bounds[bounds.length - 1]! + size < dim) bounds.push(bounds[bounds.length - 1]! + size);
  bounds.push(dim);
  return bounds;
}

/** Rows per diagonal block of the packed form model files store in f16 and i8 (see {@link storedBlockBounds}). */
const STORED_BLOCK_ROWS = 8;

/**
 * Row bounds of the packed form a model file stores its precision matrices in: the scoring form
 * ({@link packedBlockBounds}) in f32, so a round trip is exact; in f16 and i8, which are lossy anyway, blocks of
 * STORED_BLOCK_ROWS rows, which keep (b + 1) / 2b of the matrix, 0.52 at d = 200 (nearly the upper triangle),
 * for the quadratic form of (A + Aᵀ) / 2, the same in exact arithmetic. Loading expands them ({@link expandPrecisions})
 * and packs them into the scoring form.
 */
export function storedBlockBounds(dim: number, precision: 'f32' | 'f16' | 'i8'): number[] {
  if (precision === 'f32') return packedBlockBounds(dim);
  const bounds: number[] = [];
  for (let r = 0; r < dim; r += STORED_BLOCK_ROWS) bounds.push(r);
  bounds.push(dim);
  return bounds;
}

/** One strip of the packed form: rows [start, end) of the matrix, columns [start, d). */
export interface PackedStrip {
  start: number;
  end: number;
  /** Floats of this strip per matrix: (end − start) · (d − start). */
  size: number;
}

/** The strips of the packed form for the given block bounds and dimension d. */
export function packedStrips(bounds: readonly number[], dim: number): PackedStrip[] {
  const strips: PackedStrip[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = bounds[i]!;
    const end = bounds[i + 1]!;
    strips.push({ start, end, size: (end - start) * (dim - start) });
  }
  return strips;
}

/** Floats per packed matrix. */
export function packedMatrixSize(bounds: readonly number[], dim: number): number {
  return packedStrips(bounds, dim).reduce((sum, s) => sum + s.size, 0);
}

/**
 * Checks that `bounds` are block bounds for dimension d: integers rising strictly from 0 to d.
 * @returns a description of the problem, or null
 */
export function invalidBlockBounds(bounds: unknown, dim: number): string | null {
  if (!Array.isArray(bounds) || bounds.length < 2) return 'not a list of at least two row bounds';
  if (bounds[0] !== 0 || bounds[bounds.length - 1] !== dim) return `does not run from 0 to d = ${dim}`;
  for (let i = 1; i < bounds.length; i++) {
    if (!Number.isSafeInteger(bounds[i]) || (bounds[i] as number) <= (bounds[i - 1] as number)) return `bound ${String(bounds[i])} does not rise`;
  }
  return null;
}

/**
 * Visits every strip of each of `count` matrices: `full` is the matrix's offset in [count, d, d], `strip` the
 * strip's offset in the packed layout (its row r at strip + (r − start)·(d − start)), [start, end) its rows.
 */
function forEachStrip(count: number, dim: number, bounds: readonly number[], visit: (full: number, strip: number, start: number, end: number) => void): void {
  let base = 0;
  for (const { start, end, size } of packedStrips(bounds, dim)) {
    for (let m = 0; m < count; m++) visit(m * dim * dim, base + m * size, start, end);
    base += count * size;
  }
}

/** Side of the tiles in which packing reads the mirrored blocks: 16 measured fastest against 32 and 64. */
const PACKING_TILE = 16;

/**
 * Packs `count` matrices [count, d, d] into the layout of `bounds`. With one block the matrices are returned
 * as they are (the same array).
 */
export function packPrecisions(full: Float32Array, count: number, dim: number, bounds: readonly number[] = packedBlockBounds(dim)): Float32Array {
  if (bounds.length === 2) return full;
  const out = new Float32Array(count * packedMatrixSize(bounds, dim));
  // Each strip row is copied whole (A_rc from the diagonal on), then the mirrored A_cr of the blocks right of
  // the diagonal are added. Those are column reads, so they go in tiles that stay in cache: read one value at a
  // time, a chunk of 221 matrices at d = 550 took 210–500 ms; in tiles 133–160 ms.
  forEachStrip(count, dim, bounds, (a, strip, start, end) => {
    const width = dim - start;
    for (let r = start; r < end; r++) out.set(full.subarray(a + r * dim + start, a + (r + 1) * dim), strip + (r - start) * width);
    for (let c0 = end; c0 < dim; c0 += PACKING_TILE) {
      const c1 = Math.min(dim, c0 + PACKING_TILE);
      for (let r0 = start; r0 < end; r0 += PACKING_TILE) {
        const r1 = Math.min(end, r0 + PACKING_TILE);
        for (let r = r0; r < r1; r++) {
          const row = strip + (r - start) * width - start; // out[row + c] holds A_rc
          for (let c = c0; c < c1; c++) out[row + c]! += full[a + c * dim + r]!;
        }
      }
    }
  });
  return out;
}

/**
 * The full symmetric matrices [count, d, d] of `count` packed ones: off-diagonal blocks halved and mirrored
 * (exact, and packing the result gives back the same packed values).
 */
export function unpackPrecisions(packed: Float32Array, count: number, dim: number, bounds: readonly number[] = packedBlockBounds(dim)): Float32Array {
  if (bounds.length === 2) return packed;
  const out = new Float32Array(count * dim * dim);
  forEachStrip(count, dim, bounds, (a, strip, start, end) => {
    for (let r = start; r < end; r++) {
      const row = strip + (r - start) * (dim - start) - start; // packed[row + c] holds column c of row r
      for (let c = start; c < end; c++) out[a + r * dim + c] = packed[row + c]!;
      for (let c = end; c < dim; c++) {
        const half = packed[row + c]! / 2;
        out[a + r * dim + c] = half;
        out[a + c * dim + r] = half;
      }
    }
  });
  return out;
}

/** Steps each side of zero of an int8 stored value: q in [−127, 127] (−128 unused, so the range is symmetric). */
const INT8_STEPS = 127;

/**
 * Packed matrices (any `bounds`) in int8 with one scale per matrix row: row r of matrix m keeps q = round(v / s)
 * with s = max |v| / 127 over that row's packed values (`scales[m·d + r]`, float32), and v is read back as q·s.
 * Each value is off by at most s / 2; a quadratic form yᵀAy by at most (s_max / 2)·‖y‖₁², and in practice, with
 * independent rounding, by about s/√12 · ‖y‖₂² (0.2 % of a form dominated by its diagonal): docs/speed.md
 * gives the measured effect on the scores.
 */
export function quantisePrecisions(packed: Float32Array, count: number, dim: number, bounds: readonly number[]): { values: Int8Array; scales: Float32Array } {
  const values = new Int8Array(packed.length);
  const scales = new Float32Array(count * dim);
  forEachStrip(count, dim, bounds, (a, strip, start, end) => {
    const width = dim - start;
    const m = a / (dim * dim);
    for (let r = start; r < end; r++) {
      const from = strip + (r - start) * width;
      let max = 0;
      for (let c = 0; c < width; c++) max = Math.max(max, Math.abs(packed[from + c]!));
      const scale = Math.fround(max / INT8_STEPS);
      scales[m * dim + r] = scale;
      if (scale === 0) continue; // a zero row stays zero
      for (let c = 0; c < width; c++) values[from + c] = Math.max(-INT8_STEPS, Math.min(INT8_STEPS, Math.round(packed[from + c]! / scale)));
    }
  });
  return { values, scales };
}

/**
 * The `count` stored packed matrices `packed` (in the blocks `bounds`: float32, binary16 bit patterns of a model
 * file's F16, or int8 with a scale per row, {@link quantisePrecisions}) packed again in `outBounds`, [0, d] by
 * default: full d×d matrices. Into blocks no finer than the stored ones (each bound of `outBounds` one of
 * `bounds`), each stored row is written into its out row from its own strip's start on, converted on the way (int8
 * values times their row's scale), with zeros left of it inside the out strip: the result is block upper
 * triangular inside each out strip and has the stored matrices' quadratic forms (the packed form's sum, see the
 * file comment), and packing it again in `bounds` gives the stored values back bit for bit. Into finer blocks it
 * goes through the full matrices (packPrecisions). This is how a model is loaded in form 'expanded' (the default),
 * and how older float32 files and a model saved in another storage than it was loaded from are read.
 * @returns `packed` itself when it already is float32 in `outBounds`
 */
export function expandPrecisions(
  packed: Float32Array | Uint16Array | Int8Array,
  count: number,
  dim: number,
  bounds: readonly number[],
  scales?: Float32Array,
  outBounds: readonly number[] = [0, dim],
): Float32Array {
  const int8 = packed instanceof Int8Array;
  if (int8 && scales === undefined) throw new RangeError('int8 precision matrices need their row scales');
  if (int8 && scales!.length !== count * dim) throw new RangeError(`${scales!.length} int8 row scales for ${count} matrices of ${dim} rows`);
  if (packed instanceof Float32Array && bounds.length === outBounds.length && bounds.every((b, i) => b === outBounds[i])) return packed;
  if (!outBounds.every((b) => bounds.includes(b))) return packPrecisions(expandPrecisions(packed, count, dim, bounds, scales), count, dim, outBounds);
  const outStrips = packedStrips(outBounds, dim);
  const out = new Float32Array(count * packedMatrixSize(outBounds, dim));
  const outBase: number[] = [];
  outStrips.reduce((base, s) => (outBase.push(base), base + count * s.size), 0);
  // F16 rows go through the conversion table into out's bits, with no view made per row (1.25 M rows in a model).
  const bits = packed instanceof Uint16Array ? new Int32Array(out.buffer) : null;
  const table = bits ? halfTable() : null;
  let j = 0;
  let storedBase = 0;
  for (const { start, end, size } of packedStrips(bounds, dim)) {
    while (outStrips[j]!.end <= start) j++;
    const o = outStrips[j]!;
    const width = dim - start;
    const outWidth = dim - o.start;
    for (let m = 0; m < count; m++) {
      for (let r = start; r < end; r++) {
        const from = storedBase + m * size + (r - start) * width;
        const to = outBase[j]! + m * o.size + (r - o.start) * outWidth + (start - o.start);
        if (int8) scaleRow(out, to, packed, from, width, scales![m * dim + r]!);
        else if (bits) halfRow(bits, to, packed as Uint16Array, from, width, table!);
        else copyRow(out, to, packed as Float32Array, from, width);
      }
    }
    storedBase += count * size;
  }
  return out;
}

// One loop per stored type, each kept monomorphic.
function scaleRow(out: Float32Array, to: number, stored: Int8Array, from: number, width: number, scale: number): void {
  for (let c = 0; c < width; c++) out[to + c] = stored[from + c]! * scale;
}
function halfRow(bits: Int32Array, to: number, stored: Uint16Array, from: number, width: number, table: Int32Array): void {
  for (let c = 0; c < width; c++) bits[to + c] = table[stored[from + c]!]!;
}
function copyRow(out: Float32Array, to: number, stored: Float32Array, from: number, width: number): void {
  for (let c = 0; c < width; c++) out[to + c] = stored[from + c]!;
}

/**
 * Precision matrices as a model file stores them in f16 or i8 (`--storage`): packed in `bounds`, as binary16 bit
 * patterns, or as int8 values with a float32 scale per matrix row ([count, d], {@link quantisePrecisions}).
 * A model loaded in form 'stored' (method/types.ts LoadedForm) is scored from them as they are from d = 150 on
 * ({@link scoredAsStored}), a run of positions converted at a time inside the graph (kernels.ts), rather than from a
 * float32 copy 4 (f16) to 8 (i8) times their size: loading the bottle model's i8 matrices into float32 took 1.5–1.9 s
 * and 1 GiB, nearly all of it the page faults of that fresh memory (docs/speed.md).
 */
export interface StoredPrecisions {
  values: Uint16Array | Int8Array;
  /** int8 values' row scales; null for binary16 */
  scales: Float32Array | null;
  bounds: readonly number[];
}

/**
 * Smallest d whose stored matrices are scored as stored. Below it a run's strips are too small for their MatMuls
 * to pay (K = 1, 3136 positions, i8 against float32 already expanded: d = 100 43–56 against 7–16 ms, d = 128 31
 * against 22–23 ms; d = 150 35–68 against 35–50 ms; at d = 200 and 550 as fast or faster), and the float32 copy is
 * small (d = 100: 125 MB for a 56 × 56 grid), so loading expands them.
 */
const STORED_SCORING_MIN_DIM = 150;

/** True when matrices of dimension d stored in f16 or i8 are scored as stored in a model loaded in form 'stored'. */
export function scoredAsStored(dim: number): boolean {
  return dim >= STORED_SCORING_MIN_DIM;
}

/** One chunk of a grid's precision matrices: float32 in the scoring form ({@link packedBlockBounds}), or as stored. */
export type PrecisionChunk = Float32Array | StoredPrecisions;

/**
 * Views of the strips of positions first … first+n−1 of `count` packed matrices, each with its shape
 * [n, end − start, d − start].
 */
export function stripViews<T extends Float32Array | Uint16Array | Int8Array>(packed: T, count: number, dim: number, first: number, n: number, bounds: readonly number[] = packedBlockBounds(dim)): { data: T; dims: number[] }[] {
  const views: { data: T; dims: number[] }[] = [];
  let base = 0;
  for (const { start, end, size } of packedStrips(bounds, dim)) {
    views.push({ data: packed.subarray(base + first * size, base + (first + n) * size) as T, dims: [n, end - start, dim - start] });
    base += count * size;
  }
  return views;
}

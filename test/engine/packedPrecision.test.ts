import test from 'node:test';
import assert from 'node:assert/strict';
import {
  expandPrecisions,
  invalidBlockBounds,
  packPrecisions,
  packedBlockBounds,
  packedMatrixSize,
  quantisePrecisions,
  stripViews,
  unpackPrecisions,
} from '../../src/engine/packedPrecision.js';
import { seededRandom } from '../../src/util/random.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/tensorfile/safetensors.js';

/** yᵀ A y in float64, the plain way. */
function quadraticForm(a: Float32Array, y: Float64Array, d: number): number {
  let s = 0;
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) s += y[r]! * a[r * d + c]! * y[c]!;
  return s;
}

/** yᵀ A y read from one packed matrix: Σ_i y_iᵀ · strip_i · y_{o_i…d}. */
function packedQuadraticForm(packed: Float32Array, count: number, m: number, y: Float64Array, d: number, bounds: number[]): number {
  let s = 0;
  stripViews(packed, count, d, m, 1, bounds).forEach(({ data }, i) => {
    const o = bounds[i]!;
    const width = d - o;
    for (let r = o; r < bounds[i + 1]!; r++) for (let c = o; c < d; c++) s += y[r]! * data[(r - o) * width + c - o]! * y[c]!;
  });
  return s;
}

test('block bounds: one block below d = 384, four blocks of a multiple of 16 rows from there on', () => {
  assert.deepEqual(packedBlockBounds(200), [0, 200]);
  assert.deepEqual(packedBlockBounds(384), [0, 96, 192, 288, 384]);
  assert.deepEqual(packedBlockBounds(550), [0, 144, 288, 432, 550]);
  // 0.625 of the dense matrix at d = 384: (b + 1) / 2b with b = 4.
  assert.equal(packedMatrixSize(packedBlockBounds(384), 384), 0.625 * 384 * 384);
});

test('packing keeps the quadratic form, also of a matrix that is not quite symmetric', () => {
  const random = seededRandom(11);
  const d = 7;
  const bounds = [0, 3, 5, 7];
  const count = 3;
  const full = Float32Array.from({ length: count * d * d }, () => random() - 0.5);
  const packed = packPrecisions(full, count, d, bounds);
  assert.equal(packed.length, count * (3 * 7 + 2 * 4 + 2 * 2));
  for (let m = 0; m < count; m++) {
    const y = Float64Array.from({ length: d }, () => random() * 2 - 1);
    const want = quadraticForm(full.subarray(m * d * d, (m + 1) * d * d), y, d);
    assert.ok(Math.abs(packedQuadraticForm(packed, count, m, y, d, bounds) - want) < 1e-6, `matrix ${m}`);
  }
});

test('unpacking gives back a symmetric matrix exactly, and packing it again the same packed values', () => {
  const random = seededRandom(12);
  const d = 9;
  const bounds = [0, 4, 8, 9];
  const count = 2;
  const full = new Float32Array(count * d * d);
  for (let m = 0; m < count; m++) for (let r = 0; r < d; r++) for (let c = r; c < d; c++) full[m * d * d + r * d + c] = full[m * d * d + c * d + r] = random() - 0.5;
  const packed = packPrecisions(full, count, d, bounds);
  assert.deepEqual(unpackPrecisions(packed, count, d, bounds), full);
  // A not-quite-symmetric matrix unpacks to its symmetric part, which packs to the same values.
  const skewed = full.map((v, i) => v + (i % 5) * 1e-3);
  const once = packPrecisions(skewed, count, d, bounds);
  assert.deepEqual(packPrecisions(unpackPrecisions(once, count, d, bounds), count, d, bounds), once);
});

test('expanding gives block upper-triangular matrices with the same quadratic forms, from float32 or binary16, that pack back bit for bit', () => {
  const random = seededRandom(13);
  const d = 11;
  const bounds = [0, 3, 8, 11];
  const count = 3;
  const full = Float32Array.from({ length: count * d * d }, () => random() - 0.5);
  const packed = packPrecisions(full, count, d, bounds);
  const half = float32ToFloat16Bits(packed);
  for (const source of [packed, half]) {
    const values = source instanceof Float32Array ? source : float16BitsToFloat32(source);
    const upper = expandPrecisions(source, count, d, bounds);
    assert.deepEqual(packPrecisions(upper, count, d, bounds), values);
    for (let m = 0; m < count; m++) {
      const a = upper.subarray(m * d * d, (m + 1) * d * d);
      // Zero left of each diagonal block.
      for (let i = 0; i + 1 < bounds.length; i++) for (let r = bounds[i]!; r < bounds[i + 1]!; r++) for (let c = 0; c < bounds[i]!; c++) assert.equal(a[r * d + c], 0);
      const y = Float64Array.from({ length: d }, () => random() * 2 - 1);
      const want = packedQuadraticForm(values, count, m, y, d, bounds);
      assert.ok(Math.abs(quadraticForm(a, y, d) - want) < 1e-9, `matrix ${m}`);
    }
  }
  // Packed again in other blocks (the scoring form's), the quadratic forms still hold.
  const upper = expandPrecisions(packed, count, d, bounds);
  const other = [0, 5, 11];
  const repacked = packPrecisions(upper, count, d, other);
  const y = Float64Array.from({ length: d }, () => random() * 2 - 1);
  assert.ok(Math.abs(packedQuadraticForm(repacked, count, 1, y, d, other) - quadraticForm(full.subarray(d * d, 2 * d * d), y, d)) < 1e-5);
  // One block: the values themselves (converted from binary16).
  assert.equal(expandPrecisions(full, count, d, [0, d]), full);
  assert.deepEqual(expandPrecisions(float32ToFloat16Bits(full), count, d, [0, d]), float16BitsToFloat32(float32ToFloat16Bits(full)));
});

test('int8 with a scale per row: every value within half a step of its row, read back as q·scale; a zero row stays zero', () => {
  const random = seededRandom(17);
  const d = 11;
  const bounds = [0, 3, 8, 11];
  const count = 3;
  const full = new Float32Array(count * d * d);
  for (let m = 0; m < count; m++) for (let r = 0; r < d; r++) for (let c = r; c < d; c++) full[m * d * d + r * d + c] = full[m * d * d + c * d + r] = r === c ? 30 + 20 * random() : (random() - 0.5) * 5; // diagonally dominant: positive definite, as precisions are
  for (let c = 0; c < d; c++) full[2 * d * d + 4 * d + c] = full[2 * d * d + c * d + 4] = 0; // matrix 2, row 4: zeros
  const packed = packPrecisions(full, count, d, bounds);
  const { values, scales } = quantisePrecisions(packed, count, d, bounds);
  assert.equal(scales[2 * d + 4], 0);
  const upper = expandPrecisions(values, count, d, bounds, scales);
  const back = packPrecisions(upper, count, d, bounds); // the dequantised values in the packed layout
  let k = 0;
  for (const { start, end } of [{ start: 0, end: 3 }, { start: 3, end: 8 }, { start: 8, end: 11 }]) {
    for (let m = 0; m < count; m++) {
      for (let r = start; r < end; r++) {
        const step = scales[m * d + r]!;
        let max = 0;
        for (let c = start; c < d; c++, k++) {
          max = Math.max(max, Math.abs(packed[k]!));
          assert.ok(Math.abs(back[k]! - packed[k]!) <= step / 2 + 1e-6, `matrix ${m} row ${r}: ${back[k]} for ${packed[k]}`);
          assert.equal(back[k], Math.fround(values[k]! * step));
        }
        assert.ok(Math.abs(step * 127 - max) <= max * 1e-6, `the scale of row ${r} is its max / 127`);
        assert.ok(Math.max(...values.subarray(k - (d - start), k).map(Math.abs)) <= 127);
      }
    }
  }
  // The quadratic forms move by little: here within 1 % (each value within half a step of 1/127 of its row's max).
  // (Row 4 of matrix 2 is zero, so that matrix is only semi-definite; its form is still dominated by the diagonal.)
  for (let m = 0; m < count; m++) {
    const y = Float64Array.from({ length: d }, () => random() * 2 - 1);
    const want = quadraticForm(full.subarray(m * d * d, (m + 1) * d * d), y, d);
    const got = quadraticForm(upper.subarray(m * d * d, (m + 1) * d * d), y, d);
    assert.ok(Math.abs(got - want) <= 0.01 * Math.abs(want) + 1e-9, `matrix ${m}: ${got} against ${want}`);
  }
  assert.throws(() => expandPrecisions(values, count, d, bounds, scales.subarray(1)), /32 int8 row scales for 3 matrices of 11 rows/);
});

test('one block is the full matrix itself', () => {
  const full = Float32Array.from({ length: 2 * 4 * 4 }, (_, i) => i);
  assert.equal(packPrecisions(full, 2, 4, [0, 4]), full);
  assert.equal(unpackPrecisions(full, 2, 4, [0, 4]), full);
  const [view] = stripViews(full, 2, 4, 1, 1, [0, 4]);
  assert.deepEqual(view!.dims, [1, 4, 4]);
  assert.deepEqual(Array.from(view!.data), Array.from(full.subarray(16, 32)));
});

test('block bounds from a file are checked', () => {
  assert.equal(invalidBlockBounds([0, 96, 192, 288, 384], 384), null);
  assert.match(invalidBlockBounds([0, 100], 384)!, /from 0 to d = 384/);
  assert.match(invalidBlockBounds([0, 200, 100, 384], 384)!, /does not rise/);
  assert.match(invalidBlockBounds('full', 384)!, /not a list/);
});

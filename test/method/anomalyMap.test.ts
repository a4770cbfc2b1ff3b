import test from 'node:test';
import assert from 'node:assert/strict';
import { anomalyMaps, bilinearMatrix, gaussianMatrix, gaussianSmooth, upsampleBilinear } from '../../src/method/parts/anomalyMap.js';
import { aggregateShiftedMaps } from '../../src/method/npad/shifting.js';
import { seededRandom } from '../../src/util/random.js';

/** The plain per-map path: upsample each copy, combine the aligned copies, smooth. */
function plainMap(grids: Float32Array, m: number, copies: number, h: number, w: number, size: number, sigma: number, how: 'min' | 'mean'): Float32Array {
  const maps = Array.from({ length: copies }, (_, v) => upsampleBilinear(grids.subarray((m * copies + v) * h * w, (m * copies + v + 1) * h * w), h, w, size, size));
  const merged = copies === 1 ? maps[0]! : aggregateShiftedMaps(maps, maps.map(() => ({ dx: 0, dy: 0 })), size, how);
  return gaussianSmooth(merged, size, size, sigma);
}

for (const [copies, how, sigma, h, w] of [[1, 'min', 4, 8, 8], [3, 'min', 4, 6, 8], [3, 'mean', 2, 8, 6], [2, 'min', 0, 8, 8]] as const) {
  test(`batched anomaly maps equal the plain functions (${copies} copies by ${how}, σ = ${sigma}, ${h}×${w} grid)`, async () => {
    const random = seededRandom(7);
    const images = 3;
    const size = 32;
    const grids = Float32Array.from({ length: images * copies * h * w }, () => random() * 10);
    const maps = await anomalyMaps(grids, images, copies, h, w, size, sigma, how);
    assert.equal(maps.length, images * size * size);
    for (let m = 0; m < images; m++) {
      const want = plainMap(grids, m, copies, h, w, size, sigma, how);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(maps[m * size * size + i]! - want[i]!) < 1e-5 * (1 + Math.abs(want[i]!)), `image ${m} pixel ${i}: ${maps[m * size * size + i]} vs ${want[i]}`);
    }
  });
}

test('the operator matrices keep constants constant (rows sum to 1)', () => {
  for (const m of [bilinearMatrix(7, 30), gaussianMatrix(30, 4)]) {
    const n = m.length / 30;
    for (let r = 0; r < 30; r++) {
      let s = 0;
      for (let c = 0; c < n; c++) s += m[r * n + c]!;
      assert.ok(Math.abs(s - 1) < 1e-6);
    }
  }
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { anomalyMaps, bilinearMatrix, gaussianMatrix, gaussianSmooth, upsampleBilinear } from '../../src/method/parts/anomalyMap.js';
import { aggregateShiftedMaps } from '../../src/method/npad/shifting.js';
import { seededRandom } from '../../src/util/random.js';

/** The plain per-map path: upsample each copy to H × W, combine the aligned copies, smooth. */
function plainMap(grids: Float32Array, m: number, copies: number, h: number, w: number, H: number, W: number, sigma: number, how: 'min' | 'mean'): Float32Array {
  const maps = Array.from({ length: copies }, (_, v) => upsampleBilinear(grids.subarray((m * copies + v) * h * w, (m * copies + v + 1) * h * w), h, w, H, W));
  let merged = maps[0]!;
  if (copies > 1 && H === W) merged = aggregateShiftedMaps(maps, maps.map(() => ({ dx: 0, dy: 0 })), H, how);
  else if (copies > 1) merged = merged.map((_, i) => (how === 'min' ? Math.min(...maps.map((c) => c[i]!)) : maps.reduce((a, c) => a + c[i]!, 0) / copies));
  return gaussianSmooth(merged, H, W, sigma);
}

// The last two cases are rectangular network inputs (the whole image at its aspect ratio).
for (const [copies, how, sigma, h, w, H, W] of [[1, 'min', 4, 8, 8, 32, 32], [3, 'min', 4, 6, 8, 32, 32], [3, 'mean', 2, 8, 6, 32, 32], [2, 'min', 0, 8, 8, 32, 32], [1, 'min', 4, 6, 10, 24, 40], [2, 'mean', 2, 10, 6, 40, 24]] as const) {
  test(`batched anomaly maps equal the plain functions (${copies} copies by ${how}, σ = ${sigma}, ${h}×${w} grid to ${H}×${W})`, async () => {
    const random = seededRandom(7);
    const images = 3;
    const grids = Float32Array.from({ length: images * copies * h * w }, () => random() * 10);
    const maps = await anomalyMaps(grids, images, copies, h, w, H, W, sigma, how);
    assert.equal(maps.length, images * H * W);
    for (let m = 0; m < images; m++) {
      const want = plainMap(grids, m, copies, h, w, H, W, sigma, how);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(maps[m * H * W + i]! - want[i]!) < 1e-5 * (1 + Math.abs(want[i]!)), `image ${m} pixel ${i}: ${maps[m * H * W + i]} vs ${want[i]}`);
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

import test from 'node:test';
import assert from 'node:assert/strict';
import { averageNeighbourhood } from '../../src/method/parts/aggregate.js';
import { seededRandom } from '../../src/util/random.js';

/** The window average by its definition: the mean of the in-grid positions within radius r (Chebyshev). */
function plainAverage(features: Float32Array, planes: number, h: number, w: number, r: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let m = 0; m < planes; m++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0;
        let n = 0;
        for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) {
          for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) {
            sum += features[m * h * w + yy * w + xx]!;
            n++;
          }
        }
        out[m * h * w + y * w + x] = sum / n;
      }
    }
  }
  return out;
}

for (const radius of [0, 1, 2]) {
  test(`aggregated features average each window, borders clipped (radius ${radius})`, async () => {
    const random = seededRandom(3 + radius);
    const [B, d, h, w] = [3, 5, 7, 9];
    const features = Float32Array.from({ length: B * d * h * w }, () => random() * 4 - 2);
    const got = await averageNeighbourhood(features, B, d, h, w, radius);
    const want = plainAverage(features, B * d, h, w, radius);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6, `value ${i}: ${got[i]} vs ${want[i]}`);
  });
}

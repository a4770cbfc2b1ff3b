/**
 * Module D in feature space against its definition: scoring the feature grid moved by whole cells, copy by copy
 * (what image-space shifting does when the backbone is exactly shift-equivariant), then moving each copy's
 * scores back onto the original grid, must give the same pixel scores wherever the copy covers the grid.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { inferenceOffsets, scoreShiftedFeatures, shiftsInCells } from '../../src/method/npad/featureShifts.js';
import type { GaussianGrid } from '../../src/method/parts/gaussians.js';
import { squareNeighbourhoods } from '../../src/method/npad/neighbourhood.js';
import { DEFAULT_NPAD_OPTIONS, validateNpadOptions, type NpadOptions } from '../../src/method/npad/options.js';
import { scoreFeatures, type ScoringModel } from '../../src/method/npad/gridScores.js';
import { shiftsFor } from '../../src/method/npad/shifting.js';
import { seededRandom } from '../../src/util/random.js';

const H = 6, W = 7, P = H * W, d = 3;

function randomGrid(random: () => number, chunkSize: number): GaussianGrid {
  const means = Float32Array.from({ length: P * d }, () => random() - 0.5);
  const precisions: Float32Array[] = [];
  for (let p0 = 0; p0 < P; p0 += chunkSize) {
    const n = Math.min(chunkSize, P - p0);
    const chunk = new Float32Array(n * d * d);
    for (let i = 0; i < n; i++) {
      // L Lᵀ + I: symmetric positive definite.
      const L = Array.from({ length: d * d }, () => random() - 0.5);
      for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) {
        let v = r === c ? 1 : 0;
        for (let k = 0; k < d; k++) v += L[r * d + k]! * L[c * d + k]!;
        chunk[i * d * d + r * d + c] = v;
      }
    }
    precisions.push(chunk);
  }
  return { positions: P, dim: d, chunkSize, means, precisions };
}

/** Channel-major grid [d, P] moved by σ cells: cell p′ holds f(p′ + σ); cells with nothing to hold get 0. */
function moved(f: Float32Array, sx: number, sy: number): Float32Array {
  const out = new Float32Array(d * P);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const ox = x + sx, oy = y + sy;
    if (ox < 0 || ox >= W || oy < 0 || oy >= H) continue;
    for (let c = 0; c < d; c++) out[c * P + y * W + x] = f[c * P + oy * W + ox]!;
  }
  return out;
}

test('shifting in feature space equals scoring moved grids, where they cover the grid', async () => {
  const random = seededRandom(11);
  const model: ScoringModel = {
    height: H, width: W, dim: d,
    weighted: randomGrid(random, 16),
    aggregated: randomGrid(random, 16),
    centroids: Float32Array.from({ length: 4 * d }, () => random() - 0.5),
    centroidCount: 4,
  };
  // Aggregation radius 0: module B's features are then per-cell too, so moving the grid moves them exactly.
  const opts: NpadOptions = { ...DEFAULT_NPAD_OPTIONS, dim: d, aggregationRadius: 0, shiftSpace: 'features', topK: 3 };
  validateNpadOptions(opts);
  const features = Float32Array.from({ length: 2 * d * P }, () => random() - 0.5);
  const shifts = shiftsFor(opts);
  const cells = shiftsInCells(shifts, 4);
  const fast = await scoreShiftedFeatures(model, features, 2, opts, shifts, 4);
  const hood = squareNeighbourhoods(H, W, opts.inferenceRadius, opts.neighbourhoodShape);
  for (let m = 0; m < 2; m++) {
    for (let v = 0; v < shifts.length; v++) {
      const { dx, dy } = cells[v]!;
      const copy = moved(features.subarray(m * d * P, (m + 1) * d * P), dx, dy);
      const slow = await scoreFeatures(model, copy, 1, opts, hood);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        // Original cell (x, y) is the copy's cell (x − σx, y − σy).
        const cx = x - dx, cy = y - dy;
        if (cx < 0 || cx >= W || cy < 0 || cy >= H) continue;
        // The copy's own cell must hold real content for its module C minimum to match (its neighbours' Gaussians do not need it).
        const got = fast.pixel[(m * shifts.length + v) * P + y * W + x]!;
        const want = slow.pixel[cy * W + cx]!;
        assert.ok(Math.abs(got - want) < 1e-4 * Math.max(1, want), `image ${m} copy ${v} cell (${x}, ${y}): ${got} vs ${want}`);
      }
    }
  }
  // Copy 0 is the unshifted grid: its image score is scoreFeatures' on the same features.
  const plain = await scoreFeatures(model, features, 2, { ...opts, moduleD: false }, hood);
  for (let m = 0; m < 2; m++) assert.ok(Math.abs(fast.image[m * shifts.length]! - plain.image[m]!) < 1e-6 * plain.image[m]!);
});

test('feature-space shifting needs whole cells', () => {
  assert.deepEqual(shiftsInCells([{ dx: 0, dy: 0 }, { dx: -8, dy: 4 }], 4), [{ dx: 0, dy: 0 }, { dx: -2, dy: 1 }]);
  assert.throws(() => shiftsInCells([{ dx: 2, dy: 0 }], 4), /multiples of the grid stride \(4 px\)/);
  assert.throws(() => validateNpadOptions({ ...DEFAULT_NPAD_OPTIONS, shiftSpace: 'features', shiftMax: 6 }), /shiftMax must be a multiple of 4/);
  assert.throws(() => validateNpadOptions({ ...DEFAULT_NPAD_OPTIONS, shiftSpace: 'features', shiftSteps: 'all' }), /shiftSteps 'max'/);
  assert.equal(inferenceOffsets(DEFAULT_NPAD_OPTIONS).length, 9);
  assert.equal(inferenceOffsets({ ...DEFAULT_NPAD_OPTIONS, neighbourhoodShape: 'cross' }).length, 5);
  assert.deepEqual(inferenceOffsets({ ...DEFAULT_NPAD_OPTIONS, moduleC: false }), [{ dx: 0, dy: 0 }]);
});

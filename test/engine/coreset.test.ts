/**
 * The approximate greedy coreset against a brute-force plain-TypeScript k-center (float64 distances computed
 * directly), step by step: the ONNX distance rows and the candidate batching must not change the selection order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  approximateGreedyCoreset,
  coresetSize,
  distancesLessCentreNorms,
  greedyKCenter,
  projectRows,
  randomProjection,
  rowSquaredNorms,
} from '../../src/engine/coreset.js';
import { LoweringKernel } from '../../src/engine/loweringKernel.js';
import { sampleWithoutReplacement, seededRandom } from '../../src/util/random.js';

function randomVectors(n: number, d: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  // Clustered data, as patch features are: a few centres plus noise, so farthest points are not all alike.
  const centres = Array.from({ length: 6 }, () => Array.from({ length: d }, () => 4 * random()));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(random() * centres.length)]!;
    for (let j = 0; j < d; j++) x[i * d + j] = c[j]! + (random() - 0.5) * (1 + (i % 3));
  }
  return x;
}

function distance64(x: Float32Array, i: number, j: number, k: number): number {
  let s = 0;
  for (let c = 0; c < k; c++) {
    const diff = x[i * k + c]! - x[j * k + c]!;
    s += diff * diff;
  }
  return Math.sqrt(s);
}

/** The authors' approximate greedy coreset, literally, in float64: mean start distances, then argmax / min updates. */
function bruteForceKCenter(x: Float32Array, n: number, k: number, starts: readonly number[], count: number): number[] {
  const distance = Float64Array.from({ length: n }, (_, i) => starts.reduce((s, j) => s + distance64(x, i, j, k), 0) / starts.length);
  const chosen: number[] = [];
  for (let step = 0; step < count; step++) {
    let best = 0;
    for (let i = 1; i < n; i++) if (distance[i]! > distance[best]!) best = i;
    chosen.push(best);
    for (let i = 0; i < n; i++) distance[i] = Math.min(distance[i]!, distance64(x, i, best, k));
  }
  return chosen;
}

/** x [n, d] · w [d, k] in float64. */
function matmul(x: Float32Array, n: number, d: number, w: Float32Array, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += x[i * d + c]! * w[c * k + j]!;
      out[i * k + j] = s;
    }
  }
  return out;
}

describe('greedy coreset', () => {
  it('selects in the same order as a brute-force k-center', async () => {
    const n = 600;
    const k = 12;
    const x = randomVectors(n, k, 3);
    const starts = [5, 17, 99, 250, 431];
    // 150 members: several distance calls, with candidates that run out and candidates that go unused.
    const got = await greedyKCenter(x, n, k, starts, 150);
    assert.deepEqual([...got], bruteForceKCenter(x, n, k, starts, 150));
    assert.equal(new Set(got).size, 150, 'no member is chosen twice');
  });

  it('projects, draws its starting points and selects like the authors’ sampler', async () => {
    const d = 40;
    const blocks = [randomVectors(300, d, 7), randomVectors(250, d, 8)];
    const opts = { ratio: 0.1, projectionDim: 6, startPoints: 10, seed: 11 };
    const got = await approximateGreedyCoreset(blocks, d, opts);
    // The reference draws from the same seeded stream: the projection first, then the starting points.
    const random = seededRandom(11);
    const w = randomProjection(d, 6, random);
    const all = new Float32Array(550 * d);
    all.set(blocks[0]!);
    all.set(blocks[1]!, 300 * d);
    const projected = matmul(all, 550, d, w, 6);
    const starts = [...sampleWithoutReplacement(550, 10, random)];
    assert.equal(got.length, coresetSize(550, 0.1));
    assert.equal(got.length, 55);
    assert.deepEqual([...got], bruteForceKCenter(projected, 550, 6, starts, 55));
    assert.deepEqual([...(await approximateGreedyCoreset(blocks, d, opts))], [...got], 'same seed, same coreset');
  });

  it('keeps everything at ratio 1 and at least one member at any ratio', async () => {
    const x = randomVectors(30, 4, 1);
    assert.deepEqual([...(await approximateGreedyCoreset([x], 4, { ratio: 1, projectionDim: 128, startPoints: 10, seed: 0 }))], [...Array(30).keys()]);
    assert.equal((await approximateGreedyCoreset([x], 4, { ratio: 0.001, projectionDim: 0, startPoints: 3, seed: 0 })).length, 1);
  });

  it('computes projections and squared distances like plain loops', async () => {
    const n = 70;
    const d = 9;
    const x = randomVectors(n, d, 4);
    const w = randomProjection(d, 5, seededRandom(2));
    const bound = 1 / Math.sqrt(d);
    assert.ok(w.every((v) => Math.abs(v) <= bound), 'PyTorch Linear init range');
    const p = await projectRows([x.subarray(0, 30 * d), x.subarray(30 * d)], d, w, 5);
    const want = matmul(x, n, d, w, 5);
    p.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-4, `projection ${i}`));
    const norms = rowSquaredNorms(x, n, d);
    const partial = await distancesLessCentreNorms(x, norms, n, d, x.slice(3 * d, 5 * d), 2);
    assert.equal(partial.length, 2 * n);
    for (const [r, centre] of [[0, 3], [1, 4]] as const) {
      for (let i = 0; i < n; i++) {
        // ‖x‖² − 2c·x + ‖c‖² in float32 loses ~1e-7 of the norms (so a point's distance to itself is ~1e-3, not 0).
        const squared = partial[r * n + i]! + norms[centre]!;
        const error = Math.abs(squared - distance64(x, centre, i, d) ** 2);
        assert.ok(error < 1e-5 * (norms[i]! + norms[centre]!), `row ${r}, point ${i}: ${squared}`);
      }
    }
  });

  it('lowers the distances and finds the farthest point like a plain loop (WebAssembly SIMD kernel)', () => {
    const random = seededRandom(12);
    for (const n of [1, 3, 4, 7, 1001]) {
      const kernel = new LoweringKernel(n, 3 * n);
      const plain = Float32Array.from({ length: n }, () => Math.round(8 * random()));
      kernel.distance.set(plain);
      // Values on a coarse grid, so that ties (for the lowering and for the farthest point) are common.
      kernel.rows.set(Float32Array.from({ length: 3 * n }, () => Math.round(8 * random()) - 2));
      for (const row of [2, 0, 1]) {
        const norm = 1 + row;
        const got = kernel.lower(row * n, norm);
        let want = 0;
        for (let i = 0; i < n; i++) {
          plain[i] = Math.min(plain[i]!, kernel.rows[row * n + i]! + norm);
          if (plain[i]! > plain[want]!) want = i;
        }
        assert.deepEqual([...kernel.distance], [...plain], `n = ${n}, row ${row}: distances`);
        assert.equal(got, want, `n = ${n}, row ${row}: the first farthest point`);
      }
    }
  });

  it('names bad options', async () => {
    const x = randomVectors(10, 3, 1);
    await assert.rejects(approximateGreedyCoreset([x], 3, { ratio: 0, projectionDim: 0, startPoints: 1, seed: 0 }), /coresetRatio .* got 0/);
    await assert.rejects(approximateGreedyCoreset([x], 3, { ratio: 0.5, projectionDim: -1, startPoints: 1, seed: 0 }), /projectionDim .* got -1/);
    await assert.rejects(approximateGreedyCoreset([x], 3, { ratio: 0.5, projectionDim: 0, startPoints: 0, seed: 0 }), /startPoints .* got 0/);
    await assert.rejects(greedyKCenter(x, 10, 3, [0], 11), /coreset size 11/);
  });
});

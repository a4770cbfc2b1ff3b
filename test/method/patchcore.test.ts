/**
 * PatchCore: the patch feature against a hand-computed case and against a literal plain-TypeScript transcription
 * of the authors' pipeline (unfold → resize every unfolded map → adaptive pooling per stage → stack → pooling),
 * and the detector's fit, save, load and score on a few real bottle images.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../src/detector/config.js';
import { Detector, validateConfig } from '../../src/detector/detector.js';
import { upsampleBilinear } from '../../src/method/parts/anomalyMap.js';
import { type PatchEmbeddingShape, adaptivePoolBins, embedPatches, stageFilters } from '../../src/method/parts/patchEmbedding.js';
import { seededRandom } from '../../src/util/random.js';
import { BOTTLE } from '../sharedData.js';

const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);

/** PyTorch's adaptive_avg_pool1d of one vector: sums in order, divides by the bin length. */
function adaptivePool(x: readonly number[], bins: number): number[] {
  return Array.from({ length: bins }, (_, i) => {
    const start = Math.floor((i * x.length) / bins);
    const end = Math.ceil(((i + 1) * x.length) / bins);
    let s = 0;
    for (let j = start; j < end; j++) s += x[j]!;
    return s / (end - start);
  });
}

/** The authors' `_embed` for one image, literally: returns [P][embedDim]. */
function authorsEmbedding(stages: { data: Float32Array; c: number; h: number; w: number }[], p: number, stageDim: number, embedDim: number): number[][] {
  const r = (p - 1) / 2;
  const { h: H, w: W } = stages[0]!;
  const perStage = stages.map(({ data, c, h, w }) => {
    // Unfold: for each position, C·p² values in (channel, row, column) order, zero outside the map.
    const L = c * p * p;
    const maps = Array.from({ length: L }, (_, e) => {
      const ch = Math.floor(e / (p * p));
      const ky = Math.floor((e % (p * p)) / p) - r;
      const kx = (e % p) - r;
      const m = new Float32Array(h * w);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const yy = y + ky;
          const xx = x + kx;
          m[y * w + x] = yy >= 0 && yy < h && xx >= 0 && xx < w ? data[(ch * h + yy) * w + xx]! : 0;
        }
      }
      // Later stages: each unfolded map resized (bilinear, align_corners=False) to the first stage's grid.
      return h === H && w === W ? m : upsampleBilinear(m, h, w, H, W);
    });
    return Array.from({ length: H * W }, (_, q) => adaptivePool(maps.map((m) => m[q]!), stageDim));
  });
  return Array.from({ length: H * W }, (_, q) => adaptivePool(perStage.flatMap((s) => s[q]!), embedDim));
}

describe('PatchCore patch features', () => {
  it('pools like PyTorch adaptive_avg_pool1d, overlapping bins included', () => {
    assert.deepEqual(adaptivePoolBins(10, 4), [{ start: 0, end: 3 }, { start: 2, end: 5 }, { start: 5, end: 8 }, { start: 7, end: 10 }]);
    // ResNet-50 stage 2: 512 channels × 9 = 4608 values into 1024 bins of 4.5: the centre value falls in two bins.
    const bins = adaptivePoolBins(4608, 1024);
    assert.deepEqual(bins.slice(0, 3), [{ start: 0, end: 5 }, { start: 4, end: 9 }, { start: 9, end: 14 }]);
  });

  it('matches a hand-computed case', async () => {
    // Stage A: one channel [[1, 2], [3, 4]]; stage B: two channels on a 1×1 grid, 5 and −1. p = 3, stageDim 2,
    // embedDim 2. Stage A's 9 unfolded values fall into bins [0, 5) and [4, 9): their mean is the 3×3 sum with
    // the centre counted twice, ÷10; at (0, 0): (2·1 + 2 + 3 + 4) / 10 = 1.1. Stage B: the two channel means of
    // the zero-padded 3×3 window, 5/9 and −1/9, the same at every position after resizing; their mean 2/9.
    const shape: PatchEmbeddingShape = {
      stages: [{ channels: 1, height: 2, width: 2 }, { channels: 2, height: 1, width: 1 }],
      patchSize: 3,
      stageDim: 2,
      embedDim: 2,
      upsample: 'bilinear',
    };
    const r = await embedPatches(shape, [
      { data: Float32Array.from([1, 2, 3, 4]), dims: [1, 1, 2, 2] },
      { data: Float32Array.from([5, -1]), dims: [1, 2, 1, 1] },
    ]);
    assert.equal(r.positions, 4);
    const want = [1.1, 2 / 9, 1.2, 2 / 9, 1.3, 2 / 9, 1.4, 2 / 9];
    r.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-6, `value ${i}: ${v}, expected ${want[i]}`));
  });

  it('equals the authors’ pipeline on random stage maps (batch of 2, uneven bins, a bin across the stages)', async () => {
    const shape = await assertAuthorsEmbedding([{ c: 5, h: 6, w: 6 }, { c: 7, h: 3, w: 3 }], 13, 11, 5);
    // Bins that cross channels leave no groups to split the convolutions by.
    assert.deepEqual(stageFilters(shape).map((f) => f.groups), [1, 1]);
  });

  it('equals the authors’ pipeline where the bins follow the channels (ResNet-50’s layout, grouped convolutions)', async () => {
    // As stage 2 (512 channels) and 3 (1024) into 1024 / 1024: two values per stage-0 channel, one per stage-1
    // channel, then pairs: an embedding value reads one stage-0 channel or two stage-1 channels.
    const shape = await assertAuthorsEmbedding([{ c: 4, h: 6, w: 6 }, { c: 8, h: 3, w: 3 }], 8, 8, 6);
    assert.deepEqual(stageFilters(shape).map((f) => [f.first, f.count, f.groups]), [[0, 4, 4], [4, 4, 4]]);
  });

  it('equals the authors’ pipeline one image per run (a batch larger than a run)', async () => {
    await assertAuthorsEmbedding([{ c: 4, h: 6, w: 6 }, { c: 8, h: 3, w: 3 }], 8, 8, 7, 1);
  });
});

/** Embeds random stage maps of a batch of 2 (in runs of `runBytes`) and checks every value against {@link authorsEmbedding}; returns the shape. */
async function assertAuthorsEmbedding(dims: { c: number; h: number; w: number }[], stageDim: number, embedDim: number, seed: number, runBytes?: number): Promise<PatchEmbeddingShape> {
  const random = seededRandom(seed);
  const shape: PatchEmbeddingShape = {
    stages: dims.map((s) => ({ channels: s.c, height: s.h, width: s.w })),
    patchSize: 3,
    stageDim,
    embedDim,
    upsample: 'bilinear',
  };
  const B = 2;
  const P = dims[0]!.h * dims[0]!.w;
  const maps = dims.map((s) => Float32Array.from({ length: B * s.c * s.h * s.w }, () => 2 * random() - 1));
  const r = await embedPatches(shape, maps.map((data, i) => ({ data, dims: [B, dims[i]!.c, dims[i]!.h, dims[i]!.w] })), runBytes);
  assert.equal(r.data.length, B * P * embedDim);
  for (let b = 0; b < B; b++) {
    const one = dims.map((s, i) => ({ ...s, data: maps[i]!.subarray(b * s.c * s.h * s.w, (b + 1) * s.c * s.h * s.w) }));
    const want = authorsEmbedding(one, 3, stageDim, embedDim);
    for (let q = 0; q < P; q++) {
      for (let e = 0; e < embedDim; e++) {
        const got = r.data[(b * P + q) * embedDim + e]!;
        assert.ok(Math.abs(got - want[q]![e]!) < 1e-5, `image ${b}, position ${q}, value ${e}: ${got} vs ${want[q]![e]}`);
      }
    }
  }
  return shape;
}

describe('PatchCore detector', () => {
  it('fits, saves, loads and scores identically', { skip: !haveData && 'shared bottle data not found' }, async () => {
    const dir = path.join(bottle, 'train', 'good');
    const train = (await readdir(dir)).sort().slice(0, 5).map((f) => path.join(dir, f));
    const probes = ['test/broken_small/000.png', 'test/good/000.png'].map((p) => path.join(bottle, p));
    // Small: 112 px input (a 14×14 patch grid), 64-d features, 10 % of 980 patches.
    const detector = await Detector.fit(train, {
      method: 'patchcore',
      options: { stageDim: 64, embedDim: 64, coresetRatio: 0.1 },
      preprocess: { resize: 128, crop: 112 },
      batchSize: 5,
    });
    assert.equal(detector.config.method, 'patchcore');
    assert.equal(detector.config.featureGrid.upsample, 'bilinear', "the authors' default");
    assert.equal(detector.fitted.method, 'patchcore');
    if (detector.fitted.method !== 'patchcore') return;
    const model = detector.fitted.model;
    assert.deepEqual([model.totalPatches, model.bankSize, model.bank.length], [980, 98, 98 * 64]);
    assert.deepEqual(model.shape.stages, [{ channels: 512, height: 14, width: 14 }, { channels: 1024, height: 7, width: 7 }]);

    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'npad-patchcore-')), 'm.npad');
    await detector.save(file);
    const loaded = await Detector.load(file);
    assert.deepEqual(loaded.config, detector.config);
    const results: { score: number; map: Float32Array; width: number; height: number }[][] = [];
    for (const d of [detector, loaded]) {
      const out: { score: number; map: Float32Array; width: number; height: number }[] = [];
      await d.score(probes, (_i, r) => void out.push(r));
      results.push(out);
    }
    assert.deepEqual(results[1], results[0]);
    const [broken, good] = results[0]!;
    assert.equal(broken!.map.length, 112 * 112);
    assert.ok(broken!.score > good!.score, `broken ${broken!.score} vs good ${good!.score}`);

    // The subspace index saves its basis with the bank and finds the same nearest members: the same scores as the
    // flat search to float32 rounding of its expansion, and the same scores again after a save and a load.
    const subspace = await Detector.fit(train, { ...detector.config, options: { ...detector.config.options, bankSearch: 'subspace' } });
    const subspaceFile = path.join(path.dirname(file), 's.npad');
    await subspace.save(subspaceFile);
    const reloaded = await Detector.load(subspaceFile);
    assert.ok(reloaded.fitted.method === 'patchcore' && reloaded.fitted.model.index.tensors().get('directions')!.length > 0, 'the basis was saved');
    const bySubspace: number[][] = [];
    for (const d of [subspace, reloaded]) {
      const s: number[] = [];
      await d.score(probes, (_i, r) => void s.push(r.score));
      bySubspace.push(s);
    }
    assert.deepEqual(bySubspace[1], bySubspace[0]);
    bySubspace[0]!.forEach((s, i) => assert.ok(Math.abs(s - results[0]![i]!.score) <= 1e-4 * results[0]![i]!.score, `subspace ${s} vs flat ${results[0]![i]!.score}`));

    // The paper's re-weighting scales the same maximum by a weight in (0, 1).
    const reweighted = await Detector.fit(train, { ...detector.config, options: { ...detector.config.options, reweight: true } });
    const scores: number[] = [];
    await reweighted.score(probes, (_i, r) => void scores.push(r.score));
    scores.forEach((s, i) => assert.ok(s > 0 && s < results[0]![i]!.score, `reweighted ${s} vs ${results[0]![i]!.score}`));
  });

  it('names bad options', () => {
    assert.throws(() => validateConfig(resolveConfig({ method: 'patchcore', options: { coresetRatio: 1.5 } })), /coresetRatio must be in \(0, 1\], got 1\.5/);
    assert.throws(() => validateConfig(resolveConfig({ method: 'patchcore', options: { patchSize: 2 } })), /patchSize .* got 2/);
    assert.throws(() => validateConfig(resolveConfig({ method: 'patchcore', options: { patchDistance: 'cosine' as 'squared' } })), /patchDistance .* got cosine/);
    const wrongMethod = { method: 'patchcore', options: { dim: 100 } } as unknown as Parameters<typeof resolveConfig>[0];
    assert.throws(() => validateConfig(resolveConfig(wrongMethod)), /option dim does not apply to method patchcore/);
    assert.doesNotThrow(() => validateConfig(resolveConfig({ method: 'patchcore' })));
  });
});

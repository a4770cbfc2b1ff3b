import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeatureExtractor, buildFeatureGraph } from '../../src/backbone/featureExtractor.js';
import { stagesModel } from '../../src/backbone/stagesModel.js';
import { createSession, runFloat } from '../../src/onnx/session.js';
import { type Tensor4, avgPool, concatChannels, emitPoolStages, maxAbsDiff, poolFeatures, seededRandom, uniform } from './helpers.js';
import type { Backbone } from '../../src/backbone/types.js';

/** The pooling backbone of helpers.ts as a Backbone built in code. */
const poolBackbone: Backbone = {
  id: 'test/pool',
  weightsSha256: '0'.repeat(64),
  stageChannels: [3, 6, 3],
  emitStages: emitPoolStages,
  buildStages: () => {
    throw new Error('not used: the extractor writes emitStages into its own graph');
  },
};

function images(batch: number, size: number, seed: number): Tensor4 {
  return { data: uniform(seededRandom(seed), batch * 3 * size * size, -1, 1), dims: [batch, 3, size, size] };
}

/** Channels `sel` of a [B, C, H, W] tensor, as a JS slice. */
function sliceChannels(t: Float32Array, batch: number, channels: number, plane: number, sel: readonly number[]): Float32Array {
  const out = new Float32Array(batch * sel.length * plane);
  for (let b = 0; b < batch; b++)
    sel.forEach((c, i) => {
      const from = (b * channels + c) * plane;
      out.set(t.subarray(from, from + plane), (b * sel.length + i) * plane);
    });
  return out;
}

describe('feature grid resizing (hand computed)', () => {
  // stage1 4×4 zeros, stage2 2×2 [[0, 1], [2, 3]], stage3 1×1 [5]: the grid's channels 1 and 2 show the resizing.
  async function grid(upsample: 'nearest' | 'bilinear'): Promise<number[][][]> {
    const model = buildFeatureGraph([1, 1, 1], { upsample }, { kind: 'features' }, (g) => [
      g.input('s1', 'float', [1, 1, 4, 4]),
      g.input('s2', 'float', [1, 1, 2, 2]),
      g.input('s3', 'float', [1, 1, 1, 1]),
    ]);
    const session = await createSession(model);
    const r = await runFloat(session, {
      s1: { data: new Float32Array(16), dims: [1, 1, 4, 4] },
      s2: { data: new Float32Array([0, 1, 2, 3]), dims: [1, 1, 2, 2] },
      s3: { data: new Float32Array([5]), dims: [1, 1, 1, 1] },
    });
    await session.release();
    assert.deepEqual(r.out!.dims, [1, 3, 4, 4]);
    const d = [...r.out!.data];
    return [0, 1, 2].map((c) => [0, 1, 2, 3].map((y) => d.slice(c * 16 + y * 4, c * 16 + y * 4 + 4)));
  }

  it('nearest repeats each coarse cell (PaDiM)', async () => {
    const g = await grid('nearest');
    assert.deepEqual(g[0], [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
    assert.deepEqual(g[1], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]);
    assert.deepEqual(g[2], [[5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5]]);
  });

  it('bilinear uses half-pixel centres and clamps at the border (PyTorch align_corners=False)', async () => {
    // Source coordinates (d + 0.5) / 2 − 0.5 = −0.25→0, 0.25, 0.75, 1.25→1: weights 0, 0.25, 0.75, 1 per axis.
    const g = await grid('bilinear');
    assert.deepEqual(g[1], [
      [0, 0.25, 0.75, 1],
      [0.5, 0.75, 1.25, 1.5],
      [1.5, 1.75, 2.25, 2.5],
      [2, 2.25, 2.75, 3],
    ]);
    assert.deepEqual(g[2], [[5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5]]);
  });
});

describe('FeatureExtractor', () => {
  for (const upsample of ['nearest', 'bilinear'] as const) {
    it(`extracts the ${upsample} grid of a backbone built in code`, async () => {
      const fx = await FeatureExtractor.create(poolBackbone, { upsample }, { width: 32, height: 32 });
      assert.deepEqual([fx.channels, fx.gridHeight, fx.gridWidth], [12, 8, 8]);
      const x = images(2, 32, 1);
      const got = await fx.extract(x.data, 2);
      const want = poolFeatures(x, upsample);
      assert.equal(got.length, 2 * 12 * 64);
      assert.ok(maxAbsDiff(got, want.data) < 1e-6);
    });
  }

  it('handles grids that are not powers of two (36 px: 9×9, 4×4, 2×2)', async () => {
    for (const upsample of ['nearest', 'bilinear'] as const) {
      const fx = await FeatureExtractor.create(poolBackbone, { upsample }, { width: 36, height: 36 });
      assert.deepEqual([fx.gridHeight, fx.gridWidth], [9, 9]);
      const x = images(1, 36, 2);
      assert.ok(maxAbsDiff(await fx.extract(x.data, 1), poolFeatures(x, upsample).data) < 1e-6, upsample);
    }
  });

  it('selects channels inside the graph, equal to slicing the full grid', async () => {
    const fx = await FeatureExtractor.create(poolBackbone, { upsample: 'bilinear' }, { width: 32, height: 32 });
    const x = images(3, 32, 3);
    const full = await fx.extract(x.data, 3);
    // Across stages; a whole stage (3..8) with none of stage 3; a single channel.
    for (const sel of [[1, 3, 4, 8, 11], [3, 4, 5, 6, 7, 8], [10]]) {
      const got = await fx.extract(x.data, 3, Int32Array.from(sel));
      assert.deepEqual([...got], [...sliceChannels(full, 3, 12, 64, sel)], `selection ${sel.join(',')}`);
    }
  });

  it('counts positive features per channel like a JS count', async () => {
    const fx = await FeatureExtractor.create(poolBackbone, { upsample: 'nearest' }, { width: 32, height: 32 });
    const x = images(4, 32, 4);
    const full = await fx.extract(x.data, 4);
    const want = new Float64Array(12);
    full.forEach((v, i) => {
      if (v > 0) want[Math.floor(i / 64) % 12]!++;
    });
    assert.deepEqual(await fx.countPositive(x.data, 4), want);
    assert.ok(want.some((v) => v > 0) && want.some((v) => v < 4 * 64), 'the data has both signs');
    // Bilinear resizing counts on the resized grid too; a released count graph is rebuilt on the next call.
    const bilinear = await FeatureExtractor.create(poolBackbone, { upsample: 'bilinear' }, { width: 32, height: 32 });
    const fullBilinear = await bilinear.extract(x.data, 4);
    const wantBilinear = new Float64Array(12);
    fullBilinear.forEach((v, i) => {
      if (v > 0) wantBilinear[Math.floor(i / 64) % 12]!++;
    });
    assert.deepEqual(await bilinear.countPositive(x.data, 4), wantBilinear);
    await bilinear.releaseCountGraph();
    assert.deepEqual(await bilinear.countPositive(x.data, 4), wantBilinear);
  });

  it('returns the raw stage maps on their own grids, built in code or as a stages model', async () => {
    // The same pooling backbone without emitStages goes through its stand-alone stages model (ONNX-file path).
    const asModel: Backbone = { ...poolBackbone, id: 'test/pool-model', emitStages: undefined, buildStages: () => stagesModel(emitPoolStages) };
    const x = images(2, 32, 6);
    const p8 = avgPool(x, 8);
    const want = [avgPool(x, 4), concatChannels([p8, { data: p8.data.map((v) => -v), dims: p8.dims }]), avgPool(x, 16)];
    for (const backbone of [poolBackbone, asModel]) {
      const fx = await FeatureExtractor.create(backbone, { upsample: 'bilinear' }, { width: 32, height: 32 });
      const got = await fx.extractStages(x.data, 2);
      got.forEach((t, i) => {
        assert.deepEqual(t.dims, want[i]!.dims, `${backbone.id} stage ${i + 1}`);
        assert.ok(maxAbsDiff(t.data, want[i]!.data) < 1e-6, `${backbone.id} stage ${i + 1}`);
      });
      await assert.rejects(fx.extractStages(x.data, 3), RangeError);
    }
  });

  it('gives the selected grid and raw stages from one pass, equal to extract and extractStages', async () => {
    const asModel: Backbone = { ...poolBackbone, id: 'test/pool-model-both', emitStages: undefined, buildStages: () => stagesModel(emitPoolStages) };
    const x = images(2, 32, 7);
    const selection = Int32Array.from([0, 4, 9, 11]);
    for (const backbone of [poolBackbone, asModel]) {
      const fx = await FeatureExtractor.create(backbone, { upsample: 'nearest' }, { width: 32, height: 32 });
      const both = await fx.extractWithStages(x.data, 2, selection, [2, 3]);
      assert.deepEqual(both.features, await fx.extract(x.data, 2, selection), `${backbone.id} features`);
      const alone = await fx.extractStages(x.data, 2);
      both.stages.forEach((t, i) => {
        assert.deepEqual(t.dims, alone[i + 1]!.dims, `${backbone.id} stage ${i + 2}`);
        assert.ok(maxAbsDiff(t.data, alone[i + 1]!.data) < 1e-6, `${backbone.id} stage ${i + 2}`);
      });
      await assert.rejects(fx.extractWithStages(x.data, 2, selection, [4]), /expected 1, 2 or 3/);
    }
  });

  it('rejects wrong sizes and bad selections', async () => {
    const fx = await FeatureExtractor.create(poolBackbone, { upsample: 'nearest' }, { width: 32, height: 32 });
    const x = images(1, 32, 5);
    await assert.rejects(fx.extract(x.data, 2), RangeError);
    await assert.rejects(fx.extract(x.data, 1, Int32Array.from([3, 2])), /sorted/);
    await assert.rejects(fx.extract(x.data, 1, Int32Array.from([12])), /out of range/);
    await assert.rejects(fx.countPositive(x.data, 0), RangeError);
    await assert.rejects(FeatureExtractor.create(poolBackbone, { upsample: 'nearest' }, { width: 31.5, height: 31.5 }), RangeError);
  });
});

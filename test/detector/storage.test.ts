import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Detector } from '../../src/detector/detector.js';
import type { DetectorConfigInput } from '../../src/detector/config.js';
import { padimModelFromTensors, padimModelToTensors } from '../../src/method/padim/modelTensors.js';
import { packPrecisions, unpackPrecisions, type StoredPrecisions } from '../../src/engine/packedPrecision.js';
import { loadModel } from '../../src/model/modelFile.js';
import { float16BitsToFloat32 } from '../../src/tensorfile/safetensors.js';
import { BOTTLE } from '../sharedData.js';

const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);

/**
 * Each method, and how close its f16 and i8 scores must stay: within 1 % of each score (maps: 2 % of each pixel),
 * or, for N-pad's fused map, whose values are in units of nominal spreads and cross zero, within an absolute 0.05
 * spread.
 */
const CONFIGS: [string, DetectorConfigInput, number | 'relative'][] = [
  ['npad', { options: { dim: 16, moduleD: false }, batchSize: 4 }, 0.05],
  ['npad with the paper\'s bank', { preset: 'paper', options: { dim: 16, maxCentroids: 16, kmeansSample: 1000, moduleD: false }, batchSize: 4 }, 'relative'],
  ['padim', { method: 'padim', options: { dim: 16 }, batchSize: 4 }, 'relative'],
  ['patchcore', { method: 'patchcore', options: { coresetRatio: 0.05, embedDim: 64 }, batchSize: 4 }, 'relative'],
];

for (const [name, config, tolerance] of CONFIGS) {
  test(`${name}: a model stored in f16 is about half the size, in i8 (Gaussians) about a quarter, and each scores within its rounding`, { skip: !haveData && 'shared bottle data not found' }, async () => {
    const dir = path.join(bottle, 'train', 'good');
    const train = (await readdir(dir)).sort().slice(0, 4).map((f) => path.join(dir, f));
    const probe = path.join(bottle, 'test', 'broken_small', '000.png');
    const detector = await Detector.fit(train, config);
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'npad-f16-'));
    const full = path.join(tmp, 'f32.npad');
    const half = path.join(tmp, 'f16.npad');
    const quarter = path.join(tmp, 'i8.npad');
    await detector.save(full);
    await detector.save(half, { precision: 'f16' });
    await detector.save(quarter, { precision: 'i8' });
    const [sizeFull, sizeHalf, sizeQuarter] = [(await stat(full)).size, (await stat(half)).size, (await stat(quarter)).size];
    assert.ok(sizeHalf < 0.6 * sizeFull, `f16 file ${sizeHalf} B vs f32 ${sizeFull} B`);
    // PatchCore has no precision matrices: its i8 file is its f16 one. N-pad's default keeps a bank in f16 beside them.
    const gaussiansOnly = config.method === 'padim' || config.preset === 'paper';
    if (gaussiansOnly) assert.ok(sizeQuarter < 0.3 * sizeFull, `i8 file ${sizeQuarter} B vs f32 ${sizeFull} B`);
    assert.ok(sizeQuarter <= sizeHalf, `i8 file ${sizeQuarter} B vs f16 ${sizeHalf} B`);
    if (config.method !== 'patchcore') assert.equal((await loadModel(quarter)).header.formatVersion, 4, 'older npad refuses int8 matrices by the version');
    const results: { score: number; map: Float32Array }[] = [];
    for (const file of [full, half, quarter]) await (await Detector.load(file)).score([probe], (_i, r) => void results.push(r));
    // Loaded as stored (N-pad's bank stays in binary16): the scores of the same file loaded expanded, to rounding.
    for (const file of [half, quarter]) await (await Detector.load(file, { form: 'stored' })).score([probe], (_i, r) => void results.push(r));
    for (const b of results.slice(1)) assertClose(results[0]!, b, tolerance);
    assertClose(results[1]!, results[3]!, 1e-3);
    assertClose(results[2]!, results[4]!, 1e-3);
  });
}

/** Scores and maps of the same image from two storages of one model, within `tolerance` (see CONFIGS). */
function assertClose(a: { score: number; map: Float32Array }, b: { score: number; map: Float32Array }, tolerance: number | 'relative'): void {
  if (tolerance === 'relative') {
    assert.ok(Math.abs(a.score - b.score) < 1e-2 * a.score, `scores ${a.score} vs ${b.score}`);
    let worst = 0;
    a.map.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b.map[i]!) / Math.max(1e-6, Math.abs(v)))));
    assert.ok(worst < 2e-2, `largest relative map difference ${worst}`);
  } else {
    assert.ok(Math.abs(a.score - b.score) < tolerance, `scores ${a.score} vs ${b.score}`);
    let worst = 0;
    a.map.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b.map[i]!))));
    assert.ok(worst < tolerance, `largest map difference ${worst}`);
  }
}

test('padim d = 384: precision matrices are saved packed by symmetry, and files of full matrices still load', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const dir = path.join(bottle, 'train', 'good');
  const train = (await readdir(dir)).sort().slice(0, 4).map((f) => path.join(dir, f));
  const probe = path.join(bottle, 'test', 'broken_small', '000.png');
  const d = 384;
  // A 64-pixel crop keeps the grid at 16 × 16 positions (the full 56 × 56 writes a 1.2 GB file).
  const detector = await Detector.fit(train, { method: 'padim', options: { dim: d }, preprocess: { resize: 72, crop: 64 }, batchSize: 4 });
  assert.equal(detector.fitted.method, 'padim');
  if (detector.fitted.method !== 'padim') return;
  const model = detector.fitted.model;
  const { meta, tensors } = padimModelToTensors(model);
  assert.deepEqual(meta.precisionBlocks, [0, 96, 192, 288, 384]);
  const first = tensors.get('gaussian.precision.0')!;
  const count = Math.min(meta.chunkSize, model.height * model.width);
  assert.deepEqual(first.shape, [count, 0.625 * d * d]);

  // A file written before packing: full matrices [chunk, d, d] and no precisionBlocks.
  const old = new Map(tensors);
  for (const [name, t] of tensors) {
    if (!name.startsWith('gaussian.precision.')) continue;
    const n = t.shape[0]!;
    old.set(name, { dtype: 'F32', shape: [n, d, d], data: unpackPrecisions(t.data as Float32Array, n, d) });
  }
  const { precisionBlocks: _dropped, ...oldMeta } = meta;
  const reread = padimModelFromTensors(model.settings, oldMeta, old, 'old.npad');
  reread.gaussians.precisions.forEach((chunk, i) => assert.deepEqual(chunk, model.gaussians.precisions[i]));

  // Saved and loaded, the model scores exactly as before.
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'npad-packed-')), 'padim.npad');
  await detector.save(file);
  // Older npad versions read format 1 only: they refuse this file by its version instead of misreading it.
  assert.equal((await loadModel(file)).header.formatVersion, 2);
  const results: number[] = [];
  for (const dt of [detector, await Detector.load(file)]) await dt.score([probe], (_i, r) => void results.push(r.score));
  assert.equal(results[0], results[1]);
  await rm(path.dirname(file), { recursive: true });
});

test('f16 files keep the precision matrices packed in blocks of 8 rows (about the upper triangle); loaded in form \'stored\' as stored from d = 150 on, expanded otherwise, with the same quadratic forms', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const dir = path.join(bottle, 'train', 'good');
  const train = (await readdir(dir)).sort().slice(0, 4).map((f) => path.join(dir, f));
  for (const d of [64, 160]) {
    const detector = await Detector.fit(train, { method: 'padim', options: { dim: d }, batchSize: 4, preprocess: { mode: 'whole', side: 64 } });
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'npad-tri-')), 'f16.npad');
    await detector.save(file, { precision: 'f16' });
    const { header, tensors } = await loadModel(file);
    const meta = header.config.model as { precisionBlocks: number[]; chunkSize: number; height: number; width: number };
    const blocks = meta.precisionBlocks;
    assert.deepEqual(blocks, Array.from({ length: d / 8 + 1 }, (_, i) => 8 * i));
    // (b + 1) / 2b of the matrix at b blocks.
    const count = Math.min(meta.chunkSize, meta.height * meta.width);
    const b = d / 8;
    assert.equal(tensors.get('gaussian.precision.0')!.data.length, (count * d * d * (b + 1)) / (2 * b));
    const fitted = (detector.fitted.model as { gaussians: { precisions: Float32Array[] } }).gaussians.precisions[0]!;
    const precisionsOf = async (form: 'stored' | 'expanded') => ((await Detector.load(file, { form })).fitted.model as { gaussians: { precisions: (Float32Array | StoredPrecisions)[] } }).gaussians.precisions[0]!;
    assert.ok((await precisionsOf('expanded')) instanceof Float32Array, `d = ${d}: expanded by default`);
    const loaded = await precisionsOf('stored');
    let loadedPacked: Float32Array;
    if (d < 150) {
      // Expanded at load into block upper-triangular matrices that pack to the stored values exactly.
      assert.ok(loaded instanceof Float32Array, `d = ${d}: expanded`);
      loadedPacked = packPrecisions(loaded.subarray(0, count * d * d), count, d, blocks);
      assert.deepEqual(loadedPacked, float16BitsToFloat32(tensors.get('gaussian.precision.0')!.data as Uint16Array));
    } else {
      // Kept as stored: scoring converts them a run at a time.
      assert.ok(!(loaded instanceof Float32Array), `d = ${d}: as stored`);
      assert.deepEqual(loaded.bounds, blocks);
      assert.deepEqual(loaded.values, tensors.get('gaussian.precision.0')!.data);
      loadedPacked = float16BitsToFloat32(loaded.values as Uint16Array);
    }
    // Within f16's rounding of the fitted matrices' packed values: the same quadratic forms.
    const fittedPacked = packPrecisions(fitted.subarray(0, count * d * d), count, d, blocks);
    let worst = 0;
    let largest = 0;
    fittedPacked.forEach((v, i) => {
      largest = Math.max(largest, Math.abs(v));
      worst = Math.max(worst, Math.abs(loadedPacked[i]! - v));
    });
    assert.ok(worst <= 1e-3 * largest, `d = ${d}: largest difference ${worst} against entries up to ${largest}`);
    // Loaded as stored and saved in another storage, the model scores as before (to that storage's rounding).
    const probe = path.join(bottle, 'test', 'broken_large', '000.png');
    const scores: number[] = [];
    const asStored = await Detector.load(file, { form: 'stored' });
    await asStored.score([probe], (_i, r) => void scores.push(r.score));
    for (const precision of ['f32', 'i8'] as const) {
      const again = path.join(path.dirname(file), `again-${precision}.npad`);
      await asStored.save(again, { precision });
      await (await Detector.load(again)).score([probe], (_i, r) => void scores.push(r.score));
    }
    for (const s of scores.slice(1)) assert.ok(Math.abs(s - scores[0]!) < 1e-2 * Math.abs(scores[0]!), `d = ${d}: ${scores.join(', ')}`);
  }
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Detector, validateConfig } from '../../src/detector/detector.js';
import { resolveConfig } from '../../src/detector/config.js';
import { NpadInputError } from '../../src/errors.js';
import { BOTTLE } from '../sharedData.js';

const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);

test('a saved detector scores exactly like the fitted one', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const dir = path.join(bottle, 'train', 'good');
  const train = (await readdir(dir)).sort().slice(0, 5).map((f) => path.join(dir, f));
  const probe = path.join(bottle, 'test', 'broken_small', '000.png');
  const detector = await Detector.fit(train, {
    options: { dim: 16, maxCentroids: 32, kmeansSample: 2000, shiftMax: 2, shiftSpace: 'image' },
    // Shifting the crop window needs the benchmark crop's margin.
    preprocess: { mode: 'crop' },
    batchSize: 5,
  });
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'npad-det-')), 'm.npad');
  await detector.save(file);
  const loaded = await Detector.load(file);
  assert.deepEqual(loaded.config, detector.config);
  const results: { score: number; map: Float32Array }[] = [];
  for (const d of [detector, loaded]) await d.score([probe], (_i, r) => void results.push(r));
  assert.equal(results[0]!.score, results[1]!.score);
  assert.deepEqual(results[0]!.map, results[1]!.map);
  assert.equal(results[0]!.map.length, 224 * 224);
  assert.ok(Number.isFinite(results[0]!.score) && results[0]!.score > 0);
});

test('configuration checks name the bad option', () => {
  assert.throws(() => validateConfig(resolveConfig({ options: { shiftMax: 20, shiftSpace: 'image' }, preprocess: { mode: 'crop' } })), /shiftMax = 20/);
  // The whole image leaves no margin to move a crop window in.
  assert.throws(() => validateConfig(resolveConfig({ options: { shiftMax: 4, shiftSpace: 'image' } })), /whole image, side 224 leaves 0\): lower shiftMax, shift in feature space or turn moduleD off/);
  assert.throws(() => validateConfig(resolveConfig({ options: { dim: 0 } })), /option dim/);
  assert.throws(() => validateConfig(resolveConfig({ preset: 'exper2', options: { moduleC: true } })), /moduleC/);
  assert.throws(() => validateConfig(resolveConfig({ options: { shiftAggregate: 'median' as 'mean' } })), /shiftAggregate/);
  assert.doesNotThrow(() => validateConfig(resolveConfig({ preset: 'exper1' })));
  // Shifting in feature space needs no crop margin, only whole grid cells.
  assert.doesNotThrow(() => validateConfig(resolveConfig({ preprocess: { crop: null }, options: { shiftSpace: 'features' } })));
  assert.throws(() => validateConfig(resolveConfig({ options: { shiftSpace: 'features', shiftMax: 2 } })), /multiple of 4/);
});

test('a model whose tensors hold NaN gives an error naming it, never a verdict', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const dir = path.join(bottle, 'train', 'good');
  const train = (await readdir(dir)).sort().slice(0, 4).map((f) => path.join(dir, f));
  const detector = await Detector.fit(train, { method: 'padim', options: { dim: 8 }, preprocess: { resize: 64, crop: 56 } });
  const fitted = detector.fitted;
  assert.equal(fitted.method, 'padim');
  if (fitted.method !== 'padim') return;
  fitted.model.gaussians.means[0] = Number.NaN; // as a forged file with a recomputed checksum would hold
  await assert.rejects(
    detector.score([path.join(bottle, 'test', 'good', '000.png')], () => assert.fail('no result may come of a NaN')),
    (e: unknown) => e instanceof NpadInputError && /^detector: the model gives a non-finite score for .*000\.png \(image score [^)]+\): its tensors hold NaN or infinite values/.test(e.message),
  );
});

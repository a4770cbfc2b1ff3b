import type { ScoredImage } from '../../src/method/types.js';
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Detector } from '../../src/detector/detector.js';
import { averageScoredImages, checkEnsembleMembers, DetectorEnsemble } from '../../src/detector/ensemble.js';
import { resolveConfig } from '../../src/detector/config.js';
import { BOTTLE } from '../sharedData.js';

const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);

test('members are averaged at the first member’s size', () => {
  const a = { map: Float32Array.from([1, 2, 3, 4]), width: 2, height: 2, score: 4 };
  const b = { map: Float32Array.from([3, 4, 5, 6]), width: 2, height: 2, score: 8 };
  assert.deepEqual(averageScoredImages([a, b]), { map: Float32Array.from([2, 3, 4, 5]), width: 2, height: 2, score: 6 });
  // A constant 4×4 map brought to 2×2 stays constant.
  const big = { map: new Float32Array(16).fill(7), width: 4, height: 4, score: 1 };
  const avg = averageScoredImages([a, big]);
  assert.deepEqual(Array.from(avg.map), [4, 4.5, 5, 5.5]);
  assert.equal(avg.score, 2.5);
});

test('members must crop the same part of the image', () => {
  const m = (resize: number, crop: number | null): { config: ReturnType<typeof resolveConfig> } => ({ config: resolveConfig({ preprocess: { resize, crop } }) });
  assert.doesNotThrow(() => checkEnsembleMembers([m(256, 224), m(384, 336)], ['a.npad', 'b.npad']));
  assert.doesNotThrow(() => checkEnsembleMembers([m(256, null), m(320, null)], ['a.npad', 'b.npad']));
  assert.throws(() => checkEnsembleMembers([m(256, 224), m(256, null)], ['a.npad', 'b.npad']), /b\.npad \(resize 256, crop null\) sees 100\.0 %.*a\.npad/);
  // The whole image (its tiles too) sees all of it, as a crop-less resize does.
  const whole = { config: resolveConfig({}) };
  assert.doesNotThrow(() => checkEnsembleMembers([whole, m(256, null)], ['a.npad', 'b.npad']));
  assert.throws(() => checkEnsembleMembers([whole, m(256, 224)], ['a.npad', 'b.npad']), /b\.npad \(resize 256, crop 224\) sees 87\.5 %/);
  assert.throws(() => checkEnsembleMembers([], []), /at least one/);
});

test('an ensemble of 224 and 336 crops scores the mean of its members', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const dir = path.join(bottle, 'train', 'good');
  const train = (await readdir(dir)).sort().slice(0, 4).map((f) => path.join(dir, f));
  const probe = [path.join(bottle, 'test', 'broken_small', '000.png'), path.join(bottle, 'test', 'good', '000.png')];
  const options = { dim: 12, maxCentroids: 16, kmeansSample: 1000, moduleD: false };
  const small = await Detector.fit(train, { options, batchSize: 4, preprocess: { resize: 256, crop: 224 } });
  const large = await Detector.fit(train, { options, batchSize: 4, preprocess: { resize: 384, crop: 336 } });
  const ensemble = new DetectorEnsemble([small, large]);
  const got: ScoredImage[] = [];
  await ensemble.score(probe, (i, r) => void (got[i] = r));
  for (let i = 0; i < probe.length; i++) {
    const parts: ScoredImage[] = [];
    for (const d of [small, large]) await d.score([probe[i]!], (_j, r) => void parts.push(r));
    assert.equal(parts[1]!.width, 336);
    const expected = averageScoredImages(parts);
    assert.equal(got[i]!.width, 224);
    // Scoring one image or two in a batch may round differently inside the backbone. The defaults' scores are in
    // nominal spreads and cross zero: relative to the value, or to one spread near zero.
    const scale = (v: number): number => Math.max(1, Math.abs(v));
    assert.ok(Math.abs(got[i]!.score - expected.score) < 1e-4 * scale(expected.score), `score ${got[i]!.score} vs ${expected.score}`);
    let worst = 0;
    expected.map.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - got[i]!.map[k]!) / scale(v))));
    assert.ok(worst < 1e-4, `largest relative difference ${worst}`);
  }
});

import type { ScoredImage } from '../../src/method/types.js';
/**
 * Detector.predict, calibrate and the calibration in the model file, on a few real bottle images with a tiny
 * configuration (the plumbing is under test, not accuracy).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NpadNoThresholdError, splitHoldout } from '../../src/detector/calibration.js';
import { writeModelCalibration } from '../../src/detector/calibrationFile.js';
import { Detector } from '../../src/detector/detector.js';
import { mapOnImage, type Prediction } from '../../src/detector/predict.js';
import { NpadInputError } from '../../src/errors.js';
import { loadModel } from '../../src/model/modelFile.js';
import { BOTTLE } from '../sharedData.js';

const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);

test('calibrate, save, load, predict from paths and bytes, skip a bad input', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const dir = path.join(bottle, 'train', 'good');
  const images = (await readdir(dir)).sort().slice(0, 6).map((f) => path.join(dir, f));
  const { fit, holdout } = splitHoldout(images, 0.2);
  assert.deepEqual([fit.length, holdout.length], [5, 1]);
  const detector = await Detector.fit(fit, { options: { dim: 12, maxCentroids: 16, kmeansSample: 1000, moduleD: false }, batchSize: 4 });
  assert.equal(detector.calibration, null);
  const probe = path.join(bottle, 'test', 'broken_large', '000.png');
  await assert.rejects(detector.predict([probe], () => {}), (e: unknown) => e instanceof NpadNoThresholdError && /detector.calibrate\(images\)/.test(e.message));

  const calibration = await detector.calibrate(holdout, { falseAlarmRate: 0.05 });
  assert.equal(calibration.source, 'holdout');
  assert.equal(calibration.imageCount, 1);
  assert.equal(calibration.extrapolated, true, 'one image cannot show 5 % by counting');

  const folder = await mkdtemp(path.join(os.tmpdir(), 'npad-predict-'));
  const file = path.join(folder, 'm.npad');
  await detector.save(file);
  const loaded = await Detector.load(file);
  assert.deepEqual(loaded.calibration, calibration);

  const raw: ScoredImage[] = [];
  // The same batch as predict's below (two good inputs): the backbone's float sums depend on the batch size.
  await loaded.score([probe, probe], (_i, r) => void raw.push(r));
  const seen: [number, Prediction | string][] = [];
  await loaded.predict(
    [probe, Buffer.from('not an image'), await readFile(probe)],
    (i, p) => void seen.push([i, p]),
    (i, e) => void seen.push([i, e.message]),
  );
  assert.deepEqual(seen.map(([i]) => i), [0, 1, 2], 'results and skips in input order');
  const [first, bad, fromBytes] = seen.map(([, v]) => v) as [Prediction, string, Prediction];
  assert.match(bad, /^<buffer 1>: not a decodable image/);
  // Decoding ahead of scoring changes nothing: the scores are those of score(), the map score()'s brought onto the photo.
  assert.equal(first.score, raw[0]!.score);
  assert.deepEqual(first.map, mapOnImage(raw[0]!, loaded.config.preprocess, { width: 256, height: 256 }).map);
  assert.deepEqual([first.width, first.height, raw[0]!.width], [256, 256, 224], 'the photo is 256², the network input 224²');
  assert.equal(fromBytes.score, first.score);
  assert.equal(first.verdict, first.score >= calibration.imageThreshold ? 'defective' : 'good');
  assert.equal(first.mask.length, 256 * 256);
  // broken_large is a gross defect: defective even for this tiny model.
  assert.equal(first.verdict, 'defective', `score ${first.score}, threshold ${calibration.imageThreshold}`);
  assert.ok(first.normalisedScore > 0.5);
  // Without onSkip the bad input stops the run with its message.
  await assert.rejects(loaded.predict([Buffer.alloc(0)], () => {}), /<buffer 0>: empty file/);

  // A new calibration is written into the file without touching the tensors; removing it gives an uncalibrated model.
  const manual = { ...calibration, source: 'manual' as const, imageThreshold: 1e9 };
  await writeModelCalibration(file, manual);
  const before = await loadModel(file);
  const relabelled = await Detector.load(file);
  assert.deepEqual(relabelled.calibration, manual);
  const again: Prediction[] = [];
  await relabelled.predict([probe, probe], (_i, p) => void again.push(p));
  assert.equal(again[0]!.score, first.score);
  assert.equal(again[0]!.verdict, 'good');
  await writeModelCalibration(file, null);
  const after = await loadModel(file);
  assert.deepEqual([...after.tensors.keys()], [...before.tensors.keys()]);
  for (const [name, t] of before.tensors) assert.deepEqual(after.tensors.get(name)!.data, t.data, name);
  const bare = await Detector.load(file);
  assert.equal(bare.calibration, null);
  await assert.rejects(bare.predict([probe], () => {}), (e: unknown) => e instanceof NpadInputError && e.message.startsWith(`${file}: the model has no score threshold`));
});

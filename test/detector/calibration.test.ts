import test from 'node:test';
import assert from 'node:assert/strict';
import {
  f1MaxCalibration,
  falseAlarmThreshold,
  holdoutCalibration,
  manualCalibration,
  median,
  normaliseImageScore,
  normaliseScore,
  normalQuantile,
  parseCalibration,
  splitHoldout,
} from '../../src/detector/calibration.js';
import { predictionFrom } from '../../src/detector/predict.js';
import { NpadInputError } from '../../src/errors.js';

test('normalised scores: threshold ↦ 0.5, typical ↦ 0.1, strictly increasing', () => {
  assert.equal(normaliseScore(13.6, 13.6, 9), 0.5);
  assert.ok(Math.abs(normaliseScore(9, 13.6, 9) - 0.1) < 1e-12);
  assert.ok(Math.abs(normaliseScore(18.2, 13.6, 9) - 0.9) < 1e-12, 'as far above as typical is below ↦ 0.9');
  let previous = -Infinity;
  for (let s = 0; s <= 40; s += 0.25) {
    const v = normaliseScore(s, 13.6, 9);
    assert.ok(v > previous && v > 0 && v < 1, `score ${s}: ${v}`);
    previous = v;
  }
  // A typical score at or above the threshold (a hand-set threshold) still gives a curve through 0.5.
  assert.equal(normaliseScore(5, 5, 7), 0.5);
  assert.ok(normaliseScore(6, 5, 7) > 0.5 && normaliseScore(4, 5, 7) < 0.5);
  assert.equal(normaliseScore(0, 0, 0), 0.5);
});

test('median and normal quantile', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.ok(Math.abs(normalQuantile(0.99) - 2.3263478740408408) < 1e-8);
  assert.ok(Math.abs(normalQuantile(0.5)) < 1e-12);
  assert.ok(Math.abs(normalQuantile(0.001) + 3.090232306167813) < 1e-8);
  assert.throws(() => normalQuantile(1), RangeError);
});

test('false-alarm threshold: counting when the images suffice, at most the rate flagged', () => {
  // 199 scores 1…199, rate 1 %: k = ⌊0.01 · 200⌋ = 2, the second largest.
  const scores = Array.from({ length: 199 }, (_, i) => i + 1);
  const t = falseAlarmThreshold(scores, 0.01);
  assert.deepEqual(t, { threshold: 198, extrapolated: false });
  assert.equal(scores.filter((s) => s >= t.threshold).length, 2);
  // 99 scores, rate 1 %: the maximum.
  assert.equal(falseAlarmThreshold(scores.slice(0, 99), 0.01).threshold, 99);
  // 10 %: k = ⌊0.1 · 200⌋ = 20 → the 20th largest, 180.
  assert.equal(falseAlarmThreshold(scores, 0.1).threshold, 180);
  // Order of the input does not matter.
  assert.equal(falseAlarmThreshold([...scores].reverse(), 0.1).threshold, 180);
});

test('false-alarm threshold: too few images → extrapolated above the maximum', () => {
  const scores = [10, 11, 12, 13, 14];
  const t = falseAlarmThreshold(scores, 0.01);
  assert.equal(t.extrapolated, true);
  const sd = Math.sqrt(2.5);
  assert.ok(Math.abs(t.threshold - (12 + normalQuantile(0.99) * sd)) < 1e-9, String(t.threshold));
  assert.ok(t.threshold > 14);
  // One image: sd 0, the threshold is the score itself.
  assert.deepEqual(falseAlarmThreshold([7], 0.05), { threshold: 7, extrapolated: true });
  assert.throws(() => falseAlarmThreshold([], 0.01), RangeError);
  assert.throws(() => falseAlarmThreshold([1], 0), /false-alarm rate/);
  assert.throws(() => falseAlarmThreshold([1, NaN], 0.5), /finite/);
});

test('holdout calibration: image threshold from image scores, pixel threshold from each map’s maximum', () => {
  const maps = Array.from({ length: 99 }, (_, i) => Float32Array.from([0, 1, 2, i]));
  const scores = Array.from({ length: 99 }, (_, i) => 100 + i);
  const c = holdoutCalibration(scores, maps, 0.01);
  assert.equal(c.source, 'holdout');
  assert.equal(c.imageThreshold, 198);
  assert.equal(c.pixelThreshold, 98);
  assert.equal(c.typicalImageScore, 149);
  assert.equal(c.falseAlarmRate, 0.01);
  assert.equal(c.extrapolated, false);
  assert.equal(c.imageCount, 99);
  assert.equal(normaliseImageScore(c, 198), 0.5);
  assert.throws(() => holdoutCalibration([1, 2], maps), /2 image scores but 99 maps/);
});

test('F1-max calibration: the threshold separating the labelled images best', () => {
  const scores = [1, 2, 3, 10, 11, 12];
  const labels = [0, 0, 0, 1, 1, 1];
  const maps = scores.map((s, i) => Float32Array.from([0.1, labels[i] ? s : 0.2]));
  const masks = labels.map((l) => Uint8Array.from([0, l]));
  const c = f1MaxCalibration(scores, labels, maps, masks);
  assert.equal(c.source, 'f1-max');
  assert.equal(c.imageThreshold, 10);
  assert.equal(c.pixelThreshold, 10);
  assert.equal(c.typicalImageScore, 2);
  assert.equal(c.imageCount, 6);
  assert.throws(() => f1MaxCalibration(scores, labels, maps.slice(1), masks), /counts differ/);
});

test('manual calibration keeps what is not given, and needs both the first time', () => {
  assert.throws(() => manualCalibration({ imageThreshold: 3 }, null), (e: unknown) => e instanceof NpadInputError && /^pixelThreshold is needed/.test(e.message));
  const first = manualCalibration({ imageThreshold: 3, pixelThreshold: 4 }, null);
  assert.equal(first.source, 'manual');
  assert.equal(normaliseImageScore(first, 3), 0.5);
  const holdout = holdoutCalibration([1, 2, 3], [Float32Array.of(1), Float32Array.of(2), Float32Array.of(3)], 0.2);
  const second = manualCalibration({ imageThreshold: 9 }, holdout);
  assert.equal(second.imageThreshold, 9);
  assert.equal(second.pixelThreshold, holdout.pixelThreshold);
  assert.equal(second.typicalImageScore, holdout.typicalImageScore);
  assert.throws(() => manualCalibration({ imageThreshold: NaN }, holdout), /finite/);
});

test('a calibration survives JSON and a bad one is refused by file name', () => {
  const c = holdoutCalibration([1, 2, 3], [Float32Array.of(1), Float32Array.of(2), Float32Array.of(3)], 0.05);
  assert.deepEqual(parseCalibration(JSON.parse(JSON.stringify(c)), 'm.npad'), c);
  assert.throws(() => parseCalibration({ ...c, imageThreshold: 'x' }, 'm.npad'), /^NpadInputError: m\.npad: invalid score calibration: imageThreshold/);
  assert.throws(() => parseCalibration({ ...c, source: 'guess' }, 'm.npad'), /m\.npad: .*source "guess"/);
});

test('holdout split: reproducible, disjoint, at least one held out, refuses to leave nothing', () => {
  const images = Array.from({ length: 20 }, (_, i) => `img${i}.png`);
  const a = splitHoldout(images, 0.1);
  assert.equal(a.holdout.length, 2);
  assert.equal(a.fit.length, 18);
  assert.deepEqual(splitHoldout(images, 0.1), a);
  assert.deepEqual([...a.fit, ...a.holdout].sort(), [...images].sort());
  assert.equal(splitHoldout(images.slice(0, 3), 0.1).holdout.length, 1);
  assert.deepEqual(splitHoldout(images, 0), { fit: images, holdout: [] });
  assert.throws(() => splitHoldout(['a.png'], 0.1), /nothing to fit on/);
  assert.throws(() => splitHoldout(images, 1), /held-out fraction/);
});

test('a prediction: verdict and mask at the thresholds (≥)', () => {
  const c = manualCalibration({ imageThreshold: 5, pixelThreshold: 0.5 }, null);
  const map = Float32Array.from([0.1, 0.5, 0.9, 0.49]);
  const p = predictionFrom({ map, width: 2, height: 2, score: 5 }, c);
  assert.equal(p.verdict, 'defective');
  assert.equal(p.normalisedScore, 0.5);
  assert.deepEqual([...p.mask], [0, 1, 1, 0]);
  const q = predictionFrom({ map, width: 2, height: 2, score: 4.99 }, c);
  assert.equal(q.verdict, 'good');
  assert.ok(q.normalisedScore < 0.5);
});

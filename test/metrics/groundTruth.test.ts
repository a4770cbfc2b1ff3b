/** Pixel metrics over the images with a ground truth: a defective image without a mask counts for image metrics only. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { computeMetrics } from '../../src/evaluation/evaluate.js';
import { pixelGroundTruth } from '../../src/metrics/index.js';

const size = 4;
const map = (values: number[]): Float32Array => Float32Array.from({ length: size * size }, (_, i) => values[i % values.length]!);
const mask = (defect: number[]): Uint8Array => Uint8Array.from({ length: size * size }, (_, i) => (defect.includes(i) ? 1 : 0));

test('an image without a mask leaves the pixel metrics as they were without it', () => {
  const maps = [map([0.1, 0.2]), map([0.3, 0.1]), map([0.9, 0.2, 0.1, 0.8])];
  const masks = [mask([]), mask([]), mask([0, 3, 4, 7])];
  const shapes = (n: number): { width: number; height: number }[] => Array.from({ length: n }, () => ({ width: size, height: size }));
  const known = computeMetrics([0.2, 0.3, 0.9], [0, 0, 1], maps, masks, shapes(3));
  const withUnknown = computeMetrics([0.2, 0.3, 0.9, 0.7], [0, 0, 1, 1], [...maps, map([0.5])], [...masks, null], shapes(4));
  assert.equal(withUnknown.pixel_auroc, known.pixel_auroc);
  assert.equal(withUnknown.pro, known.pro);
  assert.notEqual(withUnknown.image_auroc, undefined);
});

test('without any defect mask the pixel metrics are null and the image metrics stay', () => {
  const m = computeMetrics([0.2, 0.8, 0.6], [0, 1, 1], [map([0.1]), map([0.9]), map([0.5])], [mask([]), null, null], Array.from({ length: 3 }, () => ({ width: size, height: size })));
  assert.equal(m.pixel_auroc, null);
  assert.equal(m.pro, null);
  assert.equal(m.image_auroc, 1);
  assert.equal(m.image_f1_max, 1);
});

test('pixelGroundTruth keeps the masked images in order and flattens their pixels', () => {
  const g = pixelGroundTruth([map([1]), map([2]), map([3])], [mask([1]), null, mask([])]);
  assert.deepEqual(g.images, [0, 2]);
  assert.equal(g.scores.length, 2 * size * size);
  assert.equal(g.scores[size * size], 3);
  assert.equal(g.labels[1], 1);
  assert.ok(g.anyDefect);
  assert.throws(() => pixelGroundTruth([map([1])], []), RangeError);
});

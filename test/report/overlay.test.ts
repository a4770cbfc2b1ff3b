import test from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { manualCalibration } from '../../src/detector/calibration.js';
import { predictionFrom } from '../../src/detector/predict.js';
import { NpadInputError } from '../../src/errors.js';
import { heatColour, maskOutline, renderMaskPng, renderOverlayPng } from '../../src/report/overlay.js';

/** A grey 40×40 PNG. */
async function greyPng(level: number): Promise<Buffer> {
  return sharp(Buffer.alloc(40 * 40 * 3, level), { raw: { width: 40, height: 40, channels: 3 } }).png().toBuffer();
}

const preprocess = { resize: 32, crop: 24 };
const size = 24;
const calibration = manualCalibration({ imageThreshold: 1, pixelThreshold: 1 }, null);

/** A map of 0.1 with a hot 6×6 square at (10, 10). */
function hotSquare(): Float32Array {
  const map = new Float32Array(size * size).fill(0.1);
  for (let y = 10; y < 16; y++) for (let x = 10; x < 16; x++) map[y * size + x] = 3;
  return map;
}

test('mask PNG: size×size greyscale, 255 exactly where the map reaches the pixel threshold', async () => {
  const p = predictionFrom({ map: hotSquare(), width: size, height: size, score: 3 }, calibration);
  const png = await renderMaskPng(p);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels], [size, size, 1]);
  const { data } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  for (let i = 0; i < size * size; i++) assert.equal(data[i], p.mask[i] ? 255 : 0);
  assert.equal(data.reduce((s, v) => s + (v === 255 ? 1 : 0), 0), 36);
});

test('overlay PNG: the network view, tinted blue where typical and warm where defective, outlines painted', async () => {
  const p = predictionFrom({ map: hotSquare(), width: size, height: size, score: 3 }, calibration);
  const gt = new Uint8Array(size * size);
  for (let y = 2; y < 8; y++) for (let x = 2; x < 8; x++) gt[y * size + x] = 1;
  const png = await renderOverlayPng(await greyPng(128), p, calibration, { groundTruth: gt, crop: preprocess });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [size, size, 3]);
  const at = (x: number, y: number): number[] => [...data.subarray((y * size + x) * 3, (y * size + x) * 3 + 3)];
  // A low-score pixel far from both masks: mostly the grey image, slightly blue.
  const [r, g, b] = at(20, 20) as [number, number, number];
  assert.ok(Math.abs(r - 128) < 40 && b > r, `low pixel ${[r, g, b]}`);
  // The predicted mask's edge is white, the ground truth's green; the middle of the hot square is warm (red > blue).
  assert.deepEqual(at(10, 10), [255, 255, 255]);
  assert.deepEqual(at(2, 2), [0, 230, 0]);
  const centre = at(12, 12);
  assert.ok(centre[0]! > centre[2]! + 100, `hot pixel ${centre}`);
});

test('overlay checks sizes and names an undecodable input', async () => {
  const p = predictionFrom({ map: hotSquare(), width: size, height: size, score: 3 }, calibration);
  await assert.rejects(renderOverlayPng(await greyPng(10), { ...p, width: 16 }, calibration), /has 576 pixels but is 16×24/);
  await assert.rejects(renderOverlayPng({ name: 'upload.png', bytes: Buffer.from('nope') }, p, calibration), (e: unknown) => e instanceof NpadInputError && e.message.startsWith('upload.png: '));
});

test('heat colours and outlines', () => {
  assert.deepEqual(heatColour(0), [0, 0, 140]);
  assert.deepEqual(heatColour(0.5), [255, 230, 0]);
  assert.deepEqual(heatColour(2), [220, 0, 0]);
  const mask = new Uint8Array(36);
  for (let y = 1; y < 5; y++) for (let x = 1; x < 5; x++) mask[y * 6 + x] = 1;
  const o = maskOutline(mask, 6, 6, 1);
  assert.equal(o.reduce((s, v) => s + v, 0), 12, 'a 4×4 square has a 12-pixel 1-wide edge');
  assert.equal(o[2 * 6 + 2], 0);
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Detector } from '../../src/detector/detector.js';
import { decodeRgb } from '../../src/image/decode.js';
import { imageSourceSize } from '../../src/image/source.js';
import type { Prediction } from '../../src/detector/predict.js';
import { seededRandom } from '../../src/util/random.js';

/** A textured grey RGB photo (width × height), with a bright square where `defect` says. */
async function photo(file: string, width: number, height: number, seed: number, defect?: { x: number; y: number; side: number }): Promise<string> {
  const random = seededRandom(seed);
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = 100 + 40 * Math.sin(x / 3) * Math.cos(y / 4) + 10 * random();
      const hot = defect && x >= defect.x && x < defect.x + defect.side && y >= defect.y && y < defect.y + defect.side;
      px.fill(hot ? 250 : Math.round(v), (y * width + x) * 3, (y * width + x) * 3 + 3);
      if (hot) px[(y * width + x) * 3 + 2] = 0;
    }
  }
  await sharp(px, { raw: { width, height, channels: 3 } }).png().toFile(file);
  return file;
}

const OPTIONS = { dim: 12, maxCentroids: 16, kmeansSample: 2000, bank: 'kmeans', moduleD: false } as const;

/** The pixel of the map's maximum, as (x, y) fractions of the map's width and height. */
function hottest(p: Prediction): { x: number; y: number } {
  let best = 0;
  for (let i = 1; i < p.map.length; i++) if (p.map[i]! > p.map[best]!) best = i;
  return { x: (best % p.width) / p.width, y: Math.floor(best / p.width) / p.height };
}

test('the whole image: its aspect ratio kept, maps and masks at the photo’s size, the defect where it is', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-whole-'));
  const train = await Promise.all(Array.from({ length: 6 }, (_, i) => photo(path.join(dir, `good${i}.png`), 144, 96, i + 1)));
  const detector = await Detector.fit(train, { options: OPTIONS, preprocess: { mode: 'whole', side: 64 }, batchSize: 6 });
  // 3:2 at the area of 64²: 78 × 52 → 80 × 48 (multiples of 16).
  assert.deepEqual(detector.config.preprocess, { mode: 'whole', side: 64, tile: null, width: 80, height: 48 });
  await detector.calibrate([train[0]!, train[1]!]);
  const bad = await photo(path.join(dir, 'bad.png'), 144, 96, 99, { x: 110, y: 10, side: 14 });
  const got: Prediction[] = [];
  await detector.predict([bad, train[2]!], (i, p) => void (got[i] = p));
  const [p, q] = got as [Prediction, Prediction];
  assert.deepEqual([p.width, p.height, p.map.length, p.mask.length], [144, 96, 144 * 96, 144 * 96]);
  const at = hottest(p);
  assert.ok(at.x > 0.7 && at.y < 0.3, `the map's maximum at ${JSON.stringify(at)}, the defect in the top right`);
  assert.ok(p.score > q.score, `defective ${p.score} above good ${q.score}`);
  // Saved and loaded, the shape comes back and so do the scores.
  const file = path.join(dir, 'm.npad');
  await detector.save(file);
  const loaded = await Detector.load(file);
  assert.deepEqual(loaded.config.preprocess, detector.config.preprocess);
  let again = NaN;
  await loaded.predict([bad], (_i, r) => void (again = r.score));
  assert.equal(again, p.score);
});

test('training images of other aspect ratios are stretched to the median one, and the fit says so', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-aspects-'));
  const train = await Promise.all([0, 1, 2, 3].map((i) => photo(path.join(dir, `g${i}.png`), i === 3 ? 64 : 96, 64, i + 1)));
  const detector = await Detector.fit(train, { options: OPTIONS, preprocess: { mode: 'whole', side: 48 }, batchSize: 4 });
  assert.match(detector.fitSummary ?? '', /differ in aspect ratio: each is resized to 64×32 .* stretched 2\.00×/);
});

test('tiles: a large photo is cut into tiles sharing one model, the maps put back together at the photo’s size', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-tiles-'));
  const train = await Promise.all(Array.from({ length: 3 }, (_, i) => photo(path.join(dir, `good${i}.png`), 256, 160, i + 1)));
  const preprocess = { mode: 'whole', side: 48, tile: { size: 96, overlap: 16 } } as const;
  const detector = await Detector.fit(train, { options: OPTIONS, preprocess, batchSize: 8 });
  assert.deepEqual(detector.config.preprocess, { ...preprocess, width: 48, height: 48 });
  // 3 columns × 2 rows of 96 px tiles over 256 × 160: 6 tiles of each of 3 images.
  const model = detector.fitted.model as { trainCount: number };
  assert.equal(model.trainCount, 18);
  await detector.calibrate([train[0]!]);
  const bad = await photo(path.join(dir, 'bad.png'), 256, 160, 42, { x: 30, y: 110, side: 10 });
  const got: Prediction[] = [];
  await detector.predict([bad, train[1]!], (i, p) => void (got[i] = p));
  const [p, q] = got as [Prediction, Prediction];
  assert.deepEqual([p.width, p.height], [256, 160]);
  const at = hottest(p);
  assert.ok(at.x < 0.3 && at.y > 0.6, `the map's maximum at ${JSON.stringify(at)}, the defect bottom left`);
  assert.ok(p.score > q.score);
  // Scoring gives the mosaic at the tiles' input scale: 256 × 160 at 48 / 96.
  await detector.score([bad], (_i, r) => assert.deepEqual([r.width, r.height], [128, 80]));
});

test('EXIF orientation is applied: a photo taken upright is seen upright', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-exif-'));
  const file = path.join(dir, 'rotated.jpg');
  // Stored 40 wide × 20 high with orientation 6 (turn 90° clockwise to view): upright it is 20 × 40.
  const jpeg = await sharp(Buffer.alloc(40 * 20 * 3, 128), { raw: { width: 40, height: 20, channels: 3 } }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  await writeFile(file, jpeg);
  const img = await decodeRgb(file);
  assert.deepEqual([img.width, img.height], [20, 40]);
  assert.deepEqual(await imageSourceSize(file), { width: 20, height: 40 });
});

import test from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PREPROCESS, resolvePreprocess, validatePreprocessOptions, type WholePreprocess } from '../../src/image/preprocess.js';
import { addTileToMosaic, chooseInputShape, finishMosaic, largestStretch, mosaicSize, tileRects } from '../../src/image/wholeImage.js';

const whole = (side = 224): WholePreprocess => ({ mode: 'whole', side, tile: null });

test('the input shape keeps the median aspect ratio at the area of side², in multiples of 16', () => {
  assert.deepEqual(chooseInputShape(whole(), [{ width: 900, height: 900 }]), { width: 224, height: 224 });
  // 3:2 at 224² ≈ 274 × 183 → 272 × 176 (multiples of 16).
  assert.deepEqual(chooseInputShape(whole(), [{ width: 3000, height: 2000 }]), { width: 272, height: 176 });
  // Portrait is the transpose of landscape.
  assert.deepEqual(chooseInputShape(whole(), [{ width: 2000, height: 3000 }]), { width: 176, height: 272 });
  // The median, not the mean: one odd image among square ones changes nothing.
  const sizes = [{ width: 500, height: 500 }, { width: 510, height: 500 }, { width: 4000, height: 100 }];
  assert.deepEqual(chooseInputShape(whole(), sizes), { width: 224, height: 224 });
  assert.ok(largestStretch({ width: 224, height: 224 }, sizes) > 39);
  // A strip is bounded to 32 … 1024.
  const strip = chooseInputShape(whole(512), [{ width: 100000, height: 10 }]);
  assert.deepEqual(strip, { width: 1024, height: 32 });
  // Tiles are square whatever the images.
  assert.deepEqual(chooseInputShape({ ...whole(160), tile: { size: 400, overlap: 50 } }, [{ width: 3000, height: 2000 }]), { width: 160, height: 160 });
});

test('tiles cover the image, overlap at least as asked, and touch its edges', () => {
  const rects = tileRects({ width: 1000, height: 600 }, { size: 400, overlap: 50 });
  const lefts = [...new Set(rects.map((r) => r.left))];
  const tops = [...new Set(rects.map((r) => r.top))];
  assert.deepEqual(lefts, [0, 300, 600]);
  assert.deepEqual(tops, [0, 200]);
  assert.ok(rects.every((r) => r.width === 400 && r.height === 400));
  for (let i = 1; i < lefts.length; i++) assert.ok(lefts[i - 1]! + 400 - lefts[i]! >= 50);
  // A side shorter than the tile: the tile shrinks to it (still square), one row of tiles.
  const small = tileRects({ width: 900, height: 300 }, { size: 400, overlap: 40 });
  assert.ok(small.every((r) => r.width === 300 && r.top === 0));
  assert.equal(small[small.length - 1]!.left + 300, 900);
  // An image the tile's size is one tile.
  assert.deepEqual(tileRects({ width: 400, height: 400 }, { size: 400, overlap: 50 }), [{ left: 0, top: 0, width: 400, height: 400 }]);
});

test('the mosaic averages overlapping tiles and covers every pixel', () => {
  const image = { width: 600, height: 400 };
  const tile = { size: 400, overlap: 100 };
  const side = 8;
  const rects = tileRects(image, tile);
  const size = mosaicSize(image, 400, side);
  assert.deepEqual(size, { width: 12, height: 8 });
  const sum = new Float64Array(size.width * size.height);
  const count = new Uint16Array(sum.length);
  // Tile k's map is constant k + 1: the overlap of tiles 1 and 2 averages to 1.5.
  rects.forEach((r, k) => addTileToMosaic(sum, count, size, r, 400, new Float32Array(side * side).fill(k + 1), side));
  const map = finishMosaic(sum, count);
  assert.equal(map[0], 1);
  assert.equal(map[size.width - 1], 2);
  assert.equal(map[5], 1.5);
  assert.throws(() => finishMosaic(new Float64Array(2), new Uint16Array(2)), /covered by no tile/);
});

test('whole-image options: defaults, and every bound named', () => {
  assert.deepEqual(resolvePreprocess(), DEFAULT_PREPROCESS);
  assert.deepEqual(resolvePreprocess({ resize: 300 }), { resize: 300, crop: 224 });
  // Model files written before the whole image existed hold { resize, crop }: the crop, as they were fitted.
  assert.deepEqual(resolvePreprocess({ resize: 256, crop: 224 }), { resize: 256, crop: 224 });
  assert.deepEqual(resolvePreprocess({ mode: 'whole', side: 160 }), { mode: 'whole', side: 160, tile: null });
  assert.throws(() => validatePreprocessOptions(whole(20)), /input side must be an integer from 32 to 1024 px, got 20/);
  assert.throws(() => validatePreprocessOptions({ ...whole(), width: 100, height: 96 }), /input width must be a multiple of 16/);
  assert.throws(() => validatePreprocessOptions({ ...whole(), width: 96 }), /width and height go together/);
  assert.throws(() => validatePreprocessOptions({ ...whole(), tile: { size: 400, overlap: 200 } }), /tile overlap must be an integer from 0 to less than half the tile \(400 px\), got 200/);
  assert.throws(() => validatePreprocessOptions({ ...whole(), tile: { size: 8, overlap: 0 } }), /tile size must be an integer from 32/);
  assert.throws(() => validatePreprocessOptions({ mode: 'square' } as never), /mode must be 'whole' or 'crop'/);
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeRgb } from '../../src/image/decode.js';
import {
  BENCHMARK_PREPROCESS, DEFAULT_PREPROCESS,
  IMAGENET_MEAN,
  IMAGENET_STD,
  centreOffset,
  cropNormalised,
  loadImageTensor,
  MAX_INTERMEDIATE_SAMPLES,
  resizeBilinear,
  validatePreprocessOptions,
} from '../../src/image/preprocess.js';
import { NpadInputError } from '../../src/errors.js';
import type { RgbImage } from '../../src/image/rgbImage.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-preprocess-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An RGB image whose three channels all hold `grey` (row-major values). */
function greyImage(width: number, height: number, grey: number[]): RgbImage {
  const data = new Float32Array(width * height * 3);
  grey.forEach((v, i) => data.fill(v, i * 3, i * 3 + 3));
  return { width, height, data };
}

/** Channel 0 of every pixel. */
function red(img: RgbImage): number[] {
  return Array.from({ length: img.width * img.height }, (_, i) => img.data[i * 3]!);
}

/** Asserts element-wise closeness. */
function near(actual: ArrayLike<number>, expected: number[], tol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `[${i}] ${actual[i]} vs ${expected[i]}`);
  }
}

describe('resizeBilinear', () => {
  it('4×4 → 2×2 uses the widened triangle filter, by hand', () => {
    // Factor 2: support 2, centre of output 0 at 1.0 → taps 0,1,2 with weights
    // tri(−0.25), tri(0.25), tri(0.75) = 0.75, 0.75, 0.25 → 3/7, 3/7, 1/7; output 1
    // (centre 3.0) → taps 1,2,3 with 1/7, 3/7, 3/7 (tap 4 falls outside the image).
    // So this is not a 2×2 box average: the filter reaches half a pixel further.
    const v = Array.from({ length: 16 }, (_, i) => i * 10); // row r, column c: 40r + 10c
    const out = resizeBilinear(greyImage(4, 4, v), 2, 2);
    assert.equal(out.width, 2);
    assert.equal(out.height, 2);
    const [h0, h1] = [(3 * 0 + 3 * 10 + 20) / 7, (10 + 3 * 20 + 3 * 30) / 7]; // along a row
    const [w0, w1] = [(3 * 0 + 3 * 40 + 80) / 7, (40 + 3 * 80 + 3 * 120) / 7]; // down a column
    near(red(out), [h0 + w0, h1 + w0, h0 + w1, h1 + w1], 1e-4);
    near(red(out), [35.714287, 51.42857, 98.571434, 114.28571], 1e-4); // Pillow 9.4, mode F
  });

  it('matches Pillow on a non-integer downscale (5×4 → 3×2)', () => {
    const out = resizeBilinear(greyImage(5, 4, Array.from({ length: 20 }, (_, i) => i)), 3, 2);
    near(red(out), [4.0, 5.5714288, 7.142857, 11.857143, 13.428572, 15.0], 1e-5);
  });

  it('matches Pillow on upscaling: bilinear with half-pixel centres (3×2 → 5×3)', () => {
    const out = resizeBilinear(greyImage(3, 2, [0, 1, 2, 3, 4, 5]), 5, 3);
    near(red(out), [0, 0.4, 1, 1.6, 2, 1.5, 1.9, 2.5, 3.1, 3.5, 3, 3.4, 4, 4.6, 5], 1e-6);
  });

  it('resamples each channel independently', () => {
    const img: RgbImage = { width: 2, height: 1, data: Float32Array.from([1, 0, 0.5, 0, 1, 0.5]) };
    const out = resizeBilinear(img, 1, 1);
    near(out.data, [0.5, 0.5, 0.5], 1e-7);
  });

  it('keeps 16-bit precision: a flat 1000/65535 stays 1000/65535', () => {
    const v = 1000 / 65535;
    const out = resizeBilinear(greyImage(7, 5, Array(35).fill(v)), 3, 11);
    for (const x of out.data) assert.ok(Math.abs(x - v) < 1e-7);
  });

  it('returns a copy when the size is unchanged', () => {
    const img = greyImage(2, 2, [0.1, 0.2, 0.3, 0.4]);
    const out = resizeBilinear(img, 2, 2);
    assert.deepEqual(out.data, img.data);
    assert.notEqual(out.data, img.data);
  });

  it('refuses non-positive or fractional sizes', () => {
    const img = greyImage(2, 2, [0, 0, 0, 0]);
    assert.throws(() => resizeBilinear(img, 0, 2), RangeError);
    assert.throws(() => resizeBilinear(img, 2, 1.5), RangeError);
  });
});

describe('cropNormalised', () => {
  it('normalises with the ImageNet mean and std', () => {
    const mean = cropNormalised({ width: 1, height: 1, data: Float32Array.from([0.485, 0.456, 0.406]) }, 0, 0, 1);
    near(mean, [0, 0, 0], 1e-6);
    const white = cropNormalised({ width: 1, height: 1, data: Float32Array.from([1, 0, 0.5]) }, 0, 0, 1);
    near(white, [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0.5 - 0.406) / 0.225], 1e-6);
    assert.deepEqual(IMAGENET_MEAN, [0.485, 0.456, 0.406]);
    assert.deepEqual(IMAGENET_STD, [0.229, 0.224, 0.225]);
  });

  it('lays the window out as CHW at the given offset', () => {
    // 3×3 image, R = column/10, G = row/10, B = 0.
    const data = new Float32Array(27);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 3; x++) {
        data[(y * 3 + x) * 3] = x / 10;
        data[(y * 3 + x) * 3 + 1] = y / 10;
      }
    }
    const out = cropNormalised({ width: 3, height: 3, data }, 1, 0, 2);
    assert.equal(out.length, 3 * 2 * 2);
    const r = (v: number): number => (v - 0.485) / 0.229;
    const g = (v: number): number => (v - 0.456) / 0.224;
    const b = (v: number): number => (v - 0.406) / 0.225;
    near(out, [r(0.1), r(0.2), r(0.1), r(0.2), g(0), g(0), g(0.1), g(0.1), b(0), b(0), b(0), b(0)], 1e-6);
  });

  it('throws RangeError when the window leaves the image', () => {
    const img = greyImage(4, 4, Array(16).fill(0));
    assert.doesNotThrow(() => cropNormalised(img, 2, 2, 2));
    assert.throws(() => cropNormalised(img, 3, 0, 2), RangeError);
    assert.throws(() => cropNormalised(img, 0, -1, 2), RangeError);
    assert.throws(() => cropNormalised(img, 0, 0, 5), RangeError);
    assert.throws(() => cropNormalised(img, 0.5, 0, 2), RangeError);
  });
});

describe('centreOffset', () => {
  it('matches torchvision CenterCrop (Python round, half to even)', () => {
    assert.equal(centreOffset(256, 224), 16);
    assert.equal(centreOffset(224, 224), 0);
    assert.equal(centreOffset(225, 224), 0); // round(0.5) = 0
    assert.equal(centreOffset(227, 224), 2); // round(1.5) = 2
    assert.equal(centreOffset(257, 224), 16); // round(16.5) = 16
    assert.equal(centreOffset(259, 224), 18); // round(17.5) = 18
  });

  it('throws RangeError when the crop is larger than the image', () => {
    assert.throws(() => centreOffset(200, 224), RangeError);
  });
});

describe('loadImageTensor', () => {
  it('decodes, resizes, centre crops and normalises', async () => {
    const width = 40;
    const height = 30;
    const pixels = Buffer.alloc(width * height * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 13) % 256;
    const path = join(dir, 'in.png');
    await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(path);

    const opts = { resize: 20, crop: 16 };
    const tensor = await loadImageTensor(path, opts);
    assert.equal(tensor.length, 3 * 16 * 16);
    const expected = cropNormalised(resizeBilinear(await decodeRgb(path), 20, 20), 2, 2, 16);
    assert.deepEqual(tensor, expected);

    const full = await loadImageTensor(path, { resize: 20, crop: null });
    assert.equal(full.length, 3 * 20 * 20);
    assert.equal(full[2 * 20 + 2], tensor[0]); // crop offset (2, 2)
  });

  it('uses the paper defaults for the benchmark (the whole image is the default for user images)', async () => {
    assert.deepEqual(BENCHMARK_PREPROCESS, { resize: 256, crop: 224 });
    assert.deepEqual(DEFAULT_PREPROCESS, { mode: 'whole', side: 224, tile: null });
    const path = join(dir, 'flat.png');
    await sharp({ create: { width: 10, height: 12, channels: 3, background: { r: 255, g: 255, b: 255 } } })
      .png()
      .toFile(path);
    const tensor = await loadImageTensor(path, BENCHMARK_PREPROCESS);
    assert.equal(tensor.length, 3 * 224 * 224);
    near([tensor[0]!, tensor[224 * 224]!, tensor[2 * 224 * 224]!], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], 1e-5);
  });

  it('refuses bad options with NpadInputError', async () => {
    const path = join(dir, 'flat.png');
    await assert.rejects(loadImageTensor(path, { resize: 256, crop: 300 }), /crop 300 is larger than resize 256/);
    await assert.rejects(loadImageTensor(path, { resize: 0, crop: null }), NpadInputError);
    assert.throws(() => validatePreprocessOptions({ resize: 256, crop: 22.5 }), NpadInputError);
  });
});

describe('resizeBilinear on extreme shapes', () => {
  it('resizes a 1 × 3 000 000 strip vertically first, within bounded memory (horizontal first would need 2.3 G samples)', () => {
    const tall: RgbImage = { width: 1, height: 3_000_000, data: new Float32Array(3 * 3_000_000).fill(0.25) };
    assert.ok(256 * tall.height * 3 > MAX_INTERMEDIATE_SAMPLES);
    const out = resizeBilinear(tall, 256, 256);
    assert.deepEqual([out.width, out.height, out.data.length], [256, 256, 256 * 256 * 3]);
    assert.ok(out.data.every((v) => Math.abs(v - 0.25) < 1e-6), 'a uniform image stays uniform');
  });

  it("keeps PIL's horizontal-first order for ordinary images (the result does not depend on this guard)", () => {
    const img = greyImage(3, 2, [0, 1, 2, 3, 4, 5]);
    assert.ok(5 * img.height * 3 <= MAX_INTERMEDIATE_SAMPLES);
    near(red(resizeBilinear(img, 5, 3)), [0, 0.4, 1, 1.6, 2, 1.5, 1.9, 2.5, 3.1, 3.5, 3, 3.4, 4, 4.6, 5], 1e-6);
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { decodeRgb, encodedImageSize } from '../../src/image/decode.js';
import { NpadInputError } from '../../src/errors.js';
import type { RgbImage } from '../../src/image/rgbImage.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-decode-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes bytes into the temp dir and returns the path. */
async function put(name: string, bytes: Buffer | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** Raw 8-bit pixels → encoder chosen by `encode`. */
function raw8(values: number[], width: number, height: number, channels: 1 | 2 | 3 | 4): Sharp {
  return sharp(Buffer.from(values), { raw: { width, height, channels } });
}

/** Raw 16-bit pixels; the Uint16Array tells sharp the samples are ushort. */
function raw16(values: number[], width: number, height: number, channels: 1 | 2 | 3 | 4): Sharp {
  return sharp(new Uint16Array(values), { raw: { width, height, channels } }).toColourspace(
    channels <= 2 ? 'grey16' : 'rgb16',
  );
}

/** RGB samples of pixel i. */
function pixel(img: RgbImage, i: number): [number, number, number] {
  return [img.data[i * 3]!, img.data[i * 3 + 1]!, img.data[i * 3 + 2]!];
}

/** Float32 value of a/b, which is what decodeRgb stores. */
const f = (a: number, b: number): number => Math.fround(a / b);

/** Asserts every sample is within tol of the expected value. */
function near(actual: number[], expected: number[], tol: number): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= tol, `sample ${i}: ${v} vs ${expected[i]}`));
}

/** Asserts that `promise` rejects with an NpadInputError whose message starts with `file`. */
async function rejectsNaming(promise: Promise<unknown>, file: string, detail?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof NpadInputError, `expected NpadInputError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${file}: `), err.message);
    assert.equal(err.file, file);
    if (detail) assert.match(err.message, detail);
    return true;
  });
}

describe('decodeRgb: PNG', () => {
  it('reads 8-bit RGB exactly as k/255', async () => {
    const path = await put('rgb8.png', await raw8([0, 128, 255, 1, 2, 3], 2, 1, 3).png().toBuffer());
    const img = await decodeRgb(path);
    assert.equal(img.width, 2);
    assert.equal(img.height, 1);
    assert.equal(img.data.length, 6);
    assert.deepEqual(pixel(img, 0), [0, f(128, 255), 1]);
    assert.deepEqual(pixel(img, 1), [f(1, 255), f(2, 255), f(3, 255)]);
  });

  it('reads 16-bit RGB with full precision: 65535 → 1, 257·k → k/255', async () => {
    const path = await put('rgb16.png', await raw16([65535, 257 * 10, 0, 1000, 1001, 40000], 2, 1, 3).png().toBuffer());
    const img = await decodeRgb(path);
    assert.deepEqual(pixel(img, 0), [1, f(10, 255), 0]);
    // 1000 and 1001 are one 16-bit step apart: they would collapse to the same 8-bit value.
    assert.deepEqual(pixel(img, 1), [f(1000, 65535), f(1001, 65535), f(40000, 65535)]);
  });

  it('expands 8-bit grey to R = G = B', async () => {
    const path = await put('grey8.png', await raw8([0, 100, 200, 255], 2, 2, 1).png().toBuffer());
    const img = await decodeRgb(path);
    assert.equal(img.width, 2);
    assert.equal(img.height, 2);
    assert.deepEqual(pixel(img, 1), [f(100, 255), f(100, 255), f(100, 255)]);
    assert.deepEqual(pixel(img, 3), [1, 1, 1]);
  });

  it('expands 16-bit grey keeping precision', async () => {
    const path = await put('grey16.png', await raw16([0, 257 * 77, 65535, 1234], 2, 2, 1).png().toBuffer());
    const img = await decodeRgb(path);
    assert.deepEqual(pixel(img, 1), [f(77, 255), f(77, 255), f(77, 255)]);
    assert.deepEqual(pixel(img, 3), [f(1234, 65535), f(1234, 65535), f(1234, 65535)]);
  });

  it('composites 8-bit grey+alpha onto black', async () => {
    const path = await put('ga8.png', await raw8([100, 255, 200, 128, 50, 0], 3, 1, 2).png().toBuffer());
    const img = await decodeRgb(path);
    near(pixel(img, 0), [100 / 255, 100 / 255, 100 / 255], 1e-7);
    near(pixel(img, 1), Array(3).fill((200 / 255) * (128 / 255)), 1e-7);
    assert.deepEqual(pixel(img, 2), [0, 0, 0]); // fully transparent → black
  });

  it('composites 16-bit grey+alpha onto black', async () => {
    const path = await put('ga16.png', await raw16([1000, 65535, 2000, 32768], 2, 1, 2).png().toBuffer());
    const img = await decodeRgb(path);
    near(pixel(img, 0), Array(3).fill(1000 / 65535), 1e-7);
    near(pixel(img, 1), Array(3).fill((2000 / 65535) * (32768 / 65535)), 1e-7);
  });

  it('composites 8-bit RGBA onto black', async () => {
    const path = await put('rgba8.png', await raw8([100, 50, 25, 255, 200, 100, 50, 51], 2, 1, 4).png().toBuffer());
    const img = await decodeRgb(path);
    near(pixel(img, 0), [100 / 255, 50 / 255, 25 / 255], 1e-7);
    near(pixel(img, 1), [200 / 255 * 0.2, 100 / 255 * 0.2, 50 / 255 * 0.2], 1e-7);
  });

  it('composites 16-bit RGBA onto black', async () => {
    const path = await put('rgba16.png', await raw16([1000, 2000, 3000, 65535, 40000, 50000, 60000, 0], 2, 1, 4).png().toBuffer());
    const img = await decodeRgb(path);
    near(pixel(img, 0), [1000 / 65535, 2000 / 65535, 3000 / 65535], 1e-7);
    assert.deepEqual(pixel(img, 1), [0, 0, 0]);
  });

  it('reads palette PNG', async () => {
    const path = await put('palette.png', await raw8([255, 0, 0, 0, 0, 255], 2, 1, 3).png({ palette: true }).toBuffer());
    const img = await decodeRgb(path);
    near(pixel(img, 0), [1, 0, 0], 2 / 255);
    near(pixel(img, 1), [0, 0, 1], 2 / 255);
  });

  it('accepts a Buffer and names it in errors', async () => {
    const bytes = await raw8([9, 8, 7], 1, 1, 3).png().toBuffer();
    assert.deepEqual(pixel(await decodeRgb(bytes), 0), [f(9, 255), f(8, 255), f(7, 255)]);
    await rejectsNaming(decodeRgb(Buffer.from('nope')), '<buffer>');
    await rejectsNaming(decodeRgb(Buffer.from('nope'), 'upload.png'), 'upload.png');
  });
});

describe('decodeRgb: JPEG, TIFF, GIF', () => {
  const uniform = (r: number, g: number, b: number): Sharp =>
    sharp({ create: { width: 8, height: 8, channels: 3, background: { r, g, b } } });

  it('reads RGB JPEG', async () => {
    const path = await put('rgb.jpg', await uniform(200, 100, 50).jpeg({ quality: 100 }).toBuffer());
    const img = await decodeRgb(path);
    assert.equal(img.width, 8);
    near(pixel(img, 27), [200 / 255, 100 / 255, 50 / 255], 3 / 255);
  });

  it('reads greyscale JPEG as R = G = B', async () => {
    const path = await put('grey.jpg', await raw8(Array(64).fill(90), 8, 8, 1).jpeg({ quality: 100 }).toBuffer());
    const img = await decodeRgb(path);
    const [r, g, b] = pixel(img, 10);
    assert.equal(r, g);
    assert.equal(g, b);
    near([r], [90 / 255], 2 / 255);
  });

  it('converts CMYK JPEG and TIFF to RGB', async () => {
    for (const [name, enc] of [
      ['cmyk.jpg', (s: Sharp) => s.jpeg({ quality: 100 })],
      ['cmyk.tif', (s: Sharp) => s.tiff({ compression: 'lzw' })],
    ] as const) {
      const bytes = await enc(uniform(230, 40, 40).toColourspace('cmyk')).toBuffer();
      assert.equal((await sharp(bytes).metadata()).space, 'cmyk');
      const img = await decodeRgb(await put(name, bytes));
      assert.equal(img.data.length, 8 * 8 * 3);
      // The colour goes through libvips' CMYK ICC profile both ways, so only
      // its character is checked: strongly red.
      const [r, g, b] = pixel(img, 0);
      assert.ok(r > 0.8 && g < 0.35 && b < 0.35, `${r} ${g} ${b}`);
    }
  });

  it('reads 8-bit and 16-bit TIFF exactly', async () => {
    const t8 = await put('rgb8.tif', await raw8([10, 20, 30, 250, 240, 230], 2, 1, 3).tiff({ compression: 'lzw' }).toBuffer());
    assert.deepEqual(pixel(await decodeRgb(t8), 1), [f(250, 255), f(240, 255), f(230, 255)]);
    const t16 = await put('rgb16.tiff', await raw16([65535, 257 * 3, 1001, 0, 0, 0], 2, 1, 3).tiff({ compression: 'lzw' }).toBuffer());
    assert.deepEqual(pixel(await decodeRgb(t16), 0), [1, f(3, 255), f(1001, 65535)]);
    const g16 = await put('grey16.tif', await raw16([1234, 65535], 2, 1, 1).tiff({ compression: 'none' }).toBuffer());
    assert.deepEqual(pixel(await decodeRgb(g16), 0), Array(3).fill(f(1234, 65535)));
  });

  it('takes the first frame of an animated GIF and the first page of a multi-page TIFF', async () => {
    const red = await uniform(255, 0, 0).png().toBuffer();
    const green = await uniform(0, 255, 0).png().toBuffer();
    const gif = await sharp([red, green], { join: { animated: true } }).gif().toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const tif = await sharp([red, green], { join: { animated: true } }).tiff({ compression: 'lzw' }).toBuffer();
    for (const [name, bytes] of [['anim.gif', gif], ['pages.tif', tif]] as const) {
      const img = await decodeRgb(await put(name, bytes));
      assert.equal(img.width, 8, name);
      assert.equal(img.height, 8, name); // one frame, not the stacked strip
      near(pixel(img, 63), [1, 0, 0], 2 / 255);
    }
  });
});

describe('decodeRgb: bad input', () => {
  it('refuses a zero-byte file', async () => {
    const path = await put('empty.png', Buffer.alloc(0));
    await rejectsNaming(decodeRgb(path), path, /empty file/);
  });

  it('refuses a truncated PNG', async () => {
    const pixels = Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 37) % 256);
    const png = await raw8(pixels, 32, 32, 3).png({ compressionLevel: 0 }).toBuffer();
    const path = await put('truncated.png', png.subarray(0, png.length >> 1));
    await rejectsNaming(decodeRgb(path), path, /not a decodable image \(.+\)/);
  });

  it('refuses a truncated header', async () => {
    const png = await raw8([1, 2, 3], 1, 1, 3).png().toBuffer();
    const path = await put('header.png', png.subarray(0, 20));
    await rejectsNaming(decodeRgb(path), path, /not a decodable image/);
  });

  it('refuses a truncated JPEG', async () => {
    const pixels = Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 37) % 256);
    const jpg = await raw8(pixels, 64, 64, 3).jpeg().toBuffer();
    const path = await put('truncated.jpg', jpg.subarray(0, jpg.length >> 1));
    await rejectsNaming(decodeRgb(path), path, /not a decodable image/);
  });

  it('refuses a text file named .png', async () => {
    const path = await put('text.png', 'this is not an image\n');
    await rejectsNaming(decodeRgb(path), path, /not a decodable image \(npad reads PNG, JPEG, TIFF, BMP, WebP and GIF; this file starts as none of them\)/);
  });

  it('refuses a missing file and a folder', async () => {
    const missing = join(dir, 'missing.png');
    await rejectsNaming(decodeRgb(missing), missing, /cannot read: no such file/);
    const folder = join(dir, 'folder.png');
    await mkdir(folder);
    await rejectsNaming(decodeRgb(folder), folder, /folder/);
  });

  it('refuses images above limitInputPixels before decoding them', async () => {
    const path = await put('big.png', await raw8(Array(20 * 20).fill(0), 20, 20, 1).png().toBuffer());
    await rejectsNaming(decodeRgb(path, undefined, { limitInputPixels: 399 }), path, /20×20 = 400 pixels.*limitInputPixels/);
    const img = await decodeRgb(path, undefined, { limitInputPixels: 400 });
    assert.equal(img.width, 20);
  });

  it('refuses a bad limitInputPixels option', async () => {
    const path = await put('ok.png', await raw8([1, 2, 3], 1, 1, 3).png().toBuffer());
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(decodeRgb(path, undefined, { limitInputPixels: limit }), NpadInputError);
    }
  });
});

describe('formats by their first bytes', () => {
  it('refuses SVG (libvips would run its filters) and anything not PNG, JPEG, TIFF, BMP, WebP or GIF, whatever the name', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    await assert.rejects(decodeRgb(svg, 'part.png'), (e: unknown) => e instanceof NpadInputError && /^part\.png: not a decodable image \(npad reads PNG, JPEG, TIFF, BMP, WebP and GIF; this file starts as none of them\)$/.test(e.message));
    await assert.rejects(encodedImageSize(svg, 'part.png'), NpadInputError);
    for (const format of ['png', 'jpeg', 'tiff', 'webp', 'gif'] as const) {
      const bytes = await sharp({ create: { width: 3, height: 2, channels: 3, background: { r: 10, g: 20, b: 30 } } }).toFormat(format).toBuffer();
      assert.equal((await decodeRgb(bytes, `x.${format}`)).width, 3, format);
    }
  });
});

describe('decode time limit', () => {
  it('decodes within the limit, and refuses a limit below a second', async () => {
    const bytes = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    assert.equal((await decodeRgb(bytes, 'x.png', { timeoutSeconds: 1 })).width, 4);
    await assert.rejects(decodeRgb(bytes, 'x.png', { timeoutSeconds: 0 }), RangeError);
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadMask } from '../../src/image/mask.js';
import { imageSourceSize as imageSize } from '../../src/image/source.js';
import { NpadInputError } from '../../src/errors.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-mask-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes an 8-bit grey PNG mask and returns its path. */
async function greyMask(name: string, width: number, height: number, values: number[]): Promise<string> {
  const path = join(dir, name);
  await sharp(Buffer.from(values), { raw: { width, height, channels: 1 } }).png().toFile(path);
  return path;
}

describe('loadMask', () => {
  it('binarises at > 127 (soft edges are thresholded)', async () => {
    const path = await greyMask('soft.png', 6, 1, [0, 100, 127, 128, 200, 255]);
    // Same size, no crop: only the threshold acts.
    const mask = await loadMask(path, { resize: 6, crop: null });
    assert.equal(mask.length, 36);
    assert.deepEqual(Array.from(mask.subarray(0, 6)), [0, 0, 0, 1, 1, 1]); // first output row = the one source row
  });

  it('resizes nearest-neighbour like PIL (3×3 → 7×7)', async () => {
    // One white pixel in the centre. PIL NEAREST takes source floor((x + 0.5)·3/7):
    // output columns 0..6 → 0,0,1,1,1,2,2, so the centre covers rows/columns 2..4.
    const path = await greyMask('dot.png', 3, 3, [0, 0, 0, 0, 255, 0, 0, 0, 0]);
    const mask = await loadMask(path, { resize: 7, crop: null });
    for (let y = 0; y < 7; y++) {
      for (let x = 0; x < 7; x++) {
        const inside = y >= 2 && y <= 4 && x >= 2 && x <= 4;
        assert.equal(mask[y * 7 + x], inside ? 1 : 0, `(${x}, ${y})`);
      }
    }
  });

  it('centre crops like the image (8 → crop 4 at offset 2)', async () => {
    const values = Array.from({ length: 64 }, (_, i) => ((i % 8) === 2 || Math.floor(i / 8) === 5 ? 255 : 0));
    const path = await greyMask('lines.png', 8, 8, values);
    const mask = await loadMask(path, { resize: 8, crop: 4 });
    assert.equal(mask.length, 16);
    // Column 2 becomes crop column 0; row 5 becomes crop row 3.
    const expected = Array.from({ length: 16 }, (_, i) => (i % 4 === 0 || Math.floor(i / 4) === 3 ? 1 : 0));
    assert.deepEqual(Array.from(mask), expected);
  });

  it('reads RGB and 16-bit masks', async () => {
    const rgb = join(dir, 'rgb.png');
    await sharp(Buffer.from([255, 255, 255, 0, 0, 0]), { raw: { width: 2, height: 1, channels: 3 } }).png().toFile(rgb);
    assert.deepEqual(Array.from((await loadMask(rgb, { resize: 2, crop: null })).subarray(0, 2)), [1, 0]);
    const deep = join(dir, 'deep.png');
    await sharp(new Uint16Array([65535, 257 * 127, 257 * 128, 0]), { raw: { width: 4, height: 1, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toFile(deep);
    assert.deepEqual(Array.from((await loadMask(deep, { resize: 4, crop: null })).subarray(0, 4)), [1, 0, 1, 0]);
  });

  it('refuses a mask whose size differs from its image', async () => {
    const path = await greyMask('small.png', 100, 90, Array(9000).fill(0));
    await assert.rejects(loadMask(path, { resize: 256, crop: 224 }, { width: 256, height: 256 }), (err: unknown) => {
      assert.ok(err instanceof NpadInputError);
      assert.equal(err.message, `${path}: mask is 100×90 but its image is 256×256`);
      assert.equal(err.file, path);
      return true;
    });
    const ok = await loadMask(path, { resize: 256, crop: 224 }, { width: 100, height: 90 });
    assert.equal(ok.length, 224 * 224);
  });

  it('refuses a bad mask file, naming it', async () => {
    const path = join(dir, 'bad_mask.png');
    await writeFile(path, 'not a png');
    await assert.rejects(loadMask(path, { resize: 8, crop: null }), (err: unknown) => {
      assert.ok(err instanceof NpadInputError);
      assert.ok(err.message.startsWith(`${path}: not a decodable image`), err.message);
      return true;
    });
  });
});

describe('imageSize', () => {
  it('reads width and height from the header', async () => {
    const path = await greyMask('size.png', 5, 3, Array(15).fill(0));
    assert.deepEqual(await imageSize(path), { width: 5, height: 3 });
    const jpg = join(dir, 'size.jpg');
    await sharp({ create: { width: 9, height: 4, channels: 3, background: '#123456' } }).jpeg().toFile(jpg);
    assert.deepEqual(await imageSize(jpg), { width: 9, height: 4 });
  });

  it('refuses bad files with NpadInputError naming them', async () => {
    const empty = join(dir, 'empty.png');
    await writeFile(empty, Buffer.alloc(0));
    const text = join(dir, 'text.jpg');
    await writeFile(text, 'hello');
    const missing = join(dir, 'nope.png');
    for (const path of [empty, text, missing]) {
      await assert.rejects(imageSize(path), (err: unknown) => {
        assert.ok(err instanceof NpadInputError);
        assert.ok(err.message.startsWith(`${path}: `), err.message);
        return true;
      });
    }
  });
});

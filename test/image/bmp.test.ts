import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRgb } from '../../src/image/decode.js';
import { bmpSize, decodeBmp, isBmp } from '../../src/image/bmp.js';
import { imageSourceSize as imageSize } from '../../src/image/source.js';
import { NpadInputError } from '../../src/errors.js';
import type { RgbImage } from '../../src/image/rgbImage.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-bmp-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface BmpSpec {
  width: number;
  height: number;
  bitCount: number;
  /** packed bytes of each row, top row first, without padding */
  rows: number[][];
  /** RGB colours for paletted files */
  palette?: [number, number, number][];
  topDown?: boolean;
  compression?: number;
  /** R, G, B(, A) masks; written after a 40-byte header, or inside a 108-byte one when there are four */
  masks?: number[];
}

/** Encodes a BMP file the way Windows writers lay it out. */
function makeBmp(spec: BmpSpec): Buffer {
  const dibSize = spec.masks?.length === 4 ? 108 : 40;
  const masksAfterHeader = spec.masks?.length === 3 ? 12 : 0;
  const palette = spec.palette ?? [];
  const stride = Math.ceil((spec.width * spec.bitCount) / 32) * 4;
  const pixelOffset = 14 + dibSize + masksAfterHeader + palette.length * 4;
  const out = Buffer.alloc(pixelOffset + stride * spec.height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(pixelOffset, 10);
  out.writeUInt32LE(dibSize, 14);
  out.writeInt32LE(spec.width, 18);
  out.writeInt32LE(spec.topDown === true ? -spec.height : spec.height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(spec.bitCount, 28);
  out.writeUInt32LE(spec.compression ?? 0, 30);
  out.writeUInt32LE(palette.length, 46);
  (spec.masks ?? []).forEach((m, i) => out.writeUInt32LE(m >>> 0, 54 + i * 4));
  palette.forEach(([r, g, b], i) => {
    const at = 14 + dibSize + masksAfterHeader + i * 4;
    out[at] = b;
    out[at + 1] = g;
    out[at + 2] = r;
  });
  spec.rows.forEach((row, y) => {
    const stored = spec.topDown === true ? y : spec.height - 1 - y;
    Buffer.from(row).copy(out, pixelOffset + stored * stride);
  });
  return out;
}

/** Writes a BMP to the temp dir and decodes it through decodeRgb. */
async function decodeFile(name: string, bytes: Buffer): Promise<RgbImage> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return decodeRgb(path);
}

/** All pixels as 0–255 integers (rounded), row-major. */
function bytes255(img: RgbImage): number[] {
  return Array.from(img.data, (v) => Math.round(v * 255));
}

describe('BMP decoding', () => {
  it('reads 24-bit bottom-up rows in the right order and colour', async () => {
    // 2×2: top row red, green; bottom row blue, white. Stored B, G, R.
    const bmp = makeBmp({
      width: 2,
      height: 2,
      bitCount: 24,
      rows: [
        [0, 0, 255, 0, 255, 0],
        [255, 0, 0, 255, 255, 255],
      ],
    });
    assert.ok(isBmp(bmp));
    const img = await decodeFile('rgb24.bmp', bmp);
    assert.equal(img.width, 2);
    assert.equal(img.height, 2);
    assert.deepEqual(bytes255(img), [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  });

  it('reads top-down rows', async () => {
    const img = await decodeFile(
      'topdown.bmp',
      makeBmp({ width: 1, height: 2, bitCount: 24, topDown: true, rows: [[10, 20, 30], [40, 50, 60]] }),
    );
    assert.deepEqual(bytes255(img), [30, 20, 10, 60, 50, 40]);
  });

  it('reads 32-bit BI_RGB, ignoring the reserved fourth byte', async () => {
    const img = await decodeFile(
      'rgb32.bmp',
      makeBmp({ width: 2, height: 1, bitCount: 32, rows: [[1, 2, 3, 0, 4, 5, 6, 0]] }),
    );
    assert.deepEqual(bytes255(img), [3, 2, 1, 6, 5, 4]);
  });

  it('reads 8-, 4- and 1-bit paletted files', async () => {
    const palette: [number, number, number][] = [
      [0, 0, 0],
      [255, 0, 0],
      [0, 128, 255],
    ];
    const p8 = await decodeFile('p8.bmp', makeBmp({ width: 3, height: 1, bitCount: 8, palette, rows: [[2, 1, 0]] }));
    assert.deepEqual(bytes255(p8), [0, 128, 255, 255, 0, 0, 0, 0, 0]);
    // 4-bit: two pixels per byte, high nibble first.
    const p4 = await decodeFile('p4.bmp', makeBmp({ width: 3, height: 1, bitCount: 4, palette, rows: [[0x12, 0x00]] }));
    assert.deepEqual(bytes255(p4), [255, 0, 0, 0, 128, 255, 0, 0, 0]);
    // 1-bit: eight pixels per byte, most significant bit first.
    const p1 = await decodeFile(
      'p1.bmp',
      makeBmp({ width: 3, height: 1, bitCount: 1, palette: [[0, 0, 0], [255, 255, 255]], rows: [[0b10100000]] }),
    );
    assert.deepEqual(bytes255(p1), [255, 255, 255, 0, 0, 0, 255, 255, 255]);
  });

  it('reads 16-bit RGB565 bit fields', async () => {
    const rgb565 = (r: number, g: number, b: number): number[] => {
      const v = (r << 11) | (g << 5) | b;
      return [v & 0xff, v >> 8];
    };
    const img = await decodeFile(
      'rgb565.bmp',
      makeBmp({ width: 2, height: 1, bitCount: 16, compression: 3, masks: [0xf800, 0x07e0, 0x001f], rows: [[...rgb565(31, 0, 0), ...rgb565(0, 63, 15)]] }),
    );
    assert.deepEqual(bytes255(img), [255, 0, 0, 0, 255, Math.round((15 / 31) * 255)]);
  });

  it('composites a 32-bit bit-field alpha onto black, unless alpha is all zero', async () => {
    const masks = [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000];
    const withAlpha = await decodeFile(
      'bgra.bmp',
      makeBmp({ width: 2, height: 1, bitCount: 32, compression: 3, masks, rows: [[0, 0, 200, 255, 0, 0, 200, 0]] }),
    );
    assert.deepEqual(bytes255(withAlpha), [200, 0, 0, 0, 0, 0]);
    const zeroAlpha = await decodeFile(
      'bgra0.bmp',
      makeBmp({ width: 2, height: 1, bitCount: 32, compression: 3, masks, rows: [[0, 0, 200, 0, 0, 100, 0, 0]] }),
    );
    assert.deepEqual(bytes255(zeroAlpha), [200, 0, 0, 0, 100, 0]);
  });

  it('reports its size from the header', async () => {
    const bmp = makeBmp({ width: 3, height: 2, bitCount: 24, rows: [[], []] });
    assert.deepEqual(bmpSize(bmp, 'x.bmp'), { width: 3, height: 2 });
    const path = join(dir, 'size.bmp');
    await writeFile(path, bmp);
    assert.deepEqual(await imageSize(path), { width: 3, height: 2 });
  });
});

describe('BMP errors', () => {
  /** Asserts an NpadInputError starting with name and matching detail. */
  const throwsNaming = (fn: () => unknown, name: string, detail: RegExp): void => {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof NpadInputError);
      assert.ok(err.message.startsWith(`${name}: `), err.message);
      assert.match(err.message, detail);
      return true;
    });
  };

  it('refuses truncated pixel data', async () => {
    const bmp = makeBmp({ width: 4, height: 4, bitCount: 24, rows: [[], [], [], []] });
    const path = join(dir, 'truncated.bmp');
    await writeFile(path, bmp.subarray(0, bmp.length - 5));
    await assert.rejects(decodeRgb(path), (err: unknown) => {
      assert.ok(err instanceof NpadInputError);
      assert.ok(err.message.startsWith(`${path}: truncated BMP`), err.message);
      return true;
    });
  });

  it('refuses RLE compression and a truncated header', () => {
    const rle = makeBmp({ width: 1, height: 1, bitCount: 8, compression: 1, palette: [[0, 0, 0]], rows: [[0]] });
    throwsNaming(() => decodeBmp(rle, 'rle.bmp', 1e8), 'rle.bmp', /RLE8 not supported/);
    throwsNaming(() => decodeBmp(rle.subarray(0, 20), 'short.bmp', 1e8), 'short.bmp', /header truncated/);
  });

  it('refuses images over the pixel limit', () => {
    const bmp = makeBmp({ width: 10, height: 10, bitCount: 24, rows: [] });
    throwsNaming(() => decodeBmp(bmp, 'big.bmp', 99), 'big.bmp', /10×10 = 100 pixels.*limitInputPixels/);
  });
});

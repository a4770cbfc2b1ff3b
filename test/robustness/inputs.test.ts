/**
 * The input case table: damaged, hostile and unusual image files, masks and dataset folders, each run through the
 * library entry point that reads it. A refusal must be an NpadInputError whose message starts with the file
 * concerned; the "works" cases must decode to the right pixels. Every outcome is written to docs/robustness.md.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { findTrainImages } from '../../src/cli/trainImages.js';
import { readMvtecDataset } from '../../src/data/mvtec.js';
import { NpadInputError } from '../../src/errors.js';
import { decodeRgb } from '../../src/image/decode.js';
import { loadMask } from '../../src/image/mask.js';
import { writeSection, stable, table } from './report.js';
import { bmpWithSize, gradientPixels, jpegWithSize, pngWithSize, sampleImages, tiffWithSize } from './samples.js';
import type { RgbImage } from '../../src/image/rgbImage.js';

let tmp = '';
let samples = new Map<string, Buffer>();
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'npad-robust-'));
  samples = await sampleImages();
});

/** One row of a table in the document. */
interface Row {
  case: string;
  input: string;
  outcome: string;
}
const rows: Record<'images' | 'masks' | 'datasets', Row[]> = { images: [], masks: [], datasets: [] };

after(async () => {
  const intro = (group: string): string => `${rows[group as keyof typeof rows].length} cases`;
  await writeSection(
    'inputs',
    [
      '## Input files and folders',
      '',
      'Run by test/robustness/inputs.test.ts through the library calls that read them (`decodeRgb`, `loadMask`,',
      '`readMvtecDataset`, and `npad fit`\'s folder search). "refused" rows are `NpadInputError`s whose message starts',
      'with the file concerned; with `npad fit`/`npad eval` an unreadable image is skipped instead (exit code 3, see',
      'below), a bad folder stops the command (exit code 2). Decompression bombs are refused from their header (the',
      'pixel limit, 100 megapixels by default, and a data-size check: a file must hold enough bytes for the size it',
      'declares) before any pixel memory is allocated.',
      '',
      `### Image files (\`decodeRgb\`, ${intro('images')})`,
      '',
      table(['case', 'input', 'outcome'], rows.images.map((r) => [r.case, r.input, r.outcome])),
      '',
      `### Masks (\`loadMask\`, ${intro('masks')})`,
      '',
      table(['case', 'input', 'outcome'], rows.masks.map((r) => [r.case, r.input, r.outcome])),
      '',
      `### Dataset folders (${intro('datasets')})`,
      '',
      table(['case', 'layout', 'outcome'], rows.datasets.map((r) => [r.case, r.input, r.outcome])),
    ].join('\n'),
  );
  await rm(tmp, { recursive: true, force: true });
});

/** Writes bytes to the temp folder and returns the path. */
async function put(name: string, bytes: Buffer | string): Promise<string> {
  const file = path.join(tmp, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  return file;
}

/** Runs a call expected to refuse, checks the error names `file`, and returns the row's outcome text. */
async function refused(call: Promise<unknown>, file: string, detail?: RegExp): Promise<string> {
  const started = performance.now();
  let error: unknown = null;
  try {
    await call;
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - started;
  assert.ok(error instanceof NpadInputError, `expected an NpadInputError, got ${error === null ? 'success' : String(error)}`);
  assert.ok(error.message.startsWith(`${file}: `), `message does not start with the file: ${error.message}`);
  if (detail) assert.match(error.message, detail);
  // Refusals come from headers and sizes: none may take long (a bomb must not be decoded first).
  assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
  return `refused: ${stable(error.message, tmp)}`;
}

/** The first pixel as 0–255 integers. */
function firstPixel(img: RgbImage): number[] {
  return Array.from(img.data.subarray(0, 3), (v) => Math.round(v * 255));
}

/** Asserts a decoded image and describes it. */
function decoded(img: RgbImage, width: number, height: number, pixel?: number[], tolerance = 3): string {
  assert.equal(img.width, width);
  assert.equal(img.height, height);
  const p = firstPixel(img);
  if (pixel) p.forEach((v, i) => assert.ok(Math.abs(v - pixel[i]!) <= tolerance, `pixel ${p.join(',')} vs ${pixel.join(',')}`));
  return `works: ${img.width}×${img.height}, first pixel RGB (${p.join(', ')})`;
}

describe('image files', () => {
  const image = (name: string, input: string | (() => string), run: () => Promise<string>): void => {
    it(name, async () => {
      const outcome = await run();
      rows.images.push({ case: name, input: typeof input === 'string' ? input : input(), outcome });
    });
  };
  const half = (b: Buffer): Buffer => b.subarray(0, b.length >> 1);
  // The first pixel of the 16×16 gradient, and of its negation (the second frame of the animations).
  const first = Array.from(gradientPixels().subarray(0, 3));

  image('zero-byte file', 'empty.png, 0 bytes', async () => refused(decodeRgb(await put('empty.png', '')), path.join(tmp, 'empty.png'), /empty file/));
  for (const [name, base] of [['PNG', 'png-rgb8'], ['JPEG', 'jpeg'], ['TIFF', 'tiff-none'], ['BMP', 'bmp-24'], ['WebP', 'webp']] as const) {
    image(`truncated ${name}`, `${base}, first half of its bytes`, async () => {
      const file = await put(`truncated-${base}`, half(samples.get(base)!));
      return refused(decodeRgb(file), file);
    });
  }
  image('PNG cut inside its header', 'first 20 bytes of a PNG', async () => {
    const file = await put('header.png', samples.get('png-rgb8')!.subarray(0, 20));
    return refused(decodeRgb(file), file);
  });
  image('text file named .png', '"this is not an image"', async () => {
    const file = await put('text.png', 'this is not an image\n');
    return refused(decodeRgb(file), file, /not a decodable image/);
  });
  image('random bytes named .jpg', '4 KiB of random bytes', async () => {
    const bytes = Buffer.alloc(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    const file = await put('random.jpg', bytes);
    return refused(decodeRgb(file), file, /not a decodable image/);
  });
  image('PDF named .png', '%PDF-1.4 …', async () => {
    const file = await put('doc.png', '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n');
    return refused(decodeRgb(file), file, /not a decodable image/);
  });
  image('missing file', 'nothing at the path', async () => refused(decodeRgb(path.join(tmp, 'missing.png')), path.join(tmp, 'missing.png'), /cannot read: no such file/));
  image('a folder named like an image', 'folder.png/', async () => {
    const folder = path.join(tmp, 'folder.png');
    await mkdir(folder, { recursive: true });
    return refused(decodeRgb(folder), folder, /folder/);
  });

  // Decompression bombs: a real small file whose header declares a huge size.
  const bombs: [string, string, (b: Buffer, w: number, h: number) => Buffer, number][] = [
    ['PNG', 'png-rgb8', pngWithSize, 100_000],
    ['PNG', 'png-rgb8', pngWithSize, 10_000],
    ['JPEG', 'jpeg', jpegWithSize, 65_500],
    ['JPEG', 'jpeg', jpegWithSize, 9_000],
    ['BMP', 'bmp-24', bmpWithSize, 100_000],
    ['BMP', 'bmp-24', bmpWithSize, 9_000],
    ['TIFF', 'tiff-none', tiffWithSize, 100_000],
    ['TIFF', 'tiff-lzw', tiffWithSize, 9_000],
  ];
  for (const [format, base, patch, side] of bombs) {
    const bytes = (): Buffer => patch(samples.get(base)!, side, side);
    image(`decompression bomb, ${format}, ${side >= 65_000 ? 'over' : 'within'} the pixel limit`, () => `${base} (${samples.get(base)!.length} bytes) declaring ${side}×${side}`, async () => {
      const file = await put(`bomb-${side}.${format.toLowerCase()}`, bytes());
      const rss = process.memoryUsage().rss;
      const outcome = await refused(decodeRgb(file), file);
      assert.ok(process.memoryUsage().rss - rss < 200 * 2 ** 20, 'no pixel memory allocated');
      return outcome;
    });
  }
  image('decompression bomb, animated WebP canvas', 'webp-animated (168 bytes) whose canvas says 9000×9000', async () => {
    const b = Buffer.from(samples.get('webp-animated')!);
    assert.equal(b.toString('latin1', 12, 16), 'VP8X');
    b.writeUIntLE(8999, 24, 3);
    b.writeUIntLE(8999, 27, 3);
    const file = await put('bomb.webp', b);
    return refused(decodeRgb(file), file, /decompression bomb/);
  });
  image('GIF whose logical screen says 9000×9000', 'gif-animated, screen size patched', async () => {
    const b = Buffer.from(samples.get('gif-animated')!);
    b.writeUInt16LE(9000, 6);
    b.writeUInt16LE(9000, 8);
    return decoded(await decodeRgb(await put('screen.gif', b)), 16, 16, first);
  });
  image('image over a lower limitInputPixels', '16×16 PNG, limit 100', async () => {
    const file = await put('limit.png', samples.get('png-rgb8')!);
    return refused(decodeRgb(file, file, { limitInputPixels: 100 }), file, /over the limit of 100/);
  });

  // Unusual but valid: these must decode.
  const works: [string, string, number[] | undefined][] = [
    ['CMYK JPEG', 'jpeg-cmyk', undefined],
    ['CMYK TIFF', 'tiff-cmyk', undefined],
    ['16-bit grey PNG', 'png-grey16', undefined],
    ['RGBA PNG (alpha composited onto black)', 'png-rgba8', first.map((v) => Math.round((v * 200) / 255))],
    ['palette PNG', 'png-palette', first],
    ['progressive JPEG', 'jpeg-progressive', undefined],
    ['animated GIF (first frame)', 'gif-animated', first],
    ['animated WebP (first frame)', 'webp-animated', first],
    ['8-bit paletted BMP', 'bmp-8', [first[0]!, first[0]!, first[0]!]],
    ['32-bit BMP with bit fields and alpha', 'bmp-32-bitfields', first.map((v) => Math.round((v * 200) / 255))],
  ];
  for (const [name, base, pixel] of works) {
    image(name, base, async () => decoded(await decodeRgb(await put(`ok-${base}`, samples.get(base)!)), 16, 16, pixel, 12));
  }
  image('16-bit RGB TIFF', '16×16, 16 bits per sample', async () => {
    const samples16 = Uint16Array.from(gradientPixels(), (v) => v * 257);
    const bytes = await sharp(samples16, { raw: { width: 16, height: 16, channels: 3 } }).toColourspace('rgb16').tiff({ compression: 'lzw' }).toBuffer();
    assert.equal((await sharp(bytes).metadata()).depth, 'ushort');
    return decoded(await decodeRgb(await put('rgb16.tif', bytes)), 16, 16, first);
  });
});

describe('masks', () => {
  const preprocess = { resize: 16, crop: 8 };
  const mask = (name: string, input: string, run: () => Promise<string>): void => {
    it(name, async () => {
      rows.masks.push({ case: name, input, outcome: await run() });
    });
  };
  const png = (w: number, h: number, channels: 1 | 3 = 1, depth16 = false): Promise<Buffer> => {
    const s = sharp(Buffer.alloc(w * h * channels, 255), { raw: { width: w, height: h, channels } });
    return (depth16 ? s.toColourspace('grey16') : s).png().toBuffer();
  };
  mask('mask of another size than its image', '32×32 mask for a 16×16 image', async () => {
    const file = await put('masks/big_mask.png', await png(32, 32));
    return refused(loadMask(file, preprocess, { width: 16, height: 16 }), file, /mask is 32×32 but its image is 16×16/);
  });
  mask('mask that is not an image', 'text', async () => {
    const file = await put('masks/text_mask.png', 'no mask here');
    return refused(loadMask(file, preprocess), file, /not a decodable image/);
  });
  mask('zero-byte mask', '0 bytes', async () => {
    const file = await put('masks/empty_mask.png', '');
    return refused(loadMask(file, preprocess), file, /empty file/);
  });
  mask('RGB mask', '16×16 white RGB PNG', async () => {
    const m = await loadMask(await put('masks/rgb_mask.png', await png(16, 16, 3)), preprocess, { width: 16, height: 16 });
    assert.equal(m.length, 64);
    assert.ok(m.every((v) => v === 1));
    return 'works: 8×8 after resize and crop, all defective';
  });
  mask('16-bit mask', '16×16 white grey16 PNG', async () => {
    const m = await loadMask(await put('masks/g16_mask.png', await png(16, 16, 1, true)), preprocess);
    assert.ok(m.every((v) => v === 1));
    return 'works: 8×8, all defective';
  });
});

describe('dataset folders', () => {
  /** Creates a tree under tmp/datasets/<name> from "dir/" and "dir/file" entries (files are a real PNG). */
  const tree = async (name: string, entries: readonly string[]): Promise<string> => {
    const root = path.join(tmp, 'datasets', name);
    await mkdir(root, { recursive: true });
    for (const e of entries) {
      if (e.endsWith('/')) await mkdir(path.join(root, e), { recursive: true });
      else await put(path.join('datasets', name, e), samples.get('png-rgb8')!);
    }
    return root;
  };
  const folder = (name: string, layout: readonly string[], run: (root: string) => Promise<unknown>, named: (root: string) => string, detail?: RegExp): void => {
    it(name, async () => {
      const root = await tree(name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''), layout);
      rows.datasets.push({ case: name, input: layout.length ? layout.join(', ') : '(an empty folder)', outcome: await refused(run(root), named(root), detail) });
    });
  };
  const good = ['train/good/000.png', 'test/good/000.png', 'test/crack/000.png', 'ground_truth/crack/000_mask.png'];
  folder('dataset folder missing', [], (root) => readMvtecDataset(path.join(root, 'nope')), (root) => path.join(root, 'nope'), /folder not found/);
  folder('empty dataset folder', [], (root) => readMvtecDataset(root), (root) => root, /no train\/good folder/);
  folder('`Train` instead of `train`', ['Train/good/000.png', 'test/good/000.png'], (root) => readMvtecDataset(root), (root) => root, /found Train\/good: folder names are case-sensitive/);
  folder('`Test` instead of `test`', ['train/good/000.png', 'Test/good/000.png'], (root) => readMvtecDataset(root), (root) => root, /found Test/);
  folder('`train/` without `good/`', ['train/000.png', 'test/good/000.png'], (root) => readMvtecDataset(root), (root) => root, /no train\/good/);
  folder('empty train/good', ['train/good/', 'test/good/000.png'], (root) => readMvtecDataset(root), (root) => path.join(root, 'train', 'good'), /no images/);
  folder('train/good holds no image files', ['train/good/notes.txt', 'test/good/000.png'], (root) => readMvtecDataset(root), (root) => path.join(root, 'train', 'good'), /no images/);
  folder('no test folder', ['train/good/000.png'], (root) => readMvtecDataset(root), (root) => root, /no test folder/);
  folder('empty test folder', ['train/good/000.png', 'test/'], (root) => readMvtecDataset(root), (root) => path.join(root, 'test'), /no test images/);
  folder('test subfolders without images', ['train/good/000.png', 'test/good/', 'test/crack/'], (root) => readMvtecDataset(root), (root) => path.join(root, 'test'), /no test images/);
  folder('defective test image without its mask (its defect has ground_truth)', [...good.slice(0, 3), 'ground_truth/crack/'], (root) => readMvtecDataset(root), (root) => path.join(root, 'test', 'crack', '000.png'), /has no mask/);
  folder('npad fit on a folder without images', ['notes.txt'], (root) => findTrainImages(root), (root) => root, /no images/);
  folder('npad fit on a dataset with `Train/Good`', ['Train/Good/000.png'], (root) => findTrainImages(root), (root) => root, /found Train\/Good/);
  folder('npad fit on a file instead of a folder', ['train/good/000.png'], (root) => findTrainImages(path.join(root, 'train', 'good', '000.png')), (root) => path.join(root, 'train', 'good', '000.png'), /not a folder/);
});

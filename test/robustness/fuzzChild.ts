/**
 * The fuzz run itself, in a child process so that the parent (fuzz.test.ts) can stop it if a case hangs, even in
 * synchronous code. Mutates real image files (PNG, JPEG, TIFF, BMP, GIF, WebP) and real small model files (N-pad,
 * PaDiM, PatchCore, fitted here on synthetic images) with a seeded PRNG and feeds each mutant to the decoders and
 * loaders. Writes one JSON line per event to stdout:
 *
 *   {"start": i, "target": …, "base": …, "mutation": …}   before case i runs
 *   {"done": i, "ms": …, "outcome": "ok" | "refused" | "crash", "message"?: …}
 *   {"summary": {...}}                                     at the end
 *
 *   node --import tsx test/robustness/fuzzChild.ts SEED DIR [imageCases] [modelCases]   (env NPAD_FUZZ_MAX_LOADS: Detector.load cases, default 150)
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { Detector } from '../../src/detector/detector.js';
import { NpadInputError } from '../../src/errors.js';
import { decodeBmp } from '../../src/image/bmp.js';
import { decodeRgb, encodedImageSize } from '../../src/image/decode.js';
import { loadMask } from '../../src/image/mask.js';
import { loadModel } from '../../src/model/modelFile.js';
import { seededRandom } from '../../src/util/random.js';
import { leafPaths, npadMeta, setPath, splitModel, joinModel, withNpadMeta } from './modelBytes.js';
import { crc32, sampleImages, tiffEntryOffsets } from './samples.js';

const [seedText, dir, imageCasesText = '700', modelCasesText = '160'] = process.argv.slice(2);
const seed = Number(seedText);
if (!Number.isSafeInteger(seed) || !dir) throw new Error('usage: fuzzChild.ts SEED DIR [imageCases] [modelCases]');
const random = seededRandom(seed);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

/** Values that find off-by-one and overflow mistakes in size fields. */
const INTERESTING = [0, 1, 2, 3, 7, 8, 15, 16, 17, 255, 256, 4096, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff, 1e6, 9000];
const INTERESTING_JSON: unknown[] = [0, -1, 1, 2, 1e9, 1.5, -0.5, 2 ** 53, 1e308, '', 'x', 'npad', true, false, null, [], {}, [1, 2, 3], { a: 1 }];

function emit(record: object): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

// ---------------------------------------------------------------------------
// Byte mutations
// ---------------------------------------------------------------------------

type Mutator = (b: Buffer) => { bytes: Buffer; what: string };

const bitFlips: Mutator = (b) => {
  const out = Buffer.from(b);
  const n = 1 + int(8);
  for (let k = 0; k < n && out.length; k++) out[int(out.length)]! ^= 1 << int(8);
  return { bytes: out, what: `${n} bit flips` };
};
const byteSets: Mutator = (b) => {
  const out = Buffer.from(b);
  const n = 1 + int(16);
  for (let k = 0; k < n && out.length; k++) out[int(out.length)] = int(256);
  return { bytes: out, what: `${n} random bytes` };
};
const truncate: Mutator = (b) => {
  const at = int(b.length);
  return { bytes: b.subarray(0, at), what: `cut at ${at} of ${b.length}` };
};
const insert: Mutator = (b) => {
  const at = int(b.length + 1);
  const extra = Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)));
  return { bytes: Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]), what: `${extra.length} bytes inserted at ${at}` };
};
const remove: Mutator = (b) => {
  const at = int(b.length);
  const n = 1 + int(64);
  return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + n)]), what: `${n} bytes deleted at ${at}` };
};
const duplicate: Mutator = (b) => {
  const from = int(b.length);
  const n = 1 + int(256);
  const at = int(b.length);
  return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(from, from + n), b.subarray(at)]), what: `${n} bytes from ${from} repeated at ${at}` };
};
/** A header field (u8/u16/u32, either endianness) in the first 128 bytes set to an interesting value. */
const headerField: Mutator = (b) => {
  const out = Buffer.from(b);
  const width = pick([1, 2, 4] as const);
  const at = int(Math.max(1, Math.min(128, out.length) - width));
  const value = pick(INTERESTING);
  if (at + width <= out.length) {
    if (width === 1) out[at] = value & 0xff;
    else if (width === 2) (random() < 0.5 ? out.writeUInt16LE.bind(out) : out.writeUInt16BE.bind(out))(value & 0xffff, at);
    else (random() < 0.5 ? out.writeUInt32LE.bind(out) : out.writeUInt32BE.bind(out))(value >>> 0, at);
  }
  return { bytes: out, what: `u${width * 8} at ${at} = ${value}` };
};
const BYTE_MUTATORS: readonly Mutator[] = [bitFlips, bitFlips, byteSets, truncate, insert, remove, duplicate, headerField, headerField];

/** Format-aware header changes that keep the container valid, so the value reaches the decoder. */
function formatField(name: string, b: Buffer): { bytes: Buffer; what: string } | null {
  const out = Buffer.from(b);
  const value = pick(INTERESTING);
  if (name.startsWith('png')) {
    const field = pick(['width', 'height', 'bit depth', 'colour type', 'interlace'] as const);
    const at = { width: 16, height: 20, 'bit depth': 24, 'colour type': 25, interlace: 28 }[field];
    if (field === 'width' || field === 'height') out.writeUInt32BE(value >>> 0, at);
    else out[at] = value & 0xff;
    out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
    return { bytes: out, what: `PNG IHDR ${field} = ${value} (CRC fixed)` };
  }
  if (name.startsWith('bmp')) {
    const [field, at, size] = pick([['file size', 2, 4], ['pixel offset', 10, 4], ['header size', 14, 4], ['width', 18, 4], ['height', 22, 4], ['planes', 26, 2], ['bit count', 28, 2], ['compression', 30, 4], ['image size', 34, 4], ['palette colours', 46, 4], ['red mask', 54, 4], ['alpha mask', 66, 4]] as const);
    const v = random() < 0.3 ? -value : value;
    if (at + size > out.length) return null;
    if (size === 2) out.writeUInt16LE(v & 0xffff, at);
    else out.writeInt32LE(v | 0, at);
    return { bytes: out, what: `BMP ${field} = ${v}` };
  }
  if (name.startsWith('jpeg')) {
    for (let i = 2; i + 9 < out.length; ) {
      const marker = out[i + 1]!;
      if (out[i] !== 0xff) break;
      if (marker >= 0xc0 && marker <= 0xc2) {
        const field = pick(['height', 'width', 'components', 'precision'] as const);
        const at = { precision: i + 4, height: i + 5, width: i + 7, components: i + 9 }[field];
        if (field === 'height' || field === 'width') out.writeUInt16BE(value & 0xffff, at);
        else out[at] = value & 0xff;
        return { bytes: out, what: `JPEG SOF ${field} = ${value & 0xffff}` };
      }
      i += 2 + out.readUInt16BE(i + 2);
    }
    return null;
  }
  if (name.startsWith('tiff')) {
    const entries = tiffEntryOffsets(out);
    const at = pick(entries);
    const tag = out.readUInt16LE(at);
    const part = pick(['type', 'count', 'value'] as const);
    if (part === 'type') out.writeUInt16LE(value & 0xffff, at + 2);
    else out.writeUInt32LE(value >>> 0, at + (part === 'count' ? 4 : 8));
    return { bytes: out, what: `TIFF tag ${tag} ${part} = ${value}` };
  }
  return null;
}

/** Random bytes behind a real format's magic number. */
function magicNoise(): { bytes: Buffer; what: string } {
  const magic = pick([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('ffd8ff', 'hex'), Buffer.from('BM'), Buffer.from('II*\0'), Buffer.from('MM\0*'), Buffer.from('GIF89a'), Buffer.from('RIFF\0\0\0\0WEBPVP8 ')]);
  const noise = Buffer.from(Array.from({ length: int(512) }, () => int(256)));
  return { bytes: Buffer.concat([magic, noise]), what: `${noise.length} random bytes after the magic ${magic.toString('hex').slice(0, 8)}` };
}

/** One mutant of a base image. */
function mutateImage(name: string, base: Buffer): { bytes: Buffer; what: string } {
  const r = random();
  if (r < 0.3) return formatField(name, base) ?? pick(BYTE_MUTATORS)(base);
  if (r < 0.35) return magicNoise();
  const first = pick(BYTE_MUTATORS)(base);
  if (random() < 0.2) {
    const second = pick(BYTE_MUTATORS)(first.bytes);
    return { bytes: second.bytes, what: `${first.what}, then ${second.what}` };
  }
  return first;
}

// ---------------------------------------------------------------------------
// Model mutations
// ---------------------------------------------------------------------------

/** One mutant of a base model file: byte-level (mostly in the header) or a JSON field of the header. */
function mutateModel(base: Buffer): { bytes: Buffer; what: string; json: boolean } {
  const split = splitModel(base);
  const headerEnd = base.length - split.data.length;
  const r = random();
  if (r < 0.45) {
    // A field of the npad metadata (configuration, model numbers, backbone, checksum…), which no checksum covers.
    const meta = npadMeta(split);
    const paths = leafPaths(meta);
    const at = pick(paths);
    const value = random() < 0.15 ? undefined : pick(INTERESTING_JSON);
    return { bytes: withNpadMeta(base, (m) => setPath(m, at, value)), what: `npad.${at.join('.')} = ${value === undefined ? '(deleted)' : JSON.stringify(value)}`, json: true };
  }
  if (r < 0.6) {
    // A field of a tensor entry (dtype, shape, data_offsets).
    const header = structuredClone(split.header);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const name = pick(names);
    const entry = header[name] as Record<string, unknown>;
    const paths = leafPaths(entry);
    const at = pick(paths);
    const value = random() < 0.5 ? pick(INTERESTING) : pick(INTERESTING_JSON);
    setPath(entry, at, value);
    return { bytes: joinModel(header, split.data), what: `tensor ${name} ${at.join('.')} = ${JSON.stringify(value)}`, json: true };
  }
  if (r < 0.65) {
    const out = Buffer.from(base);
    const value = pick([0, 1, 7, 8, headerEnd - 8, headerEnd - 7, headerEnd, 2 ** 32, 1e8, 2 ** 53]);
    out.writeBigUInt64LE(BigInt(value), 0);
    return { bytes: out, what: `header length = ${value}`, json: false };
  }
  // Bytes: mostly inside the JSON header, where a change is not caught by the tensor checksum.
  const inHeader = random() < 0.7;
  const region = inHeader ? base.subarray(0, headerEnd) : base;
  const m = pick(BYTE_MUTATORS)(region);
  const bytes = inHeader ? Buffer.concat([m.bytes, base.subarray(headerEnd)]) : m.bytes;
  return { bytes, what: `${m.what}${inHeader ? ' (in the header)' : ''}`, json: false };
}

// ---------------------------------------------------------------------------
// Running cases
// ---------------------------------------------------------------------------

let caseIndex = 0;
const counts: Record<string, Record<string, number>> = {};

/** Runs one case and reports it; only NpadInputError counts as a proper refusal. */
async function run(target: string, base: string, mutation: string, call: () => unknown): Promise<void> {
  const i = caseIndex++;
  emit({ start: i, target, base, mutation });
  const started = performance.now();
  let outcome: 'ok' | 'refused' | 'crash' = 'ok';
  let message: string | undefined;
  try {
    await call();
  } catch (err) {
    if (err instanceof NpadInputError) {
      outcome = 'refused';
      message = err.message;
    } else {
      outcome = 'crash';
      message = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    }
  }
  const ms = performance.now() - started;
  (counts[target] ??= {})[outcome] = (counts[target]?.[outcome] ?? 0) + 1;
  emit({ done: i, ms: Math.round(ms), outcome, ...(message === undefined ? {} : { message }) });
}

/** Four synthetic 64×64 training images (noise over a gradient), so the fits need no dataset. */
async function syntheticImages(): Promise<string[]> {
  const files: string[] = [];
  for (let k = 0; k < 4; k++) {
    const px = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < px.length; i++) px[i] = ((i % 192) + int(48)) & 255;
    const file = path.join(dir!, `train-${k}.png`);
    await writeFile(file, await sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
    files.push(file);
  }
  return files;
}

async function main(): Promise<void> {
  const imageCases = Number(imageCasesText);
  const modelCases = Number(modelCasesText);
  const images = [...(await sampleImages())];
  const bmps = images.filter(([n]) => n.startsWith('bmp'));
  const limits = [undefined, 4_000_000, 1000];

  // Images: decodeRgb on most cases; the BMP decoder, the header reader and loadMask on some.
  for (let k = 0; k < imageCases; k++) {
    const r = random();
    if (r < 0.12) {
      const [name, base] = pick(bmps);
      const m = mutateImage(name, base);
      await run('decodeBmp', name, m.what, () => decodeBmp(m.bytes, `${name}.bmp`, 100_000_000));
    } else if (r < 0.2) {
      const [name, base] = pick(images);
      const m = mutateImage(name, base);
      await run('encodedImageSize', name, m.what, () => encodedImageSize(m.bytes, name));
    } else if (r < 0.3) {
      const [name, base] = pick(images);
      const m = mutateImage(name, base);
      const file = path.join(dir!, `mask-${k}`);
      await writeFile(file, m.bytes);
      const expected = random() < 0.5 ? { width: 16, height: 16 } : undefined;
      await run('loadMask', name, m.what, () => loadMask(file, { resize: 16, crop: 8 }, expected));
    } else {
      const [name, base] = pick(images);
      const m = mutateImage(name, base);
      const limit = pick(limits);
      await run('decodeRgb', name, m.what, () => decodeRgb(m.bytes, name, limit === undefined ? {} : { limitInputPixels: limit }));
    }
  }

  // Models: tiny N-pad, PaDiM and PatchCore detectors fitted on synthetic images, then mutated.
  const train = await syntheticImages();
  const small = { preprocess: { resize: 64, crop: 56 }, batchSize: 4 };
  const fits = [
    ['npad', { ...small, options: { dim: 8, maxCentroids: 8, kmeansSample: 500, moduleD: false } }],
    ['padim', { ...small, method: 'padim', options: { dim: 8 } }],
    ['patchcore', { ...small, method: 'patchcore', options: { coresetRatio: 0.05 } }],
  ] as const;
  const models: [string, Buffer][] = [];
  for (const [name, config] of fits) {
    const file = path.join(dir!, `base-${name}.npad`);
    await (await Detector.fit(train, config)).save(file);
    models.push([name, await readFile(file)]);
  }
  let detectorLoads = 0;
  // Each Detector.load that gets past the checksum runs the backbone once: capped to bound the run (env for longer runs).
  const maxDetectorLoads = Number(process.env.NPAD_FUZZ_MAX_LOADS ?? 150);
  for (let k = 0; k < modelCases; k++) {
    const [name, base] = pick(models);
    const m = mutateModel(base);
    const file = path.join(dir!, `model-${k}.npad`);
    await writeFile(file, m.bytes);
    // Detector.load costs a backbone check when the file gets that far: run it on a third of the cases.
    if (random() < 0.35 && detectorLoads < maxDetectorLoads) {
      detectorLoads++;
      // A model that loads must also score: a damaged configuration must not pass the load and fail later.
      await run('Detector.load', name, m.what, async () => {
        const detector = await Detector.load(file);
        await detector.score([train[0]!], () => undefined);
      });
    } else {
      await run('loadModel', name, m.what, () => loadModel(file));
    }
  }
  emit({ summary: { seed, counts } });
}

main().catch((err: unknown) => {
  emit({ fatal: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err) });
  process.exitCode = 1;
});

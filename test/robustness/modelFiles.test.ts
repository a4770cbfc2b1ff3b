/**
 * Each claim about model files, tried: the checksum, the format version, the backbone identity, the validation of
 * the configuration JSON (checksummed, and validated for files forged with a recomputed checksum), and atomic saving when the disk fills up, both with an
 * injected ENOSPC and, where a tmpfs can be mounted in a private namespace, on a really full file system. The
 * SIGKILL-midway case is test/model/crash.test.ts. Outcomes go to docs/robustness.md.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Detector } from '../../src/detector/detector.js';
import { NpadInputError } from '../../src/errors.js';
import { loadModel, saveModel, type ModelTensor } from '../../src/model/modelFile.js';
import { npadMeta, setPath, splitModel, withNpadMeta } from './modelBytes.js';
import { manualCalibration } from '../../src/detector/calibration.js';
import { checkLoadMemory } from '../../src/detector/memoryEstimate.js';
import { REPO, stable, table, writeSection } from './report.js';
import { WEIGHTS } from '../sharedData.js';

const weights = WEIGHTS;
const haveWeights = await stat(weights).then(() => true, () => false);
const noWeights = !haveWeights && 'backbone weights not found';

let tmp = '';
const rows: string[][] = [];
const backbone = { id: 'test-backbone', weightsSha256: 'a'.repeat(64) };
const plain = (n: number): Map<string, ModelTensor> => new Map([['weights', { dtype: 'F32', shape: [n], data: new Float32Array(n).map((_, i) => (i % 13) / 7) }]]);
/** Tiny detectors fitted on synthetic images, by method (filled by the first test that needs them). */
const fitted = new Map<string, string>();

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'npad-models-'));
});
after(async () => {
  await writeSection(
    'model',
    [
      '## Model files',
      '',
      'Run by test/robustness/modelFiles.test.ts (the SIGKILL row by test/model/crash.test.ts). A model file is',
      'safetensors with an `npad` JSON header (docs/model-format.md): its tensors carry a SHA-256 checksum, the header a',
      'format version and the backbone\'s identity. The configuration in the header is not checksummed, so every',
      'value of it is checked on loading, and a model whose configuration does not match its tensors is refused there',
      'rather than failing when it scores. Saving writes a temporary file, fsyncs it and renames it over the old one.',
      '',
      table(['claim', 'case', 'outcome'], rows),
    ].join('\n'),
  );
  await rm(tmp, { recursive: true, force: true });
});

/** Runs a call expected to fail with an NpadInputError starting with `file`; records the row. */
async function refused(claim: string, label: string, call: () => Promise<unknown>, file: string, detail: RegExp): Promise<void> {
  let error: unknown = null;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof NpadInputError, `${label}: expected an NpadInputError, got ${error === null ? 'success' : String(error)}`);
  assert.ok(error.message.startsWith(`${file}: `), error.message);
  assert.match(error.message, detail);
  rows.push([claim, label, `refused: ${stable(error.message, tmp)}`]);
}

/** Saves a plain two-version pair of model files and returns the path of the first. */
async function plainModel(name: string, values = 1000): Promise<string> {
  const file = path.join(tmp, name);
  await saveModel(file, { method: 'small', config: { k: 1 }, backbone }, plain(values));
  return file;
}

/** A tiny detector of `method` (or N-pad's paper preset) fitted on synthetic 64×64 images (cached). */
async function tinyDetector(method: 'npad' | 'npad-paper' | 'padim' | 'patchcore'): Promise<string> {
  const known = fitted.get(method);
  if (known) return known;
  const images: string[] = [];
  for (let k = 0; k < 4; k++) {
    const px = Buffer.alloc(64 * 64 * 3).map((_, i) => ((i % 192) + ((i * 7919 + k * 104729) % 48)) & 255);
    const file = path.join(tmp, `train-${k}.png`);
    await writeFile(file, await sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
    images.push(file);
  }
  const common = { preprocess: { resize: 64, crop: 56 }, batchSize: 4 };
  const config =
    method === 'npad'
      ? { ...common, options: { dim: 8, moduleD: false } }
      : method === 'npad-paper'
        ? { ...common, preset: 'paper' as const, options: { dim: 8, maxCentroids: 8, kmeansSample: 500, moduleD: false } }
        : method === 'padim'
        ? { ...common, method, options: { dim: 8 } }
        : { ...common, method, options: { coresetRatio: 0.05 } };
  const file = path.join(tmp, `tiny-${method}.npad`);
  await (await Detector.fit(images, config)).save(file);
  fitted.set(method, file);
  return file;
}

test('the checksum, the format version and the file type are checked', async () => {
  const file = await plainModel('base.npad');
  const bytes = await readFile(file);
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 10]! ^= 0x01;
  const flippedFile = path.join(tmp, 'flipped.npad');
  await writeFile(flippedFile, flipped);
  await refused('tensor checksum', 'one bit flipped in the tensor data', () => loadModel(flippedFile), flippedFile, /tensor data does not match its checksum: the file is damaged/);

  const newer = path.join(tmp, 'newer.npad');
  await writeFile(newer, withNpadMeta(bytes, (m) => setPath(m, ['formatVersion'], 5)));
  await refused('format version', 'formatVersion 5 (a newer npad)', () => loadModel(newer), newer, /made by a newer npad \(format 5\); this npad reads format 4/);

  const edited = path.join(tmp, 'edited.npad');
  await writeFile(edited, withNpadMeta(bytes, (m) => setPath(m, ['method'], 'padim'), { recomputeHeaderChecksum: false }));
  await refused('header checksum', 'the configuration edited by hand (method changed, checksum not recomputed)', () => loadModel(edited), edited, /its configuration does not match its checksum: the file is damaged or was edited by hand/);

  const other = path.join(tmp, 'other.npad');
  await writeFile(other, withNpadMeta(bytes, (m) => setPath(m, ['format'], 'something-else')));
  await refused('format name', 'another tool\'s "npad" metadata', () => loadModel(other), other, /not an npad model/);

  const half = path.join(tmp, 'half.npad');
  await writeFile(half, bytes.subarray(0, bytes.length >> 1));
  await refused('complete file', 'the first half of a model file', () => loadModel(half), half, /damaged|not a safetensors file/);

  const empty = path.join(tmp, 'empty.npad');
  await writeFile(empty, '');
  await refused('complete file', 'a zero-byte file', () => loadModel(empty), empty, /./);

  const image = path.join(tmp, 'image.npad');
  await writeFile(image, await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  await refused('file type', 'a PNG named .npad', () => loadModel(image), image, /not a safetensors file/);

  const folder = path.join(tmp, 'folder.npad');
  await mkdir(folder);
  await refused('file type', 'a folder', () => loadModel(folder), folder, /folder/);
  await refused('file type', 'a missing file', () => loadModel(path.join(tmp, 'missing.npad')), path.join(tmp, 'missing.npad'), /no such file/);
});

test('the backbone identity is checked', { skip: noWeights }, async () => {
  const file = await tinyDetector('npad');
  const bytes = await readFile(file);
  const moved = path.join(tmp, 'other-weights.npad');
  await writeFile(moved, withNpadMeta(bytes, (m) => setPath(m, ['backbone', 'weightsSha256'], 'b'.repeat(64))));
  await refused('backbone identity', 'Detector.load of a model fitted with other weights (recorded weightsSha256 changed)', () => Detector.load(moved), moved, /fitted with backbone .* \(weights sha256 bbbbbbbbbbbb…\) but the backbone found is/);
  await refused('backbone identity', 'loadModel expecting another backbone', () => loadModel(file, { backboneId: 'torchvision/resnet18' }), file, /fitted with backbone .* but the current backbone is torchvision\/resnet18/);
});

test('the configuration in the file is validated on loading, even with its checksum recomputed (a forged file)', { skip: noWeights }, async () => {
  const cases: [string, 'npad' | 'npad-paper' | 'padim' | 'patchcore', (string | number)[], unknown, RegExp][] = [
    ['crop changed from 56 to 48 (the grid no longer matches the tensors)', 'npad', ['config', 'detector', 'preprocess', 'crop'], 48, /feature grid is 14×14 but the backbone gives 12×12/],
    ['PaDiM: preprocessing removed (the default, the whole image, comes without the input shape a fit sets)', 'padim', ['config', 'detector', 'preprocess'], {}, /whole-image preprocessing has no input width and height/],
    ['PaDiM: a whole-image shape other than the tensors\' grid', 'padim', ['config', 'detector', 'preprocess'], { mode: 'whole', side: 64, tile: null, width: 96, height: 48 }, /feature grid is 14×14 but the backbone gives 12×24/],
    ['PatchCore: a stage map\'s channels changed', 'patchcore', ['config', 'model', 'stages', 0, 'channels'], 2, /stage maps are 2×7×7/],
    ['PaDiM: smoothingSigma 1e308', 'padim', ['config', 'detector', 'options', 'smoothingSigma'], 1e308, /option smoothingSigma must be at most 64/],
    ['N-pad: inferenceRadius 1000000', 'npad', ['config', 'detector', 'options', 'inferenceRadius'], 1_000_000, /option inferenceRadius must be at most 8/],
    ['PaDiM: backbone kind removed', 'padim', ['config', 'detector', 'backbone', 'kind'], undefined, /invalid backbone specification: kind undefined/],
    ['N-pad: backbone kind onnx without a file', 'npad', ['config', 'detector', 'backbone', 'kind'], 'onnx', /invalid backbone specification: no file/],
    ['N-pad: model dim 13 for 8 channels', 'npad', ['config', 'model', 'dim'], 13, /no valid channels tensor/],
    ['N-pad: moduleA off while moduleC is on', 'npad', ['config', 'detector', 'options', 'moduleA'], false, /invalid configuration in model file: moduleC/],
    ['N-pad: a stage map of the position-free bank changed', 'npad', ['config', 'model', 'patchBank', 'stages', 0, 'channels'], 2, /stage maps are 2×7×7/],
    ['N-pad: the bank map\'s nominal spread set to 0', 'npad', ['config', 'model', 'patchBank', 'bankMaxima', 'sd'], 0, /patchBank lacks bankMaxima \(a finite mean and a positive sd\)/],
    ['N-pad: the position-free bank\'s metadata removed', 'npad', ['config', 'model', 'patchBank'], undefined, /patchBank is missing/],
    ['N-pad: option bank switched to kmeans (no centroids stored)', 'npad', ['config', 'detector', 'options', 'bank'], 'kmeans', /no tensor B\.centroids/],
    ['N-pad paper preset: option bank switched to patch-coreset (no bank stored)', 'npad-paper', ['config', 'detector', 'options', 'bank'], 'patch-coreset', /patchBank is missing/],
  ];
  for (const [label, method, at, value, detail] of cases) {
    const bytes = await readFile(await tinyDetector(method));
    const file = path.join(tmp, `tampered-${rows.length}.npad`);
    await writeFile(file, withNpadMeta(bytes, (m) => setPath(m, at, value)));
    await refused('configuration JSON', `Detector.load, ${label}`, () => Detector.load(file), file, detail);
  }
});

test('tensor values a fit cannot give are refused on loading, the tensor checksum recomputed (a forged file)', { skip: noWeights }, async () => {
  const file = await tinyDetector('npad');
  const f16 = path.join(tmp, 'tiny-npad-f16.npad');
  await (await Detector.load(file)).save(f16, { precision: 'f16' });
  const i8 = path.join(tmp, 'tiny-npad-i8.npad');
  await (await Detector.load(file)).save(i8, { precision: 'i8' });
  const cases: [string, string, string, (data: Float32Array | Uint16Array) => void][] = [
    ['a NaN in a precision matrix (f32)', file, 'A.precision.0', (d) => void (d[5] = Number.NaN)],
    ['an infinite mean (f32)', file, 'B.mean', (d) => void (d[0] = Number.POSITIVE_INFINITY)],
    ['a NaN in a precision matrix (f16 bits 0x7e00)', f16, 'A.precision.0', (d) => void (d[5] = 0x7e00)],
    ['an infinity in the position-free bank (f16 bits 0x7c00)', f16, 'bank', (d) => void (d[1] = 0x7c00)],
    ['an infinite row scale of int8 precision matrices (i8)', i8, 'B.precisionScale.0', (d) => void (d[3] = Number.POSITIVE_INFINITY)],
  ];
  for (const [label, source, name, change] of cases) {
    const { header, tensors } = await loadModel(source);
    const tensor = tensors.get(name)!;
    const data = tensor.data.slice() as Float32Array | Uint16Array;
    change(data);
    const forged = path.join(tmp, `non-finite-${rows.length}.npad`);
    await saveModel(forged, header, new Map(tensors).set(name, { ...tensor, data }));
    await refused('tensor values', `Detector.load, ${label}`, () => Detector.load(forged), forged, new RegExp(`tensor "${name.replace('.', '\\.')}" holds a NaN or infinite value`));
  }
});

test('thresholds outside float32\'s range are refused on loading and by hand', { skip: noWeights }, async () => {
  const file = await tinyDetector('padim');
  const bytes = await readFile(file);
  for (const [key, value] of [['imageThreshold', 1e308], ['pixelThreshold', -1e39]] as const) {
    const forged = path.join(tmp, `threshold-${rows.length}.npad`);
    await writeFile(forged, withNpadMeta(bytes, (m) => setPath(m, ['config', 'calibration'], { source: 'manual', imageThreshold: 5, pixelThreshold: 5, [key]: value })));
    await refused('thresholds', `Detector.load, calibration ${key} ${value}`, () => Detector.load(forged), forged, /within float32's range/);
  }
  assert.throws(() => manualCalibration({ imageThreshold: 1e308, pixelThreshold: 1 }, null), /imageThreshold: expected a score within float32's range/);
  assert.doesNotThrow(() => manualCalibration({ imageThreshold: -2.5, pixelThreshold: 1 }, null), 'standardised maps can be negative');
  rows.push(['thresholds', 'manualCalibration (npad calibrate --image-threshold 1e308)', 'refused: imageThreshold: expected a score within float32\'s range']);
});

test('a model whose loaded form would not fit the memory is refused before its tensors are read', { skip: noWeights }, async () => {
  const file = await tinyDetector('padim');
  const { tensors } = await loadModel(file);
  let floats = 0;
  for (const t of tensors.values()) if (t.dtype === 'F32' || t.dtype === 'F16') floats += t.data.length;
  const shapes = [...tensors.values()];
  assert.doesNotThrow(() => checkLoadMemory(shapes, file, { bytes: 8 * floats, source: 'a test budget' }));
  assert.throws(() => checkLoadMemory(shapes, file, { bytes: 8 * floats - 1, source: 'a test budget' }), /loading this model needs up to/);
  const saved = process.env.NPAD_MEMORY_LIMIT;
  process.env.NPAD_MEMORY_LIMIT = '64K';
  try {
    await refused('memory', 'Detector.load with NPAD_MEMORY_LIMIT=64K (the machine\'s budget)', () => Detector.load(file), file, /loading this model needs up to .* more than NPAD_MEMORY_LIMIT=64K/);
  } finally {
    if (saved === undefined) delete process.env.NPAD_MEMORY_LIMIT;
    else process.env.NPAD_MEMORY_LIMIT = saved;
  }
});

test('paths stored in a model file are never opened: the weights are found by the backbone kind and file name', { skip: noWeights }, async () => {
  const file = await tinyDetector('padim');
  const bytes = await readFile(file);
  const stored = (npadMeta(splitModel(bytes)).config as { detector: { backbone: Record<string, unknown> } }).detector.backbone;
  assert.deepEqual(Object.keys(stored), ['kind'], 'a ResNet50-v2 model stores no folder');
  const toDevZero = path.join(tmp, 'weights-dev-zero.npad');
  await writeFile(toDevZero, withNpadMeta(bytes, (m) => setPath(m, ['config', 'detector', 'backbone', 'weightsDir'], '/dev/zero')));
  const loaded = await Detector.load(toDevZero);
  assert.equal(loaded.backbone.weightsSha256, (await Detector.load(file)).backbone.weightsSha256);
  rows.push(['stored paths', 'a ResNet50-v2 model whose weightsDir is edited to /dev/zero', 'loads with the default weights; the stored folder is not opened']);
  const onnx = path.join(tmp, 'onnx-backbone.npad');
  await writeFile(onnx, withNpadMeta(bytes, (m) => setPath(m, ['config', 'detector', 'backbone'], { kind: 'onnx', file: '/etc/hostname', outputs: ['a', 'b', 'c'] })));
  await refused('stored paths', 'an .onnx backbone stored as /etc/hostname', () => Detector.load(onnx), onnx, /its backbone weights hostname are not next to the model file.*npad does not open paths stored in a model file/);
});

test('an N-pad file written before option bank existed loads with the paper\'s bank and scores as before', { skip: noWeights }, async () => {
  const file = await tinyDetector('npad-paper');
  const older = path.join(tmp, 'before-bank.npad');
  await writeFile(older, withNpadMeta(await readFile(file), (m) => setPath(m, ['config', 'detector', 'options', 'bank'], undefined)));
  const [now, then] = [await Detector.load(file), await Detector.load(older)];
  assert.equal(then.config.method === 'npad' && then.config.options.bank, 'kmeans');
  const probe = path.join(tmp, 'train-0.png');
  const scores: number[] = [];
  for (const d of [now, then]) await d.score([probe], (_i, r) => void scores.push(r.score));
  assert.equal(scores[0], scores[1]);
  rows.push(['older files', 'an N-pad file without option bank (written before it existed)', 'loads with bank kmeans, scores identical']);
});

/** Makes every FileHandle.write fail with ENOSPC once `room` bytes have been written (a short write first). */
async function withFullDisk<T>(room: number, body: () => Promise<T>): Promise<T> {
  const probe: FileHandle = await open(path.join(tmp, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (this: FileHandle, buffer: Uint8Array, offset?: number, length?: number, position?: number | null) => Promise<unknown> };
  await probe.close();
  const original = proto.write;
  let left = room;
  proto.write = function (buffer, offset = 0, length = buffer.length - offset, position) {
    if (left <= 0) {
      return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' }));
    }
    const allowed = Math.min(length, left);
    left -= allowed;
    return original.call(this, buffer, offset, allowed, position);
  };
  try {
    return await body();
  } finally {
    proto.write = original;
  }
}

test('a full disk while saving leaves the previous model intact, and the error names the file', async () => {
  const dir = path.join(tmp, 'full');
  await mkdir(dir);
  const file = path.join(dir, 'model.npad');
  await saveModel(file, { method: 'small', config: { version: 1 }, backbone }, plain(25_000));
  const previous = await readFile(file);
  await withFullDisk(300_000, () =>
    refused(
      'atomic save',
      'the disk fills up after 300 kB of a 4 MB save (ENOSPC injected into every write)',
      () => saveModel(file, { method: 'big', config: { version: 2 }, backbone }, plain(1_000_000)),
      file,
      /cannot write: the disk is full$/,
    ),
  );
  assert.ok(previous.equals(await readFile(file)), 'the previous file is byte-identical');
  assert.equal((await loadModel(file)).header.method, 'small');
  assert.deepEqual(await readdir(dir), ['model.npad'], 'no temporary file left');
  rows[rows.length - 1]![2] += '; the previous model is byte-identical and loads; no temporary file is left';
});

test('a really full file system (1 MiB tmpfs) behaves the same', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-tmpfs-'));
  try {
    // A private mount namespace: the tmpfs exists only for the child and goes away with it.
    const r = spawnSync(
      'unshare',
      ['-r', '-m', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" --import "$3" "$4" "$1"', 'sh', dir, process.execPath, import.meta.resolve('tsx'), path.join(REPO, 'test', 'robustness', 'fullDiskChild.ts')],
      { encoding: 'utf8', cwd: REPO, timeout: 60_000 },
    );
    if (r.status !== 0 || !r.stdout.trim()) {
      const why = (r.error?.message ?? r.stderr.trim().split('\n')[0]) || `exit ${r.status}`;
      rows.push(['atomic save', 'a real full disk: 1 MiB tmpfs', `not run on this machine (cannot mount a tmpfs in a private namespace: ${why})`]);
      t.skip(`cannot mount a tmpfs here: ${why}`);
      return;
    }
    const report = JSON.parse(r.stdout.trim()) as { thrown: { name: string; message: string; code?: string } | null; previousIntact: boolean; loadedMethod: string; leftovers: string[] };
    assert.ok(report.thrown, 'the save failed');
    assert.equal(report.thrown.name, 'NpadInputError');
    assert.equal(report.thrown.code, 'ENOSPC');
    assert.match(report.thrown.message, /model\.npad: cannot write: the disk is full$/);
    assert.equal(report.previousIntact, true);
    assert.equal(report.loadedMethod, 'small');
    assert.deepEqual(report.leftovers, []);
    rows.push([
      'atomic save',
      'a real full disk: saving a 4 MB model over a 100 kB one on a 1 MiB tmpfs (unshare -r -m)',
      `refused: ${stable(report.thrown.message, dir)}; the previous model is byte-identical and loads; no temporary file is left`,
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('saving into a missing folder names it', async () => {
  const file = path.join(tmp, 'no-such-folder', 'model.npad');
  await refused('atomic save', 'the output folder does not exist', () => saveModel(file, { method: 'small', config: {}, backbone }, plain(10)), file, /cannot write: the folder .* does not exist/);
  rows.push([
    'atomic save',
    'the process is killed (SIGKILL) half way through a 200 MB save',
    'the previous model is byte-identical and loads with its checksum verified; the partial temporary file stays beside it (test/model/crash.test.ts)',
  ]);
});

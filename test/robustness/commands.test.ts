/**
 * `npad fit` and `npad eval` on bad inputs, as a user runs them: exit code 2 (a user mistake, nothing done) or 3
 * (finished, some inputs skipped and named), never a stack trace. Uses a small copy of the shared bottle data and a
 * tiny configuration. Every command and its actual output go to docs/robustness.md.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Detector } from '../../src/detector/detector.js';
import { REPO, stable, table, writeSection } from './report.js';
import { BOTTLE } from '../sharedData.js';

const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);
const skip = !haveData && 'shared bottle data not found';
/** A tiny N-pad: the commands' handling of inputs is under test, not accuracy. */
const TINY = ['--dim', '12', '--set', 'maxCentroids=16', '--set', 'kmeansSample=1000', '--set', 'moduleD=false', '--batch-size', '4'];

let tmp = '';
const rows: string[][] = [];
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'npad-commands-'));
});
after(async () => {
  await writeSection(
    'commands',
    [
      '## The command line: exit codes',
      '',
      'Run by test/robustness/commands.test.ts: `npad` as a user runs it, on a small copy of MVTec AD bottle (6',
      'training images; 3 good and 4 broken_large test images with masks) with a tiny configuration (`--dim 12`,',
      'module D off). `fit` and `eval` decode every image (and mask) before the CNN runs: each unreadable one is named',
      'on stderr and left out, the job finishes on the rest and the exit code is 3. Nothing usable left, a bad folder,',
      'flag or model file, or a configuration too large for the memory: exit code 2, one line, nothing written.',
      '',
      table(['case', 'command', 'exit', 'stderr (and the stdout summary)'], rows),
    ].join('\n'),
  );
  await rm(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npad …` in a child process and records the row. */
function npad(label: string, args: string[], env: Record<string, string> = {}): Run {
  // tsx by URL: the command runs in the temporary folder, where a bare 'tsx' would not resolve.
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(REPO, 'src', 'cli', 'main.ts'), ...args], {
    cwd: tmp,
    encoding: 'utf8',
    env: { ...process.env, NPAD_THREADS: '1', ...env },
  });
  const run = { code: r.status, stdout: r.stdout, stderr: r.stderr };
  assert.doesNotMatch(run.stderr, /\n\s+at /, `no stack trace:\n${run.stderr}`);
  const envText = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
  const shown = args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ').replace(TINY.join(' '), '(tiny options)');
  // The first line of the result, without timings (which change from run to run).
  const summary = run.stdout.split('\n').find((l) => /^fitted on|image AUROC|^(good|defective) /.test(l.trim()))?.replace(/ in \d.*/, '');
  rows.push([label, stable(`${envText}npad ${shown}`, tmp), String(run.code), stable(run.stderr.trim() + (summary ? `\nstdout: ${summary.trim()} …` : ''), tmp).replace(/\n/g, '<br>')]);
  return run;
}

/** A small MVTec-layout copy of bottle: 6 train, 3 good and 4 broken_large test images with their masks. */
async function smallDataset(name: string): Promise<string> {
  const root = path.join(tmp, name);
  const copy = async (from: string, count: number): Promise<void> => {
    await mkdir(path.join(root, from), { recursive: true });
    for (const f of (await readdir(path.join(bottle, from))).sort().slice(0, count)) await copyFile(path.join(bottle, from, f), path.join(root, from, f));
  };
  await copy('train/good', 6);
  await copy('test/good', 3);
  await copy('test/broken_large', 4);
  await copy('ground_truth/broken_large', 4);
  return root;
}

/** The first half of a file's bytes written back over it (a copy cut short). */
async function truncate(file: string): Promise<void> {
  const bytes = await readFile(file);
  await writeFile(file, bytes.subarray(0, bytes.length >> 1));
}

test('npad fit skips unreadable training images, names them and exits 3', { skip }, async () => {
  const root = await smallDataset('fit-skips');
  await writeFile(path.join(root, 'train', 'good', '000.png'), '');
  await truncate(path.join(root, 'train', 'good', '001.png'));
  const model = path.join(tmp, 'skipped.npad');
  const r = npad('2 of 6 training images unreadable (empty, truncated)', ['fit', 'fit-skips', '--out', 'skipped.npad', ...TINY]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /skipped .*000\.png: empty file \(0 bytes\)/);
  assert.match(r.stderr, /skipped .*001\.png: not a decodable image/);
  assert.match(r.stderr, /skipped 2 of 6 training images; fitting on the other 4/);
  assert.match(r.stdout, /fitted on 3 images/); // 4 readable, one held out for the threshold
  const loaded = await Detector.load(model);
  assert.equal(loaded.config.method, 'npad');
});

test('npad fit with no readable training image exits 2 and writes nothing', { skip }, async () => {
  const root = await smallDataset('fit-none');
  for (const f of await readdir(path.join(root, 'train', 'good'))) await writeFile(path.join(root, 'train', 'good', f), 'not an image');
  const r = npad('every training image unreadable', ['fit', 'fit-none', '--out', 'none.npad', ...TINY]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /fit-none: none of the 6 training images can be read \(first: .*000\.png: not a decodable image/);
  await assert.rejects(stat(path.join(tmp, 'none.npad')));
});

test('npad eval skips bad test images and masks, computes the metrics on the rest and exits 3', { skip }, async () => {
  const root = await smallDataset('eval-skips');
  await truncate(path.join(root, 'train', 'good', '002.png'));
  await writeFile(path.join(root, 'test', 'good', '001.png'), 'not an image');
  await writeFile(path.join(root, 'ground_truth', 'broken_large', '000_mask.png'), '');
  const mask = path.join(root, 'ground_truth', 'broken_large', '001_mask.png');
  await writeFile(mask, await sharp(await readFile(mask)).resize(100, 100).png().toBuffer());
  const r = npad('a truncated training image, a text file as test image, an empty mask, a mask of the wrong size', [
    'eval', 'eval-skips', ...TINY, '--json', 'eval.json', '--report', 'none',
  ]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /skipped .*train\/good\/002\.png: not a decodable image/);
  assert.match(r.stderr, /skipped .*test\/good\/001\.png: not a decodable image/);
  assert.match(r.stderr, /skipped .*000_mask\.png: empty file/);
  assert.match(r.stderr, /skipped .*001_mask\.png: mask is 100×100 but its image is \d+×\d+/);
  assert.match(r.stderr, /skipped 3 of 7 test images \(unreadable image or mask\); metrics on the other 4/);
  assert.match(r.stdout, /5 train, 4 test \(2 anomalous\)/);
  const report = JSON.parse(await readFile(path.join(tmp, 'eval.json'), 'utf8')) as { image_auroc: number; skipped: { train: unknown[]; test: unknown[] } };
  assert.equal(report.skipped.train.length, 1);
  assert.equal(report.skipped.test.length, 3);
  assert.ok(report.image_auroc >= 0 && report.image_auroc <= 1);

  // With a model: the same test set, no fit (so no training image is read).
  const model = npad('the same test set with --model (no fit)', ['eval', 'eval-skips', '--model', 'skipped.npad', '--report', 'none']);
  assert.equal(model.code, 3, model.stderr);
  assert.doesNotMatch(model.stderr, /train\/good/);
});

test('npad eval with no defective test image left exits 2', { skip }, async () => {
  const root = await smallDataset('eval-one-class');
  for (const f of await readdir(path.join(root, 'ground_truth', 'broken_large'))) await writeFile(path.join(root, 'ground_truth', 'broken_large', f), '');
  const r = npad('every mask unreadable: only good test images left', ['eval', 'eval-one-class', ...TINY, '--report', 'none']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /eval-one-class\/test: no defective test image is left after skipping 4 unreadable/);
});

test('bad folders, model files and flags exit 2 with one line', { skip }, async () => {
  const root = await smallDataset('layout');
  await rename(path.join(root, 'train'), path.join(root, 'Train'));
  let r = npad('`Train/good` instead of `train/good`', ['eval', 'layout', ...TINY]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /found Train\/good: folder names are case-sensitive/);
  await mkdir(path.join(tmp, 'no-images', 'sub'), { recursive: true });
  await writeFile(path.join(tmp, 'no-images', 'sub', 'notes.txt'), 'not an image');
  r = npad('a folder with no images (nor in its subfolders)', ['fit', 'no-images', '--out', 'x.npad']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no-images: no images .* in this folder or its subfolders/);
  const damaged = path.join(tmp, 'damaged.npad');
  const bytes = await readFile(path.join(tmp, 'skipped.npad')).catch(() => null);
  if (bytes) {
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(damaged, bytes);
    r = npad('a damaged model file (one flipped bit)', ['eval', 'eval-skips', '--model', 'damaged.npad', '--json', 'never.json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /damaged\.npad: tensor data does not match its checksum/);
    await assert.rejects(stat(path.join(tmp, 'never.json')));
  }
  r = npad('a model file that is an image', ['eval', 'eval-skips', '--model', path.join('eval-skips', 'test', 'good', '000.png')]);
  assert.equal(r.code, 2);
  r = npad('a bad --memory-limit', ['fit', 'fit-skips', '--out', 'x.npad', '--memory-limit', 'lots']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--memory-limit: expected a memory size such as 8G/);
});

test('hostile files and flags: each refused or skipped by name, with the right exit code, before any work', { skip }, async () => {
  if (!(await stat(path.join(tmp, 'skipped.npad')).then(() => true, () => false))) {
    await smallDataset('fit-hostile');
    assert.equal(npad('a tiny model for the cases below', ['fit', 'fit-hostile', '--out', 'skipped.npad', ...TINY]).code, 0);
  }
  const dir = path.join(tmp, 'hostile');
  await mkdir(dir, { recursive: true });
  const good = path.join(bottle, 'test', 'good', '000.png');
  await writeFile(path.join(dir, 'vector.png'), '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><filter id="f"><feGaussianBlur stdDeviation="99"/></filter><rect width="9" height="9" filter="url(#f)"/></svg>');
  let r = npad('an SVG named .png', ['predict', 'skipped.npad', 'hostile/vector.png']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /vector\.png: not a decodable image \(npad reads PNG, JPEG, TIFF, BMP, WebP and GIF/);
  await sharp({ create: { width: 1, height: 1_000_000, channels: 3, background: '#808080' } }).png().toFile(path.join(dir, 'tall.png'));
  r = npad('a 1 × 1 000 000 PNG (20 KB)', ['predict', 'skipped.npad', 'hostile/tall.png']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /tall\.png/);
  r = npad('an explicit path to /dev/zero', ['predict', 'skipped.npad', '/dev/zero']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\/dev\/zero: not a regular file/);
  const walk = path.join(dir, 'walk');
  await mkdir(walk);
  await copyFile(good, path.join(walk, 'a.png'));
  await symlink('.', path.join(walk, 'loop'));
  const fifo = spawnSync('mkfifo', [path.join(walk, 'pipe.png')]);
  r = npad('a folder with a link to itself (loop -> .) and a FIFO', ['predict', 'skipped.npad', 'hostile/walk']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.split('\n').filter((l) => l.includes('a.png')).length, 1, 'the image once');
  assert.match(r.stderr, /skipped hostile\/walk\/loop: a link to a folder already searched/);
  if (fifo.status === 0) assert.match(r.stderr, /skipped hostile\/walk\/pipe\.png: not a regular file/);
  await copyFile(good, path.join(dir, 'new\nline.png'));
  r = npad('a newline in a file name', ['predict', 'skipped.npad', 'hostile/new\nline.png']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /score [0-9.]+ +hostile\/new\\nline\.png\n/, 'one line, the newline shown as \\n');
  r = npad('--storage f8', ['fit', 'hostile', '--out', 'x.npad', '--storage', 'f8']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--storage/);
  r = npad('--dim 100000', ['fit', 'hostile', '--out', 'x.npad', '--dim', '100000']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dim/);
  r = npad('--timeout-s 1e9 (past Node\'s timers)', ['serve', 'skipped.npad', '--timeout-s', '1e9']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--timeout-s/);
});

test('a configuration too large for the memory is refused before any work, with settings that fit', { skip }, async () => {
  await smallDataset('memory');
  let r = npad('N-pad at d = 550 with --memory-limit 4G', ['fit', 'memory', '--out', 'big.npad', '--dim', '550', '--memory-limit', '4G']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not enough memory: fitting N-pad with d = 550 .* needs about 1\d\.\d GiB .* more than the 4\.0 GiB available \(the memory limit 4\.0 GiB\)\. Would fit: dim \d+ \(--dim \d+\)/);
  await assert.rejects(stat(path.join(tmp, 'big.npad')));
  r = npad('PaDiM d = 550 with NPAD_MEMORY_LIMIT=6G', ['eval', 'memory', '--method', 'padim'], { NPAD_MEMORY_LIMIT: '6G' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not enough memory: fitting PaDiM with d = 550 .*\(NPAD_MEMORY_LIMIT=6G\)\. Would fit: dim \d+/);
  r = npad('PatchCore with --memory-limit 700M', ['fit', 'memory', '--out', 'pc.npad', '--method', 'patchcore', '--memory-limit', '700M']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not enough memory: fitting PatchCore/);
});

/** `npad fit` on a user's folder: subfolders searched, too few images refused with the reason, few images warned about. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { bottle, haveData, runNpad } from './helpers.js';

const TINY = ['--dim', '12', '--set', 'moduleD=false', '--set', 'bankDim=64', '--batch-size', '4', '--resize', '128', '--crop', '112'];

/** A folder of `count` good bottle images spread over `line-a/`, `line-b/day-2/` and the folder itself. */
async function nestedFolder(count: number): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'npad-folders-'));
  const places = ['', 'line-a', path.join('line-b', 'day-2')];
  const names = (await readdir(path.join(bottle, 'train', 'good'))).sort().slice(0, count);
  for (const [i, name] of names.entries()) {
    const dir = path.join(root, places[i % places.length]!);
    await mkdir(dir, { recursive: true });
    await copyFile(path.join(bottle, 'train', 'good', name), path.join(dir, name));
  }
  return root;
}

test('npad fit searches subfolders, and warns that a threshold from few good images is extrapolated', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const root = await nestedFolder(7);
  const model = path.join(root, 'm.npad');
  const r = runNpad(['fit', root, '-o', model, ...TINY]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fitted on 6 images/); // 7 found in three folders, one held out for the threshold
  assert.match(r.stderr, /warning: only 7 good images\. .*extrapolated, not measured/);
  await stat(model);
});

test('npad fit refuses fewer good images than it needs, saying why', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const root = await nestedFolder(3);
  const r = runNpad(['fit', root, '-o', path.join(root, 'm.npad'), ...TINY]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /: 3 readable good images; npad fit needs at least 4 \(one held out to set the threshold, three to fit/);
  await assert.rejects(stat(path.join(root, 'm.npad')));
});

/** Labelled folders without train/: test/good and test/nok (no masks), and test/broken_large with its masks. */
async function labelledFolders(withMasksFor: boolean): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'npad-labelled-'));
  const copy = async (from: string, to: string, count: number): Promise<void> => {
    await mkdir(path.join(root, to), { recursive: true });
    for (const f of (await readdir(path.join(bottle, from))).sort().slice(0, count)) await copyFile(path.join(bottle, from, f), path.join(root, to, f));
  };
  await copy('test/good', 'test/good', 4);
  await copy('test/contamination', 'test/nok', 3);
  if (withMasksFor) {
    await copy('test/broken_large', 'test/broken_large', 3);
    await copy('ground_truth/broken_large', 'ground_truth/broken_large', 3);
  }
  return root;
}

test('npad eval on labelled folders without masks: image metrics, the confusion at the threshold, --save-threshold', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const train = await nestedFolder(8);
  const model = path.join(train, 'm.npad');
  assert.equal(runNpad(['fit', train, '-o', model, ...TINY]).code, 0);

  const plain = await labelledFolders(false);
  const json = path.join(plain, 'metrics.json');
  const r = runNpad(['eval', plain, '-m', model, '--json', json, '--report', 'none', '--save-threshold', 'f1-max']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /7 test \(3 anomalous\)/);
  assert.match(r.stdout, /pixel AUROC +n\/a \(no defect masks\)/);
  assert.match(r.stdout, /at the model's threshold \(f1-max\): \d+ of 4 good images called defective, \d+ of 3 defective missed/);
  const metrics = JSON.parse(await readFile(json, 'utf8')) as { image_auroc: number; pixel_auroc: number | null; pro: number | null; counts: { anomalous_with_masks: number } };
  assert.ok(metrics.image_auroc >= 0 && metrics.image_auroc <= 1);
  assert.equal(metrics.pixel_auroc, null);
  assert.equal(metrics.pro, null);
  assert.equal(metrics.counts.anomalous_with_masks, 0);

  const partly = await labelledFolders(true);
  const p = runNpad(['eval', partly, '-m', model, '--report', path.join(partly, 'r.html')]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /10 test \(6 anomalous\) \(pixel metrics on the 3 of 6 defective images that have masks\)/);
  assert.match(p.stdout, /pixel AUROC +\d+\.\d\d\n/);
  await stat(path.join(partly, 'r.html'));
});

test('npad predict refuses an explicit path that is no regular file (a FIFO would block, a device never end)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-fifo-'));
  const fifo = path.join(dir, 'camera.png');
  execFileSync('mkfifo', [fifo]);
  const r = runNpad(['predict', path.join(dir, 'missing-model.npad'), fifo]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /camera\.png: not a regular file \(a FIFO, socket or device\)/);
});

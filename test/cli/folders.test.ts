/** `npad fit` on a user's folder: subfolders searched, too few images refused with the reason, few images warned about. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, stat } from 'node:fs/promises';
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

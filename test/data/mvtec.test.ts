import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { imagesUnder, listImages, readMvtecDataset } from '../../src/data/mvtec.js';
import { NpadInputError } from '../../src/errors.js';

let base = '';
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'npad-mvtec-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/**
 * Creates a dataset tree under base/name from relative file paths (folders
 * end in "/"). The reader never decodes, so the files are empty.
 */
async function tree(name: string, paths: string[]): Promise<string> {
  const root = join(base, name);
  await mkdir(root, { recursive: true });
  for (const p of paths) {
    const full = join(root, p);
    if (p.endsWith('/')) {
      await mkdir(full, { recursive: true });
    } else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, '');
    }
  }
  return root;
}

/** A complete, valid layout. */
const VALID = [
  'train/good/b.png',
  'train/good/a.png',
  'train/good/C.JPG',
  'train/good/d.tiff',
  'train/good/e.bmp',
  'train/good/.hidden.png',
  'train/good/notes.txt',
  'train/good/sub/inner.png',
  'test/good/001.png',
  'test/good/000.png',
  'test/crack/001.png',
  'test/crack/000.png',
  'test/Scratch/x.jpeg',
  'test/.ipynb_checkpoints/000.png',
  'ground_truth/crack/000_mask.png',
  'ground_truth/crack/001_mask.png',
  'ground_truth/Scratch/x_mask.png',
];

/** Asserts an NpadInputError starting with `path: ` and matching `detail`. */
async function rejectsNaming(promise: Promise<unknown>, path: string, detail: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof NpadInputError, String(err));
    assert.ok(err.message.startsWith(`${path}: `), err.message);
    assert.match(err.message, detail);
    return true;
  });
}

describe('readMvtecDataset', () => {
  it('reads a valid tree: sorted, labelled, with masks; hidden and non-image files skipped', async () => {
    const root = await tree('valid', VALID);
    const ds = await readMvtecDataset(root);
    assert.equal(ds.root, root);
    // Code-point order: upper case before lower case, as Python's sorted().
    assert.deepEqual(
      ds.train,
      ['C.JPG', 'a.png', 'b.png', 'd.tiff', 'e.bmp'].map((n) => join(root, 'train/good', n)),
    );
    assert.deepEqual(ds.test, [
      { path: join(root, 'test/Scratch/x.jpeg'), defect: 'Scratch', label: 1, maskPath: join(root, 'ground_truth/Scratch/x_mask.png') },
      { path: join(root, 'test/crack/000.png'), defect: 'crack', label: 1, maskPath: join(root, 'ground_truth/crack/000_mask.png') },
      { path: join(root, 'test/crack/001.png'), defect: 'crack', label: 1, maskPath: join(root, 'ground_truth/crack/001_mask.png') },
      { path: join(root, 'test/good/000.png'), defect: 'good', label: 0, maskPath: null },
      { path: join(root, 'test/good/001.png'), defect: 'good', label: 0, maskPath: null },
    ]);
  });

  it('refuses a missing root or a file as root', async () => {
    const missing = join(base, 'does-not-exist');
    await rejectsNaming(readMvtecDataset(missing), missing, /folder not found/);
    const file = join(base, 'a-file');
    await writeFile(file, '');
    await rejectsNaming(readMvtecDataset(file), file, /not a folder/);
  });

  it('refuses a tree without train/good, explaining the layout', async () => {
    const root = await tree('no-train', ['test/good/0.png', 'train/']);
    await rejectsNaming(
      readMvtecDataset(root),
      root,
      /^.*: no train\/good folder: expected the MVTec AD layout root\/train\/good, root\/test\/<good or defect>, optionally root\/ground_truth\/<defect>$/,
    );
  });

  it('refuses an empty train/good', async () => {
    const root = await tree('empty-train', ['train/good/readme.txt', 'test/good/0.png']);
    await rejectsNaming(readMvtecDataset(root), join(root, 'train/good'), /no images/);
  });

  it('refuses a tree without test', async () => {
    const root = await tree('no-test', ['train/good/0.png']);
    await rejectsNaming(readMvtecDataset(root), root, /no test folder/);
  });

  it('refuses a test folder without images', async () => {
    const root = await tree('empty-test', ['train/good/0.png', 'test/good/']);
    await rejectsNaming(readMvtecDataset(root), join(root, 'test'), /no test images/);
  });

  it('refuses a defective image without its mask, naming both', async () => {
    const root = await tree('no-mask', ['train/good/0.png', 'test/crack/000.png', 'test/crack/001.png', 'ground_truth/crack/000_mask.png']);
    const image = join(root, 'test/crack/001.png');
    const mask = join(root, 'ground_truth/crack/001_mask.png');
    await rejectsNaming(readMvtecDataset(root), image, new RegExp(`no mask: expected ${mask.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  it('reads a defect folder without ground truth as image labels only (labelled folders), and train/good as optional with a model', async () => {
    const bare = await tree('no-gt', ['train/good/0.png', 'test/good/1.png', 'test/hole/7.png']);
    const dataset = await readMvtecDataset(bare);
    assert.deepEqual(
      dataset.test.map((t) => [t.defect, t.label, t.maskPath]),
      [['good', 0, null], ['hole', 1, null]],
    );
    const noTrain = await tree('no-train-labelled', ['test/good/1.png', 'test/nok/2.png']);
    assert.deepEqual((await readMvtecDataset(noTrain, { train: 'optional' })).train, []);
    await assert.rejects(readMvtecDataset(noTrain), /no train\/good folder/);
  });
});

describe('listImages', () => {
  it('lists the images of a plain folder, sorted, case-insensitive extensions', async () => {
    const root = await tree('plain', ['z.PNG', 'a.Jpeg', 'm.tif', '.x.png', 'readme.md', 'nested/q.png']);
    assert.deepEqual(await listImages(root), ['a.Jpeg', 'm.tif', 'z.PNG'].map((n) => join(root, n)));
  });

  it('returns an empty list for a folder without images', async () => {
    const root = await tree('none', ['readme.md']);
    assert.deepEqual(await listImages(root), []);
  });

  it('refuses a missing folder or a file', async () => {
    const missing = join(base, 'nowhere');
    await rejectsNaming(listImages(missing), missing, /folder not found/);
    const file = join(base, 'plain', 'z.PNG');
    await rejectsNaming(listImages(file), file, /not a folder/);
  });
});

describe('imagesUnder', () => {
  it('ends link cycles, searches each folder once, and names what it leaves out', async () => {
    const root = await tree('walk', ['a/1.png', 'b/2.png', 'b/c/3.png']);
    await symlink('.', join(root, 'loop')); // a cycle: root/loop → root
    await symlink(join(root, 'b'), join(root, 'a', 'to-b')); // a second way into b
    await symlink(join(root, 'nowhere.png'), join(root, 'dangling.png'));
    execFileSync('mkfifo', [join(root, 'pipe.png')]);
    const skipped: string[] = [];
    const found = await imagesUnder(root, (s) => skipped.push(`${path.relative(root, s.path)}: ${s.reason}`));
    assert.deepEqual(found.map((f) => path.relative(root, f)), ['a/1.png', 'a/to-b/2.png', 'a/to-b/c/3.png']);
    assert.deepEqual(skipped, [
      'b: a link to a folder already searched (a cycle, or a second way in)',
      'dangling.png: a dangling link (its target does not exist)',
      'loop: a link to a folder already searched (a cycle, or a second way in)',
      'pipe.png: not a regular file (a FIFO, socket or device)',
    ]);
  });
});

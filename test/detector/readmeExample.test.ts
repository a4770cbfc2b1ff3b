/**
 * Runs the library example of README.md ("The library") as it is written, so it cannot rot: the `npad` import
 * points at src/index.ts and the dataset at a small copy of bottle; everything else is the README's text.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { BOTTLE } from '../sharedData.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);
const README_DATASET = "'../shared/datasets/mvtec_ad/bottle'";

/** The first ```ts block of the README section "## The library". */
export function libraryExample(readme: string): string {
  const section = readme.slice(readme.indexOf('## The library'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README.md: no ```ts block under "## The library"');
  return match[1]!;
}

test('the README library example runs as written', { skip: !haveData && 'shared bottle data not found' }, async () => {
  const code = libraryExample(await readFile(path.join(repo, 'README.md'), 'utf8'));
  assert.ok(code.includes("from 'npad'") && code.includes(README_DATASET), 'the example imports npad and reads the bottle data');

  const root = await mkdtemp(path.join(os.tmpdir(), 'npad-readme-'));
  const data = path.join(root, 'bottle');
  for (const [from, count] of [['train/good', 6], ['test/good', 1], ['test/broken_large', 1], ['ground_truth/broken_large', 1]] as const) {
    await mkdir(path.join(data, from), { recursive: true });
    for (const f of (await readdir(path.join(bottle, from))).sort().slice(0, count)) await copyFile(path.join(bottle, from, f), path.join(data, from, f));
  }
  const script = path.join(root, 'example.mts'); // .mts: an ES module (top-level await) without a package.json
  const runnable = code.replace("from 'npad'", `from ${JSON.stringify(pathToFileURL(path.join(repo, 'src', 'index.ts')).href)}`).replace(README_DATASET, JSON.stringify(data));
  await writeFile(script, runnable);
  // tsx resolved from here: the script sits in a temporary folder without node_modules.
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), script], { cwd: root, encoding: 'utf8', env: { ...process.env, NPAD_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /image threshold [\d.e+-]+, pixel threshold [\d.e+-]+/);
  assert.match(r.stdout, /broken_large\/000\.png (good|defective) -?[\d.]+ [01]\.\d{3}/);
  assert.match(r.stdout, /image_auroc/);
  await stat(path.join(root, 'bottle.npad'));
  for (const f of ['overlay-0.png', 'mask-0.png', 'overlay-1.png', 'mask-1.png']) {
    const meta = await sharp(path.join(root, f)).metadata();
    // At the photo's own size (the shared bottle's are 256 × 256), whatever the network's input (224 × 224).
    assert.deepEqual([meta.width, meta.height], [256, 256], f);
  }
});

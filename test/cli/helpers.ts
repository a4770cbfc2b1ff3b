/** What the command-line tests share: running `npad` from the sources, and a small copy of the bottle data. */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BOTTLE } from '../sharedData.js';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bottle = BOTTLE;
export const haveData = await stat(bottle).then(() => true, () => false);

/** Runs `npad ARGS…` (src/cli/main.ts through tsx) on `threads` onnxruntime threads and waits for it. */
export function runNpad(args: readonly string[], threads = 2): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'src', 'cli', 'main.ts'), ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, NPAD_THREADS: String(threads) },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A small MVTec-layout copy of bottle in a temp folder: 6 train images, `testCount` good and broken_large test images with masks. */
export async function smallDataset(prefix: string, testCount: number): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), prefix));
  for (const [from, count] of [['train/good', 6], ['test/good', testCount], ['test/broken_large', testCount], ['ground_truth/broken_large', testCount]] as const) {
    await mkdir(path.join(root, from), { recursive: true });
    for (const f of (await readdir(path.join(bottle, from))).sort().slice(0, count)) await copyFile(path.join(bottle, from, f), path.join(root, from, f));
  }
  return root;
}

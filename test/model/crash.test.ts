import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { loadModel, saveModel, type ModelTensor } from '../../src/model/modelFile.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./slowSaveChild.ts', import.meta.url));

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-crash-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the child and SIGKILLs it once it reports being half way; resolves to the bytes it had written. */
function killMidway(path: string, megabytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(megabytes)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let written: number | undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /midway (\d+)/.exec(out);
      if (m !== null && written === undefined) {
        written = Number(m[1]);
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (written !== undefined && signal === 'SIGKILL') resolve(written);
      else reject(new Error(`child ended with code ${code} signal ${signal} before half way:\n${out}\n${err}`));
    });
  });
}

test('a save killed with SIGKILL half way leaves the previous model loadable and verified', async () => {
  const path = join(dir, 'model.safetensors');
  const oldValues = new Float32Array([1, 2, 3, 4]);
  const old = new Map<string, ModelTensor>([['memory', { dtype: 'F32', shape: [2, 2], data: oldValues }]]);
  const backbone = { id: 'old-backbone', weightsSha256: 'a'.repeat(64) };
  await saveModel(path, { method: 'small', config: { k: 1 }, backbone }, old);
  const before = await readFile(path);

  const written = await killMidway(path, 200);
  assert.ok(written >= 100 * 1024 * 1024, `child wrote ${written} bytes before the kill`);

  assert.deepEqual(await readFile(path), before, 'the previous file is byte-identical');
  const loaded = await loadModel(path, { backboneId: 'old-backbone', weightsSha256: backbone.weightsSha256 });
  assert.equal(loaded.header.method, 'small');
  assert.deepEqual([...(loaded.tensors.get('memory')?.data ?? [])], [...oldValues]);

  // SIGKILL gives no chance to clean up: the partial temp file stays beside the model.
  const temps = (await readdir(dir)).filter((n) => n.startsWith('model.safetensors.') && n.endsWith('.tmp'));
  assert.equal(temps.length, 1);
  assert.match(temps[0] ?? '', /^model\.safetensors\.\d+\.[0-9a-f]+\.tmp$/);
  assert.equal((await stat(join(dir, temps[0] ?? ''))).size, written);
});

/**
 * Child process for modelFiles.test.ts, run inside a private mount namespace on a small tmpfs (`unshare -r -m`):
 * saves a small model, then tries to replace it with one larger than the file system, and reports on stdout, as
 * JSON, what the save threw and what is left on the disk.
 *
 *   node --import tsx test/robustness/fullDiskChild.ts DIR
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { NpadInputError } from '../../src/errors.js';
import { loadModel, saveModel, type ModelTensor } from '../../src/model/modelFile.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: fullDiskChild.ts DIR');
const file = path.join(dir, 'model.npad');
const backbone = { id: 'test-backbone', weightsSha256: 'c'.repeat(64) };
const model = (values: number): Map<string, ModelTensor> =>
  new Map([['weights', { dtype: 'F32', shape: [values], data: new Float32Array(values).map((_, i) => i % 97) }]]);

await saveModel(file, { method: 'small', config: { version: 1 }, backbone }, model(25_000)); // 100 kB
const before = await readFile(file);
let thrown: { name: string; message: string; file?: string; code?: string } | null = null;
try {
  await saveModel(file, { method: 'big', config: { version: 2 }, backbone }, model(1_000_000)); // 4 MB on a 1 MiB disk
} catch (err) {
  const e = err as Error & { file?: string; cause?: { code?: string } };
  thrown = { name: err instanceof NpadInputError ? 'NpadInputError' : e.name, message: e.message, file: e.file, code: e.cause?.code };
}
const after = await readFile(file);
const loaded = await loadModel(file).then((m) => m.header.method, (e: Error) => `not loadable: ${e.message}`);
process.stdout.write(
  JSON.stringify({ thrown, previousIntact: before.equals(after), loadedMethod: loaded, leftovers: (await readdir(dir)).filter((n) => n !== 'model.npad') }) + '\n',
);

/**
 * Model size and cold start (issue 16's targets: a default model of at most 300 MB, `npad predict MODEL IMAGE` in at
 * most 2 s from start to exit): the file's size, and the wall time of whole `npad predict` processes on one image,
 * each a fresh Node process (the page cache warm after the first; `--drop-caches` empties it before each run where
 * the machine allows, for the cold figure).
 *
 *   npm run build && node --import tsx bench/coldStart.ts MODEL IMAGE [--runs 5] [--drop-caches]
 */
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/npadPackage.js';

const MB = 1e6;
const SIZE_TARGET_MB = 300;
const TIME_TARGET_S = 2;

const { positionals, values } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string' }, 'drop-caches': { type: 'boolean' } } });
const [model, image] = positionals;
if (!model || !image) throw new Error('usage: bench/coldStart.ts MODEL IMAGE [--runs N] [--drop-caches]');
const runs = Number(values.runs ?? 5);
const cli = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/** Empties the page cache (root on Linux only); false where the machine does not allow it. */
function dropCaches(): boolean {
  try {
    spawnSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

const seconds: number[] = [];
let cold = values['drop-caches'] === true;
for (let r = 0; r < runs; r++) {
  if (cold && !dropCaches()) {
    process.stderr.write('cannot drop the page cache here (needs root on Linux): measuring warm runs only\n');
    cold = false;
  }
  const t0 = performance.now();
  const p = spawnSync(process.execPath, [cli, 'predict', model, image], { encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (p.status !== 0) throw new Error(`npad predict exited ${String(p.status)}: ${p.stderr}`);
  seconds.push(s);
}
const sorted = [...seconds].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
const sizeMB = statSync(model).size / MB;
console.log(`model ${path.basename(model)}: ${sizeMB.toFixed(0)} MB (target ≤ ${SIZE_TARGET_MB} MB: ${(sizeMB / SIZE_TARGET_MB).toFixed(2)}× of it)`);
console.log(
  `npad predict, one image, ${cold ? 'cold page cache' : 'warm page cache'}, ${runs} runs: best ${sorted[0]!.toFixed(2)} s, median ${median.toFixed(2)} s ` +
    `(target ≤ ${TIME_TARGET_S} s: median ${(median / TIME_TARGET_S).toFixed(2)}× of it)`,
);

/**
 * Fitting streams: peak memory against the number of training images. Fits N-pad (defaults unless --dim) on
 * 50, 200 and all training images of MTD (761), each `npad fit` in its own process, and prints fit time and peak resident memory. Flat peaks show that the per-position statistics,
 * not the images, set the memory.
 *
 *   node --import tsx bench/fit-memory.ts [--dataset DIR] [--counts 50,200,all] [--dim 200]
 */
import { spawnSync } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/npadPackage.js';

const root = packageRoot();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dataset: { type: 'string', default: path.join(root, '..', 'shared', 'datasets', 'mtd', 'magnetic_tile') },
      counts: { type: 'string', default: '50,200,all' },
      dim: { type: 'string', default: '200' },
    },
  });
  const rows: string[] = ['| training images | fit (s) | peak memory (GiB) |', '| --- | --- | --- |'];
  for (const count of values.counts.split(',')) {
    const model = path.join(root, 'results', `fit-memory-${count}.npad`);
    const args = [path.join(root, 'src', 'cli', 'main.ts'), 'fit', values.dataset, '--out', model, '--dim', values.dim, '--holdout', '0'];
    if (count !== 'all') args.push('--train-subset', count);
    process.stderr.write(`fit on ${count} images …\n`);
    const started = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npad fit exited with ${String(r.status)}: ${r.stderr}`);
    // `npad fit` reports "fitted on N images in S s (peak memory M MiB)".
    const m = /fitted on (\d+) images in ([\d.]+) s \(peak memory (\d+) MiB\)/.exec(r.stdout);
    await unlink(model).catch(() => undefined);
    if (!m) throw new Error(`unexpected npad fit output: ${r.stdout}`);
    rows.push(`| ${m[1]} | ${m[2]} | ${(Number(m[3]) / 1024).toFixed(2)} |`);
    process.stderr.write(`  ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
  process.stdout.write(rows.join('\n') + '\n');
}

await main();

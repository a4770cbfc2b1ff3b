/**
 * Speed and memory of npad on this machine, in one run (docs/speed.md explains the figures):
 *   1. the MatMul peak of onnxruntime here, and each heavy stage's achieved GFLOP/s and its ratio to that peak
 *      (backbone, covariance, inversion, Mahalanobis, k-means; bench/stages.ts), for every d, with what bounds
 *      each stage: its products alone and the memory bandwidth (bench/ceilings.ts);
 *   2. N-pad and PaDiM at each d on bottle: fit time and fit peak memory, each fit in its own process
 *      (bench/child.ts, which saves the model); then latency (batch 1) and throughput (batched) of N-pad and PaDiM
 *      at the same d measured side by side in one process, taking turns (bench/speedChild.ts), and N-pad's cost
 *      over PaDiM's.
 *
 *   node --import tsx bench/run.ts [--dims 100,200,550] [--dataset DIR] [--latency 8] [--throughput 64] [--extra NAME=JSON]...
 *     [--stages-only | --no-stages]
 *
 * Writes results/bench.json. Timings are noisy on a shared machine: compare ratios within one run.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { rerunWithMemorySettings } from '../src/cli/hugePages.js';
import { releaseSessions, threadCount } from '../src/onnx/session.js';
import { memoryBandwidth } from './ceilings.js';
import type { FitFigures } from './child.js';
import type { SpeedFigures } from './speedChild.js';
import {
  SCORING_MAHALANOBIS_SHAPES,
  backboneStage,
  covarianceStage,
  inversionStage,
  kmeansStage,
  mahalanobisStage,
  matmulPeak,
  type StageFigure,
} from './stages.js';
import { packageRoot } from '../src/util/npadPackage.js';

const root = packageRoot();

/** Runs a bench script in its own process and returns the JSON its last line prints. */
function child<T>(script: string, args: string[]): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', script), ...args], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`bench/${script} ${args.join(' ')} exited with ${String(r.status)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** One configuration's figures: its fit, and its scoring speed. */
interface EndToEndFigures extends FitFigures, SpeedFigures {}

function table(header: string[], rows: (string | number)[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dims: { type: 'string', default: '100,200,550' },
      dataset: { type: 'string', default: path.join(root, '..', 'shared', 'datasets', 'mvtec_ad', 'bottle') },
      latency: { type: 'string', default: '8' },
      // 64 images: four batches of 16, so that the first batch's decoding (not overlapped) weighs little, as on a
      // line where images keep coming (24 images measured 19.4 images/s for the fast preset, 64 measured 22).
      throughput: { type: 'string', default: '64' },
      extra: { type: 'string', multiple: true },
      'stages-only': { type: 'boolean', default: false },
      'no-stages': { type: 'boolean', default: false },
    },
  });
  const dims = values.dims.split(',').map(Number);
  const out: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, threads: threadCount() }, dims };

  process.stderr.write('stages …\n');
  const peak = await matmulPeak();
  const bandwidth = await memoryBandwidth();
  out.bandwidthGBps = bandwidth / 1e9;
  const stages: StageFigure[] = [peak];
  for (const d of values['no-stages'] ? [] : dims) {
    stages.push(await backboneStage(d), await covarianceStage(d), await inversionStage(d, d > 300 ? 64 : 256));
    for (const { label, perPosition } of SCORING_MAHALANOBIS_SHAPES) stages.push(await mahalanobisStage(d, perPosition, d > 300 ? 64 : 256, label));
    stages.push(await kmeansStage(d));
    await releaseSessions();
  }
  out.stages = stages;
  // Ceilings as shares of the peak (bench/ceilings.ts): the products alone, and what the bandwidth allows.
  const share = (gflops: number | undefined): string => (gflops === undefined ? '—' : gflops >= peak.gflops ? '≥ 1' : (gflops / peak.gflops).toFixed(2));
  const stageTable = table(
    ['stage', 'shape', 'GFLOP', 'seconds', 'GFLOP/s', 'of MatMul peak', 'products alone', 'memory ceiling'],
    stages.map((s) => [
      s.stage,
      s.shape,
      (s.flop / 1e9).toFixed(2),
      s.seconds.toFixed(3),
      s.gflops.toFixed(1),
      (s.gflops / peak.gflops).toFixed(2),
      share(s.productsAloneGflops),
      share(s.bytes === undefined ? undefined : s.flop / (s.bytes / bandwidth) / 1e9),
    ]),
  );
  const ceilings = `MatMul peak ${peak.gflops.toFixed(1)} GFLOP/s; memory read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s`;
  process.stdout.write(`\n${ceilings}\n\n${stageTable}\n`);
  if (values['stages-only']) return;

  // N-pad's per-position method beside PaDiM of the same d (the ratio docs/speed.md tracks): today's --preset paper.
  // The defaults add the position-free bank: --extra 'defaults={}' measures them.
  const configs: { name: string; config: object }[] = dims.flatMap((d) => [
    { name: `N-pad d = ${d}`, config: { method: 'npad', preset: 'paper', options: { dim: d } } },
    { name: `PaDiM d = ${d}`, config: { method: 'padim', options: { dim: d } } },
  ]);
  for (const e of values.extra ?? []) {
    const eq = e.indexOf('={'); // names may contain '=' ("d = 200"); the JSON starts with '{'
    configs.push({ name: e.slice(0, eq), config: JSON.parse(e.slice(eq + 1)) as object });
  }
  const rows: { name: string; figures: EndToEndFigures }[] = [];
  const models = await mkdtemp(path.join(os.tmpdir(), 'npad-bench-'));
  try {
    const fits = configs.map((c, i) => {
      process.stderr.write(`fit ${c.name} …\n`);
      const file = path.join(models, `${i}.npad`);
      return { name: c.name, file, fit: child<FitFigures>('child.ts', [JSON.stringify(c.config), values.dataset, file]) };
    });
    // Speed: each N-pad with the PaDiM of its d in one process, taking turns; the others on their own.
    const paired = new Set<number>();
    for (const [i, f] of fits.entries()) {
      if (paired.has(i)) continue;
      const partner = f.name.startsWith('N-pad d = ') ? fits.findIndex((g) => g.name === f.name.replace('N-pad', 'PaDiM')) : -1;
      const group = partner >= 0 ? [i, partner] : [i];
      group.forEach((j) => paired.add(j));
      process.stderr.write(`speed ${group.map((j) => fits[j]!.name).join(' and ')} …\n`);
      const speed = child<SpeedFigures[]>('speedChild.ts', [values.dataset, values.latency, values.throughput, ...group.map((j) => fits[j]!.file)]);
      group.forEach((j, k) => {
        rows[j] = { name: fits[j]!.name, figures: { ...fits[j]!.fit, ...speed[k]! } };
      });
      for (const j of group) await rm(fits[j]!.file, { force: true });
    }
  } finally {
    await rm(models, { recursive: true, force: true });
  }
  out.endToEnd = rows;
  const padimOf = (name: string): EndToEndFigures | undefined => rows.find((r) => r.name === name.replace('N-pad', 'PaDiM'))?.figures;
  const e2eTable = table(
    ['configuration', 'fit (s)', 'fit user / system CPU (s)', 'fit minor faults (M)', 'fit peak (GiB)', 'latency, batch 1 (ms)', 'throughput (img/s)', 'latency ÷ PaDiM same d', 'PaDiM throughput ÷ this'],
    rows.map(({ name, figures: f }) => {
      const p = name.startsWith('N-pad') ? padimOf(name) : undefined;
      const ratios = p ? [(f.latencyMs / p.latencyMs).toFixed(2), (p.throughput / f.throughput).toFixed(2)] : ['', ''];
      const cpu = `${f.fitUserSeconds.toFixed(1)} / ${f.fitSystemSeconds.toFixed(1)}`;
      return [name, f.fitSeconds.toFixed(1), cpu, (f.fitMinorFaults / 1e6).toFixed(2), (f.fitPeakMiB / 1024).toFixed(2), f.latencyMs.toFixed(0), f.throughput.toFixed(2), ...ratios];
    }),
  );
  process.stdout.write(`\n${e2eTable}\n`);
  await mkdir(path.join(root, 'results'), { recursive: true });
  await writeFile(path.join(root, 'results', 'bench.json'), JSON.stringify(out, null, 2) + '\n');
  await writeFile(path.join(root, 'results', 'bench.md'), `${ceilings}\n\n${stageTable}\n\n${e2eTable}\n`);
  process.stderr.write('wrote results/bench.json and results/bench.md\n');
}

// Measured as the npad command runs: with transparent huge pages (src/cli/hugePages.ts); the children inherit them.
if (!(await rerunWithMemorySettings([]))) await main();

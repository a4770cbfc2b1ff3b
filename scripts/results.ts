/**
 * Regenerates docs/results.md: fits and evaluates the default detector on the shared datasets (each run a
 * separate `npad eval` process, so its peak memory is its own), then writes the table beside the paper's
 * figures and the PyTorch reference figures from ../shared/datasets/README.md. The comparison with PaDiM,
 * PatchCore and the ablations is folded in from the rows scripts/compare.ts has measured
 * (results/compare/<dataset>/), so both datasets' methods sit in one table.
 *
 *   npm run results                 # all runs
 *   npm run results -- --only bottle
 *   npm run results -- --only none  # only re-render from measured JSON
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/backbone/index.js';
import { PAPER_TABLE3, type ComparedRow } from './comparedRow.js';

interface Run {
  name: string;
  dataset: string;
  description: string;
  args: string[];
  paper: string;
}

const root = packageRoot();
const shared = path.join(root, '..', 'shared', 'datasets');
const RUNS: Run[] = [
  { name: 'bottle', dataset: path.join(shared, 'mvtec_ad', 'bottle'), description: 'MVTec AD bottle, 256 → crop 224', args: [], paper: 'N-pad (WRN-50): 100 / 98.91' },
  { name: 'mtd', dataset: path.join(shared, 'mtd', 'magnetic_tile'), description: 'MTD, 256 → crop 224', args: [], paper: 'N-pad (WRN-50): 98.22 / 85.43; PatchCore 97.9 / 84.90' },
  {
    name: 'bottle-d550',
    dataset: path.join(shared, 'mvtec_ad', 'bottle'),
    description: "MVTec AD bottle at the paper's d = 550",
    args: ['--dim', '550'],
    paper: 'N-pad (WRN-50): 100 / 98.91',
  },
  {
    name: 'mtd-nocrop',
    dataset: path.join(shared, 'mtd', 'magnetic_tile'),
    description: 'MTD, 256 without crop (module D shifts the feature grid, so it needs no margin)',
    args: ['--crop', 'none'],
    paper: 'as above',
  },
];

interface Report {
  image_auroc: number;
  pixel_auroc: number;
  pro: number;
  image_f1_max: number;
  counts: { train: number; test: number; anomalous: number };
  timings: { fit_seconds: number; score_seconds: number; ms_per_image: number };
  peak_rss_mib: number;
  config: { options: Record<string, unknown>; preprocess: Record<string, unknown>; featureGrid: Record<string, unknown> };
  backbone: { id: string };
}

function pct(x: number): string {
  return (100 * x).toFixed(2);
}

const COMPARED_DATASETS = [
  { dir: 'bottle', name: 'bottle' },
  { dir: 'magnetic_tile', name: 'MTD (crop)' },
];
const METHOD_ORDER = ['N-pad (defaults)', 'N-pad, shifting in image space (the paper)', 'PaDiM d = 100', 'PaDiM d = 550', 'PatchCore 1 %', 'PatchCore 10 %'];
const ABLATION_ORDER = ['exper1', 'exper2', 'exper3', 'exper4', 'exper5', 'npad'];

async function comparedRows(dir: string): Promise<ComparedRow[]> {
  const folder = path.join(root, 'results', 'compare', dir);
  const files = await readdir(folder).catch(() => [] as string[]);
  const rows: ComparedRow[] = [];
  for (const f of files.filter((f) => f.endsWith('.json'))) rows.push(JSON.parse(await readFile(path.join(folder, f), 'utf8')) as ComparedRow);
  return rows;
}

/** Methods × datasets and the ablations, from the rows scripts/compare.ts measured. */
async function comparisonSection(): Promise<string> {
  const methodLines: string[] = [];
  const ablationLines: string[] = [];
  for (const d of COMPARED_DATASETS) {
    const rows = await comparedRows(d.dir);
    const cells = (r: ComparedRow): string =>
      `${pct(r.image_auroc)} | ${pct(r.pixel_auroc)} | ${pct(r.pro)} | ${r.fit_seconds.toFixed(0)} | ${r.ms_per_image.toFixed(0)} | ${r.model_mib.toFixed(0)}`;
    for (const label of METHOD_ORDER) {
      const r = rows.find((x) => x.group === 'methods' && x.label === label);
      methodLines.push(`| ${d.name} | ${label} | ${r ? cells(r) : 'not measured | | | | |'} |`);
    }
    for (const label of ABLATION_ORDER) {
      const r = rows.find((x) => x.group === 'ablations' && x.label === label);
      if (r) ablationLines.push(`| ${d.name} | ${label} | ${cells(r)} | ${PAPER_TABLE3[label]!} |`);
    }
  }
  const head = '| image AUROC | pixel AUROC | PRO | fit (s) | ms/image | model (MiB) |';
  return `## N-pad beside PaDiM and PatchCore

Same backbone, images, preprocessing and metrics for every method (scripts/compare.ts; each row one \`npad fit\`
then \`npad eval --model\`, so fit time includes process start). Sweeps (channels with the SVG plot, few-shot,
neighbourhood, shift, centroids, input-size ensemble): [comparison-bottle.md](comparison-bottle.md),
[comparison-magnetic_tile.md](comparison-magnetic_tile.md).

| dataset | method ${head}
| --- | --- | --- | --- | --- | --- | --- | --- |
${methodLines.join('\n')}

Ablations (paper table 3: A weighted-similarity Gaussians, B aggregated Gaussians + centroids, C neighbours'
distributions at inference, D shifting; the \`npad\` row shifts in image space, as the paper does):

| dataset | preset ${head} paper pixel AUROC (MVTec mean, WRN-50) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${ablationLines.join('\n')}
`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string', multiple: true } } });
  const runs = values.only ? RUNS.filter((r) => values.only!.includes(r.name)) : RUNS; // `--only none`: render only
  const outDir = path.join(root, 'results');
  await mkdir(outDir, { recursive: true });
  for (const run of runs) {
    const json = path.join(outDir, `${run.name}.json`);
    process.stderr.write(`== ${run.name}: npad eval ${run.dataset} ${run.args.join(' ')}\n`);
    const r = spawnSync(process.execPath, [path.join(root, 'dist', 'src', 'cli', 'main.js'), 'eval', run.dataset, '--json', json, '--report', path.join(outDir, `${run.name}.html`), ...run.args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${run.name}: npad eval exited with ${String(r.status)}`);
  }
  const rows: string[] = [];
  let options = '';
  for (const run of RUNS) {
    let rep: Report;
    try {
      rep = JSON.parse(await readFile(path.join(outDir, `${run.name}.json`), 'utf8')) as Report;
    } catch {
      continue;
    }
    rows.push(
      `| ${run.description} | ${pct(rep.image_auroc)} | ${pct(rep.pixel_auroc)} | ${pct(rep.pro)} | ${pct(rep.image_f1_max)} | ` +
        `${rep.timings.fit_seconds.toFixed(0)} | ${rep.timings.ms_per_image.toFixed(0)} | ${(rep.peak_rss_mib / 1024).toFixed(1)} | ${run.paper} |`,
    );
    if (!options) options = '```json\n' + JSON.stringify({ backbone: rep.backbone.id, ...rep.config }, null, 2) + '\n```';
  }
  const md = `# Results

Regenerated by \`npm run results\` (scripts/results.ts) on a 2-core x86-64 machine, no GPU. Each row is one
\`npad eval\` process: fit on \`train/good\`, score \`test/\`, metrics against the ground truth. Backbone: the
shared ResNet50-v2 (ImageNet); the paper used WideResNet-50-2, so its figures are a reference, not a like-for-like.
Metrics in %, fit in seconds (backbone included), scoring in ms per test image (all shifted versions and the
backbone included), peak memory = peak resident set of the process. These runs shared the 2 cores with other
jobs, so their times are high and noisy; docs/speed.md has times measured with nothing else running.

| run | image AUROC | pixel AUROC | PRO (≤0.3) | image F1-max | fit (s) | ms/image | peak (GiB) | paper (image / pixel AUROC) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

PyTorch reference implementations on the same backbone and data (../shared/datasets/README.md):
bottle PatchCore 1 % 100 / 98.75 / PRO 94.4, PaDiM d = 550 99.6 / 98.29 / 95.0; MTD (crop) PatchCore 1 % 96.9 / 82.86 / 74.9,
PaDiM d = 550 86.36 / 75.00 / 76.4.

${await comparisonSection()}
Configuration of the runs in the first table (the defaults; how each was chosen: docs/method-choices.md):

${options}
`;
  await writeFile(path.join(root, 'docs', 'results.md'), md);
  process.stderr.write('wrote docs/results.md\n');
}

await main();

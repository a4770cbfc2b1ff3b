/**
 * Regenerates docs/results.md: N-pad's defaults, its `--preset paper`, PaDiM and PatchCore on bottle and MTD in one
 * table (each run a separate `npad eval` process, so its peak memory is its own), the ablation of the position-free
 * bank (scripts/fusion-sweep.ts), and the paper's table 3 ablations where scripts/compare.ts measured them
 * (results/compare/<dataset>/). About 2½ hours on 2 quiet cores (stop 25: 1 h 43 min for the ten method rows and the
 * two whole-image rows).
 *
 *   npm run results                        # all runs
 *   npm run results -- --only bottle --only bottle-fusion
 *   npm run results -- --only none         # only re-render from measured JSON
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PAPER_TABLE3, type ComparedRow } from './comparedRow.js';
import { packageRoot } from '../src/util/npadPackage.js';
import { readMvtecDataset } from '../src/data/mvtec.js';
import { imageSourceSize } from '../src/image/source.js';

interface Run {
  /** File stem of the run's JSON and report under results/. */
  name: string;
  /** Key into DATASETS. */
  dataset: keyof typeof DATASETS;
  /** Row label. */
  label: string;
  /** Flags of `npad eval` besides the dataset. */
  args: string[];
}

const root = packageRoot();
const shared = path.join(root, '..', 'shared', 'datasets');
const DATASETS = {
  bottle: { dir: path.join(shared, 'mvtec_ad', 'bottle'), title: 'MVTec AD bottle', paper: 'N-pad (WRN-50): 100 / 98.91' },
  mtd: { dir: path.join(shared, 'mtd', 'magnetic_tile'), title: 'MTD', paper: 'N-pad (WRN-50): 98.22 / 85.43; PatchCore 97.9 / 84.90; PaDiM 86.88 / 82.45' },
} as const;
const DEFAULTS_LABEL = 'N-pad (defaults)';
/** Each method on each dataset, on the benchmark's input (256 → crop 224): the defaults, the paper's reading, and the two baselines. */
const METHODS: { slug: string; label: string; args: string[] }[] = [
  { slug: '', label: DEFAULTS_LABEL, args: [] },
  { slug: '-paper', label: 'N-pad, `--preset paper` (the paper\'s k-means bank, no position-free map)', args: ['--preset', 'paper'] },
  { slug: '-padim550', label: 'PaDiM d = 550', args: ['--method', 'padim', '--dim', '550'] },
  { slug: '-patchcore1', label: 'PatchCore 1 %', args: ['--method', 'patchcore', '--set', 'coresetRatio=0.01'] },
  { slug: '-patchcore10', label: 'PatchCore 10 %', args: ['--method', 'patchcore'] },
];
const RUNS: Run[] = (Object.keys(DATASETS) as (keyof typeof DATASETS)[]).flatMap((dataset) =>
  METHODS.map((m) => ({ name: `${dataset}${m.slug}`, dataset, label: m.label, args: ['--input', 'crop', ...m.args] })),
);
/** N-pad's defaults on the whole image (the default for user images) against the crop rows above; tiles on bottle (its shared photos are 256², so tiles of 160 px zoom 1.4×). */
const WHOLE_RUNS: Run[] = [
  { name: 'bottle-whole', dataset: 'bottle', label: 'whole image (default), 224×224', args: ['--input', 'whole'] },
  { name: 'bottle-tiles', dataset: 'bottle', label: 'tiles of 160 px, overlap 64 (2 × 2 per 256² photo), each 224×224', args: ['--input', 'whole', '--tile', '160', '--tile-overlap', '64'] },
  { name: 'mtd-whole', dataset: 'mtd', label: 'whole image (default), median aspect ratio', args: ['--input', 'whole'] },
];
/** The ablation of the position-free bank (scripts/fusion-sweep.ts), one per dataset. */
const ABLATIONS = (Object.keys(DATASETS) as (keyof typeof DATASETS)[]).map((dataset) => ({ name: `${dataset}-fusion`, dataset }));

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
const ABLATION_ORDER = ['exper1', 'exper2', 'exper3', 'exper4', 'exper5', 'npad'];

async function comparedRows(dir: string): Promise<ComparedRow[]> {
  const folder = path.join(root, 'results', 'compare', dir);
  const files = await readdir(folder).catch(() => [] as string[]);
  const rows: ComparedRow[] = [];
  for (const f of files.filter((f) => f.endsWith('.json'))) rows.push(JSON.parse(await readFile(path.join(folder, f), 'utf8')) as ComparedRow);
  return rows;
}

/** The paper's table 3 ablations, from the rows scripts/compare.ts measured (left out when none were). */
async function paperAblationSection(): Promise<string> {
  const lines: string[] = [];
  for (const d of COMPARED_DATASETS) {
    const rows = await comparedRows(d.dir);
    for (const label of ABLATION_ORDER) {
      const r = rows.find((x) => x.group === 'ablations' && x.label === label);
      if (r) {
        lines.push(
          `| ${d.name} | ${label} | ${pct(r.image_auroc)} | ${pct(r.pixel_auroc)} | ${pct(r.pro)} | ${r.fit_seconds.toFixed(0)} | ${r.ms_per_image.toFixed(0)} | ${r.model_mib.toFixed(0)} | ${PAPER_TABLE3[label]!} |`,
        );
      }
    }
  }
  if (lines.length === 0) {
    return `The paper's own ablations (its table 3, \`--preset exper1\` … \`npad\`, on its k-means bank) were last measured
at stop 12: [comparison-bottle.md](comparison-bottle.md); \`node dist/scripts/compare.js --group ablations\`
measures them into this section.
`;
  }
  return `The paper's own ablations (its table 3: A weighted-similarity Gaussians, B aggregated Gaussians + centroids, C
neighbours' distributions at inference, D shifting; on the paper's k-means bank; scripts/compare.ts):

| dataset | preset | image AUROC | pixel AUROC | PRO | fit (s) | ms/image | model (MiB) | paper pixel AUROC (MVTec mean, WRN-50) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${lines.join('\n')}
`;
}

interface AblationLine {
  variant: string;
  image_auroc: number;
  pixel_auroc: number;
  pro: number;
  held_out: number;
}

/** What the position-free bank adds (scripts/fusion-sweep.ts lines), every variant of each dataset; `missing` names the sweeps without results. */
async function fusionAblationSection(outDir: string): Promise<{ text: string; missing: string[] }> {
  const lines: string[] = [];
  const missing: string[] = [];
  for (const a of ABLATIONS) {
    let text: string;
    try {
      text = await readFile(path.join(outDir, `${a.name}.jsonl`), 'utf8');
    } catch {
      missing.push(a.name);
      continue;
    }
    const rows = text.trim().split('\n').map((l) => JSON.parse(l) as AblationLine);
    for (const r of rows) lines.push(`| ${DATASETS[a.dataset].title} | ${r.variant} | ${pct(r.image_auroc)} | ${pct(r.pixel_auroc)} | ${pct(r.pro)} |`);
  }
  const text = `## What the position-free bank adds

One fit of the defaults per dataset (scripts/fusion-sweep.ts, as \`npad eval\` fits: all of train/good, of which
the fit holds 10 % out to standardise the maps), its test set scored by both parts unfused, then combined several
ways. The first rows are the ablation; the others are the fusions measured against the chosen one
(docs/method-choices.md F1–F3).

| dataset | map and image score | image AUROC | pixel AUROC | PRO |
| --- | --- | --- | --- | --- |
${lines.join('\n')}
`;
  return { text, missing };
}

/** Mean megapixels of a dataset's test images (their headers), for time per megapixel. */
async function testMegapixels(dataset: keyof typeof DATASETS): Promise<number> {
  const data = await readMvtecDataset(DATASETS[dataset].dir);
  let sum = 0;
  for (const t of data.test) {
    const { width, height } = await imageSourceSize(t.path);
    sum += (width * height) / 1e6;
  }
  return sum / data.test.length;
}

/**
 * The whole image (and bottle's tiles) against the benchmark's crop, N-pad's defaults: accuracy and time per
 * megapixel; `missing` names the runs without results.
 */
async function wholeImageSection(outDir: string): Promise<{ text: string; missing: string[] }> {
  const lines: string[] = [];
  const missing: string[] = [];
  for (const run of [...RUNS.filter((r) => r.label === DEFAULTS_LABEL), ...WHOLE_RUNS]) {
    const rep = JSON.parse(await readFile(path.join(outDir, `${run.name}.json`), 'utf8').catch(() => 'null')) as Report | null;
    if (!rep) {
      missing.push(run.name);
      continue;
    }
    const mp = await testMegapixels(run.dataset);
    const label = run.label === DEFAULTS_LABEL ? 'benchmark crop (resize 256, crop 224)' : run.label;
    lines.push(
      `| ${DATASETS[run.dataset].title} | ${label} | ${pct(rep.image_auroc)} | ${pct(rep.pixel_auroc)} | ${pct(rep.pro)} | ${rep.timings.fit_seconds.toFixed(0)} | ` +
        `${rep.timings.ms_per_image.toFixed(0)} | ${mp.toFixed(3)} | ${(rep.timings.ms_per_image / mp).toFixed(0)} |`,
    );
  }
  const text = `## The whole image against the benchmark's crop

N-pad's defaults, one \`npad eval\` each, in the same run as the table above (scripts/results.ts). The crop never
sees 12.5 % of each edge, and its metrics count only the pixels inside it; the whole image is scored and measured
over all of them (masks resized to the map), so its pixel metrics are over a harder, complete set. The shared bottle
photos are 256 × 256, so their whole-image input is 224 × 224, the crop's cost; MTD's are of many sizes and
aspect ratios, brought to their median one. ms/MP: scoring time per megapixel of the test photos.

| dataset | input | image AUROC | pixel AUROC | PRO | fit (s) | ms/image | MP/image | ms/MP |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${lines.join('\n')}
`;
  return { text, missing };
}

/** What the defaults cost against `--preset paper` (the defaults before the position-free bank), per dataset. */
async function costSection(outDir: string): Promise<string> {
  const lines: string[] = [];
  for (const dataset of Object.keys(DATASETS) as (keyof typeof DATASETS)[]) {
    const read = async (name: string): Promise<Report | null> => JSON.parse(await readFile(path.join(outDir, `${name}.json`), 'utf8').catch(() => 'null')) as Report | null;
    const [now, paper] = [await read(dataset), await read(`${dataset}-paper`)];
    if (!now || !paper) continue;
    const ratio = (a: number, b: number): string => `${(a / b).toFixed(1)}×`;
    lines.push(
      `| ${DATASETS[dataset].title} | ${ratio(now.timings.fit_seconds, paper.timings.fit_seconds)} | ${ratio(now.timings.ms_per_image, paper.timings.ms_per_image)} | ` +
        `${ratio(now.peak_rss_mib, paper.peak_rss_mib)} | ${(100 * (now.image_auroc - paper.image_auroc)).toFixed(2)} / ${(100 * (now.pixel_auroc - paper.pixel_auroc)).toFixed(2)} / ${(100 * (now.pro - paper.pro)).toFixed(2)} |`,
    );
  }
  return `What the defaults cost against \`--preset paper\` (the defaults up to stop 12), from the rows above:

| dataset | fit time | scoring time | peak memory | gain (image / pixel AUROC / PRO, points) |
| --- | --- | --- | --- | --- |
${lines.join('\n')}

Most of the extra time is the position-free bank: a second set of features per image (stages 2 + 3, from the same
backbone pass), the greedy coreset at fit time, and at scoring time each patch's nearest member among 10 % of the
nominal patches (16 000 on bottle, 54 000 on MTD: a product of 784 × members × 1024 per image). That is the price of
the gain on parts that are not aligned; \`--set bankDim=256\` halves MTD's scoring time for 0.1–0.2 points, and
\`--set bankRatio=0.03\` keeps most of the gain at a fraction of the bank's scoring time (docs/method-choices.md
F3, F4); \`--preset paper\` or \`--preset fast\` drop the bank.
`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string', multiple: true } } });
  const every = [...RUNS, ...WHOLE_RUNS];
  const runs = values.only ? every.filter((r) => values.only!.includes(r.name)) : every; // `--only none`: render only
  const outDir = path.join(root, 'results');
  await mkdir(outDir, { recursive: true });
  const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
  for (const run of runs) {
    const json = path.join(outDir, `${run.name}.json`);
    const dataset = DATASETS[run.dataset].dir;
    process.stderr.write(`== ${run.name}: npad eval ${dataset} ${run.args.join(' ')}\n`);
    const r = spawnSync(process.execPath, [cli, 'eval', dataset, '--json', json, '--report', path.join(outDir, `${run.name}.html`), ...run.args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${run.name}: npad eval exited with ${String(r.status)}`);
  }
  for (const a of values.only ? ABLATIONS.filter((x) => values.only!.includes(x.name)) : ABLATIONS) {
    process.stderr.write(`== ${a.name}: fusion-sweep ${DATASETS[a.dataset].dir}\n`);
    const r = spawnSync(process.execPath, [path.join(root, 'dist', 'scripts', 'fusion-sweep.js'), DATASETS[a.dataset].dir, '--json', path.join(outDir, `${a.name}.jsonl`)], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`${a.name}: fusion-sweep exited with ${String(r.status)}`);
  }
  const rows: string[] = [];
  let options = '';
  for (const run of RUNS) {
    let rep: Report;
    try {
      rep = JSON.parse(await readFile(path.join(outDir, `${run.name}.json`), 'utf8')) as Report;
    } catch {
      rows.push(`| ${DATASETS[run.dataset].title} | ${run.label} | not measured | | | | | | |`);
      continue;
    }
    rows.push(
      `| ${DATASETS[run.dataset].title} | ${run.label} | ${pct(rep.image_auroc)} | ${pct(rep.pixel_auroc)} | ${pct(rep.pro)} | ${pct(rep.image_f1_max)} | ` +
        `${rep.timings.fit_seconds.toFixed(0)} | ${rep.timings.ms_per_image.toFixed(0)} | ${(rep.peak_rss_mib / 1024).toFixed(1)} |`,
    );
    if (!options && run.label === DEFAULTS_LABEL) options = '```json\n' + JSON.stringify({ backbone: rep.backbone.id, ...rep.config }, null, 2) + '\n```';
  }
  const whole = await wholeImageSection(outDir);
  const fusion = await fusionAblationSection(outDir);
  const md = `# Results

Regenerated by \`npm run results\` (scripts/results.ts) on a 2-core x86-64 machine, no GPU. Each row of the first
table is one \`npad eval\` process: fit on all of \`train/good\`, score \`test/\`, metrics against the ground truth.
Backbone: the shared ResNet50-v2 (ImageNet); the paper used WideResNet-50-2, so its figures are a reference, not a
like-for-like. Resize 256, centre crop 224. Metrics in %, fit in seconds (backbone included), scoring in ms per
test image (backbone included), peak memory = peak resident set of the process. Times on 2 shared cores are noisy;
docs/speed.md has times measured with nothing else running.

| dataset | method | image AUROC | pixel AUROC | PRO (≤0.3) | image F1-max | fit (s) | ms/image | peak (GiB) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

The paper's figures (WideResNet-50-2, image / pixel AUROC): bottle ${DATASETS.bottle.paper};
MTD ${DATASETS.mtd.paper}. PyTorch reference implementations on the same backbone and data (../shared/datasets/README.md): bottle PatchCore 1 % 100 / 98.75 /
PRO 94.4, PaDiM d = 550 99.6 / 98.29 / 95.0; MTD (crop) PatchCore 1 % 96.9 / 82.86 / 74.9, PaDiM d = 550 86.36 / 75.00
/ 76.4.

${whole.text}
${await costSection(outDir)}
${fusion.text}
${await paperAblationSection()}
Sweeps of the paper's reading (channels, few-shot, neighbourhood, shift, centroids, input size; measured before the
position-free bank, on the k-means bank): [comparison-bottle.md](comparison-bottle.md),
[comparison-magnetic_tile.md](comparison-magnetic_tile.md).

Configuration of the default rows (how each option was chosen: docs/method-choices.md):

${options}
`;
  // A run that left a row or a sweep unmeasured (a partial `--only` in a fresh checkout, whose results/ is empty)
  // must not overwrite the measured page: it goes to results/results.md instead.
  const missing = [...RUNS.filter((_, i) => rows[i]?.includes('not measured')).map((r) => r.name), ...whole.missing, ...fusion.missing];
  const complete = missing.length === 0;
  const target = complete ? path.join(root, 'docs', 'results.md') : path.join(outDir, 'results.md');
  await writeFile(target, md);
  process.stderr.write(complete ? 'wrote docs/results.md\n' : `not measured: ${missing.join(', ')}; wrote ${path.relative(root, target)}, docs/results.md left as it was\n`);
}

await main();

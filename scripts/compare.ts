/**
 * N-pad beside its baselines and its own ablations, on the same backbone, images and metrics
 * (docs/comparison.md). Every run is `npad fit` (timed, model size from the file) then `npad eval --model`,
 * each its own process.
 *
 *   npm run build && node dist/scripts/compare.js [--dataset DIR] [--group G]... [--skip LABEL]...
 *
 * Groups: methods, ablations (default), channels (with an SVG plot), fewshot, neighbourhood, shift, centroids,
 * inputsize (256 → 224, 384 → 336 and their ensemble), storage (f32 / f16 model files), fast (fast-preset candidates).
 * Rows already measured (results/compare/<dataset>/*.json) are kept, so groups can be run one at a time.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PAPER_TABLE3, type ComparedRow } from './comparedRow.js';
import { packageRoot } from '../src/util/npadPackage.js';

type Group = 'methods' | 'ablations' | 'channels' | 'fewshot' | 'neighbourhood' | 'shift' | 'centroids' | 'inputsize' | 'storage' | 'fast';

interface Run {
  group: Group;
  label: string;
  args: string[];
  /** Labels of earlier runs (same group) whose models this run evaluates together as an ensemble, fitting nothing. */
  ensembleOf?: string[];
}

const CHANNEL_STEPS = [50, 100, 200, 300, 550];
const RUNS: Run[] = [
  { group: 'methods', label: 'N-pad (defaults)', args: [] },
  { group: 'methods', label: 'N-pad, shifting in image space (the paper)', args: ['--set', 'shiftSpace=image'] },
  { group: 'methods', label: 'PaDiM d = 100', args: ['--method', 'padim', '--set', 'dim=100'] },
  { group: 'methods', label: 'PaDiM d = 550', args: ['--method', 'padim', '--set', 'dim=550'] },
  { group: 'methods', label: 'PatchCore 1 %', args: ['--method', 'patchcore', '--set', 'coresetRatio=0.01'] },
  { group: 'methods', label: 'PatchCore 10 %', args: ['--method', 'patchcore', '--set', 'coresetRatio=0.1'] },
  ...(['exper1', 'exper2', 'exper3', 'exper4', 'exper5', 'npad'] as const).map((p) => ({ group: 'ablations' as const, label: p, args: ['--preset', p] })),
  ...CHANNEL_STEPS.flatMap((d) => [
    { group: 'channels' as const, label: `N-pad d = ${d}`, args: ['--dim', String(d), '--set', 'moduleD=false'] },
    { group: 'channels' as const, label: `PaDiM d = ${d}`, args: ['--method', 'padim', '--set', `dim=${d}`] },
  ]),
  // The defaults' position-free bank holds 2 images out to standardise its maps, so it needs 3; 1 and 2 run the paper's reading.
  ...[1, 2].map((n) => ({ group: 'fewshot' as const, label: `${n} training images (--preset paper)`, args: ['--train-subset', String(n), '--preset', 'paper'] })),
  ...[3, 5, 10, 25, 50].map((n) => ({ group: 'fewshot' as const, label: `${n} training images`, args: ['--train-subset', String(n)] })),
  ...[0, 1, 2, 3].map((r) => ({ group: 'neighbourhood' as const, label: `training radius ${r}`, args: ['--set', `trainRadius=${r}`] })),
  ...[0, 1, 2, 4, 6].map((s) => ({ group: 'shift' as const, label: `shift ${s} px`, args: s === 0 ? ['--set', 'moduleD=false'] : ['--set', `shiftMax=${s}`] })),
  ...[256, 1024, 2048, 8192].map((k) => ({ group: 'centroids' as const, label: `${k} centroids`, args: ['--set', `maxCentroids=${k}`] })),
  { group: 'inputsize', label: 'resize 256, crop 224', args: [] },
  { group: 'inputsize', label: 'resize 384, crop 336', args: ['--resize', '384', '--crop', '336'] },
  { group: 'inputsize', label: 'ensemble 224 + 336', args: [], ensembleOf: ['resize 256, crop 224', 'resize 384, crop 336'] },
  { group: 'storage', label: 'N-pad, f32', args: [] },
  { group: 'storage', label: 'N-pad, f16', args: ['--storage', 'f16'] },
  { group: 'storage', label: 'PaDiM d = 550, f32', args: ['--method', 'padim', '--set', 'dim=550'] },
  { group: 'storage', label: 'PaDiM d = 550, f16', args: ['--method', 'padim', '--set', 'dim=550', '--storage', 'f16'] },
  // Candidates for the fast preset: module B alone (exper2), fewer channels, smaller inputs.
  { group: 'fast', label: 'exper2 d = 100', args: ['--preset', 'exper2', '--dim', '100'] },
  { group: 'fast', label: 'exper2 d = 100, 192 → 168', args: ['--preset', 'exper2', '--dim', '100', '--resize', '192', '--crop', '168'] },
  { group: 'fast', label: 'exper2 d = 100, 160 → 144', args: ['--preset', 'exper2', '--dim', '100', '--resize', '160', '--crop', '144'] },
  { group: 'fast', label: 'exper2 d = 100, 160 → 144, 512 centroids', args: ['--preset', 'exper2', '--dim', '100', '--resize', '160', '--crop', '144', '--set', 'maxCentroids=512'] },
];

/** A measured row; its group is one of this script's. */
type Measured = ComparedRow & { group: Group };

const root = packageRoot();
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');

function npad(args: string[]): void {
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`npad ${args.join(' ')} exited with ${String(r.status)}`);
}

function slugOf(run: Pick<Run, 'group' | 'label'>): string {
  return `${run.group}-${run.label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
}

/** Runs whose models an ensemble run needs are kept on disk until the end of the script. */
function isEnsembleMember(run: Run): boolean {
  return RUNS.some((r) => r.group === run.group && r.ensembleOf?.includes(run.label));
}

async function measure(run: Run, dataset: string, outDir: string): Promise<Measured> {
  const slug = slugOf(run);
  const json = path.join(outDir, `${slug}.json`);
  const members = run.ensembleOf?.map((label) => ({ label, group: run.group })) ?? [];
  let fitSeconds = 0;
  let modelMiB = 0;
  const models: string[] = [];
  if (members.length) {
    // An ensemble costs what its members cost to fit and store.
    for (const m of members) {
      const earlier = JSON.parse(await readFile(path.join(outDir, `${slugOf(m)}.json`), 'utf8')) as Measured;
      fitSeconds += earlier.fit_seconds;
      modelMiB += earlier.model_mib;
      models.push(path.join(outDir, `${slugOf(m)}.npad`));
    }
  } else {
    const model = path.join(outDir, `${slug}.npad`);
    const t0 = performance.now();
    // --holdout 0: fit on every training image, as `npad eval` does, so rows compare with docs/results.md.
    npad(['fit', dataset, '--out', model, '--holdout', '0', ...run.args]);
    fitSeconds = (performance.now() - t0) / 1000;
    modelMiB = (await stat(model)).size / 2 ** 20;
    models.push(model);
  }
  npad(['eval', dataset, ...models.flatMap((m) => ['--model', m]), '--json', json, '--report', 'none']);
  if (!isEnsembleMember(run)) await unlink(models[0]!).catch(() => undefined);
  const r = JSON.parse(await readFile(json, 'utf8')) as { image_auroc: number; pixel_auroc: number; pro: number; timings: { ms_per_image: number } };
  const m: Measured = { label: run.label, group: run.group, image_auroc: r.image_auroc, pixel_auroc: r.pixel_auroc, pro: r.pro, fit_seconds: fitSeconds, ms_per_image: r.timings.ms_per_image, model_mib: modelMiB };
  await writeFile(json, JSON.stringify(m, null, 2) + '\n');
  return m;
}

const pct = (x: number): string => (100 * x).toFixed(2);

function row(m: Measured, extra = ''): string {
  return `| ${m.label} | ${pct(m.image_auroc)} | ${pct(m.pixel_auroc)} | ${pct(m.pro)} | ${m.fit_seconds.toFixed(0)} | ${m.ms_per_image.toFixed(0)} | ${m.model_mib.toFixed(0)} |${extra}`;
}

/** AUROC against d as an SVG line plot, one line per method. */
function channelPlot(points: Measured[]): string {
  const W = 520, H = 320, L = 60, B = 40, T = 20, R = 140;
  const series = ['N-pad', 'PaDiM'].map((name) => ({
    name,
    pts: points.filter((p) => p.label.startsWith(name)).map((p) => ({ d: Number(p.label.split('= ')[1]), y: p.pixel_auroc })),
  }));
  const ys = series.flatMap((s) => s.pts.map((p) => p.y));
  const y0 = Math.min(...ys) - 0.002, y1 = Math.max(...ys) + 0.002;
  const x = (d: number): number => L + ((d - 50) / 500) * (W - L - R);
  const y = (v: number): number => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const colours = ['#c0392b', '#2c7fb8'];
  const lines = series.map((s, i) => {
    const path = s.pts.map((p, j) => `${j ? 'L' : 'M'}${x(p.d).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ');
    const dots = s.pts.map((p) => `<circle cx="${x(p.d).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="3" fill="${colours[i]}"/>`).join('');
    return `<path d="${path}" fill="none" stroke="${colours[i]}" stroke-width="2"/>${dots}<text x="${W - R + 10}" y="${T + 20 + 18 * i}" fill="${colours[i]}" font-size="13">${s.name}</text>`;
  });
  const ticks = CHANNEL_STEPS.map((d) => `<text x="${x(d)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${d}</text>`).join('');
  const yTicks = [y0, (y0 + y1) / 2, y1].map((v) => `<text x="${L - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${pct(v)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>
${ticks}${yTicks}
<text x="${(L + W - R) / 2}" y="${H - 6}" font-size="12" text-anchor="middle">channels d</text>
<text x="14" y="${(T + H - B) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">pixel AUROC (%)</text>
${lines.join('\n')}
</svg>
`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dataset: { type: 'string' }, group: { type: 'string', multiple: true }, skip: { type: 'string', multiple: true } } });
  const dataset = path.resolve(values.dataset ?? path.join(root, '..', 'shared', 'datasets', 'mvtec_ad', 'bottle'));
  const name = path.basename(dataset);
  const groups = values.group ?? ['methods', 'ablations'];
  const outDir = path.join(root, 'results', 'compare', name);
  await mkdir(outDir, { recursive: true });
  const skipped = new Set(values.skip ?? []);
  const chosen = RUNS.filter((r) => groups.includes(r.group) && !skipped.has(r.label));
  for (const run of chosen) {
    process.stderr.write(`== ${name}: ${run.label}\n`);
    await measure(run, dataset, outDir);
  }
  for (const run of chosen.filter(isEnsembleMember)) await unlink(path.join(outDir, `${slugOf(run)}.npad`)).catch(() => undefined);
  // Every row measured so far, this run or an earlier one, in the order of RUNS.
  const measured: Measured[] = [];
  for (const run of RUNS) {
    try {
      measured.push(JSON.parse(await readFile(path.join(outDir, `${slugOf(run)}.json`), 'utf8')) as Measured);
    } catch {
      // not measured yet
    }
  }
  const header = '| run | image AUROC | pixel AUROC | PRO | fit (s) | ms/image | model (MiB) |';
  const rule = '| --- | --- | --- | --- | --- | --- | --- |';
  const sections: string[] = [`# N-pad, its baselines and its ablations on ${name}\n\nRegenerated by scripts/compare.ts (2-core machine, ResNet50-v2, 256 → 224). Metrics in %; fit time includes process start and the backbone. Times come from a shared machine where other jobs often ran: read them as rough; docs/speed.md has figures measured with nothing else running. The ablation, few-shot, shift, storage and input-size rows were measured with module D shifting in image space, before feature space became the default.`];
  const byGroup = (g: Group): Measured[] => measured.filter((m) => m.group === g);
  if (byGroup('methods').length) sections.push(`## Methods\n\n${header}\n${rule}\n${byGroup('methods').map((m) => row(m)).join('\n')}`);
  if (byGroup('ablations').length) {
    sections.push(
      `## Ablations (paper table 3: A weighted-similarity Gaussians, B aggregated Gaussians + centroids, C neighbours' distributions at inference, D shifting)\n\n` +
        `${header.slice(0, -1)}| paper pixel AUROC (MVTec mean, WRN-50) |\n${rule} --- |\n${byGroup('ablations').map((m) => row(m, ` ${PAPER_TABLE3[m.label] ?? ''} |`)).join('\n')}`,
    );
  }
  if (byGroup('channels').length) {
    await writeFile(path.join(root, 'docs', `channels-${name}.svg`), channelPlot(byGroup('channels')));
    sections.push(`## Channels d (N-pad without shifting)\n\n![pixel AUROC against d](channels-${name}.svg)\n\n${header}\n${rule}\n${byGroup('channels').map((m) => row(m)).join('\n')}`);
  }
  const sweeps: [Group, string][] = [
    ['fewshot', 'Few-shot fitting (paper §4.4): N random training images'],
    ['neighbourhood', 'Training neighbourhood radius (paper figure 2a; radius 1 = 3×3)'],
    ['shift', 'Shift size of module D (paper figure 2c)'],
    ['centroids', 'Centroid bank size (paper appendix B)'],
    ['storage', 'Storage precision of the model file (f16 halves it; widened to f32 on load)'],
    ['fast', 'Fast preset candidates (module B alone, fewer channels, smaller input; pixel AUROC at the map size)'],
    ['inputsize', 'Input size and the 224 + 336 ensemble (paper table 4: 98.75 at 256 → 224, 98.98 for the ensemble; maps averaged at 224, fit and size summed)'],
  ];
  for (const [g, title] of sweeps) {
    if (byGroup(g).length) sections.push(`## ${title}\n\n${header}\n${rule}\n${byGroup(g).map((m) => row(m)).join('\n')}`);
  }
  await writeFile(path.join(root, 'docs', `comparison-${name}.md`), sections.join('\n\n') + '\n');
  process.stderr.write(`wrote docs/comparison-${name}.md\n`);
}

await main();

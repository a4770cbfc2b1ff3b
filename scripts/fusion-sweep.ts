/**
 * What N-pad's position-free bank adds, and how its map is best fused (docs/method-choices.md F1–F3, the
 * ablation of docs/results.md). Fits N-pad once (the defaults, or FIT_JSON's overrides) as `npad eval` does, on all
 * of train/good with the fit's own held-out share, scores the held-out images and the test set with both parts
 * unfused, and prints one JSON line per way of making the map and the image score. Test masks are read only
 * after scoring; every statistic comes from the held-out good images.
 *
 *   node --import tsx scripts/fusion-sweep.ts DATASET_DIR [FIT_JSON] [--json OUT.jsonl]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { FeatureExtractor } from '../src/backbone/featureExtractor.js';
import { readMvtecDataset } from '../src/data/mvtec.js';
import { computeMetrics, groundTruthMask } from '../src/evaluation/evaluate.js';
import { fuseStandardised, standardise, type NominalMaxima } from '../src/method/npad/mapFusion.js';
import { DEFAULT_NPAD_OPTIONS, validateNpadOptions, type NpadOptions } from '../src/method/npad/options.js';
import { BENCHMARK_PREPROCESS, inputShape } from '../src/image/preprocess.js';
import { maxOf } from '../src/method/parts/anomalyMap.js';
import { fitNpad, fusionSplit } from '../src/method/npad/fit.js';
import { scoreParts } from '../src/method/npad/score.js';
import { loadBackbone } from '../src/backbone/load.js';

const { values, positionals } = parseArgs({ options: { json: { type: 'string' } }, allowPositionals: true });
const [root, fitText] = positionals;
if (!root) throw new Error('usage: fusion-sweep.ts DATASET_DIR [FIT_JSON] [--json OUT.jsonl]');
const options: NpadOptions = { ...DEFAULT_NPAD_OPTIONS, ...(JSON.parse(fitText ?? '{}') as Partial<NpadOptions>) };
validateNpadOptions(options);
if (options.bank !== 'patch-coreset' || !options.moduleB) throw new Error('fusion-sweep compares fusions of the position-free bank: keep bank patch-coreset and moduleB on');

const dataset = await readMvtecDataset(root);
const preprocess = BENCHMARK_PREPROCESS;
const shape = inputShape(preprocess);
const extractor = await FeatureExtractor.create(await loadBackbone({ kind: 'resnet50-v2' }), { upsample: 'nearest' }, shape);
const t0 = performance.now();
const model = await fitNpad(dataset.train, extractor, { options, preprocess, featureGrid: { upsample: 'nearest' }, batchSize: 16 });
const fitSeconds = (performance.now() - t0) / 1000;
const bank = model.fusion!;

/** Both parts' maps (and the per-position image score) of some images. */
async function partsOf(paths: readonly string[]): Promise<{ position: Float32Array[]; positionScore: number[]; bank: Float32Array[] }> {
  const out = { position: [] as Float32Array[], positionScore: [] as number[], bank: [] as Float32Array[] };
  await scoreParts(model, bank, extractor, paths, (i, p) => {
    out.position[i] = p.position.map;
    out.positionScore[i] = p.position.score;
    out.bank[i] = p.bank!;
  });
  return out;
}
const t1 = performance.now();
const held = await partsOf(fusionSplit(dataset.train, options.fusionHoldout).heldOut);
const test = await partsOf(dataset.test.map((t) => t.path));
const msPerImage = (performance.now() - t1) / (held.bank.length + test.bank.length);
const labels = dataset.test.map((t) => t.label);
const masks = await Promise.all(dataset.test.map((t) => groundTruthMask(t, preprocess, shape)));

/** Mean and standard deviation of all pixels of some maps, after `f` (float64 sums). */
function pixelStatistics(maps: readonly Float32Array[], f: (v: number) => number): NominalMaxima {
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (const m of maps) {
    for (const v of m) {
      const t = f(v);
      s += t;
      s2 += t * t;
      n++;
    }
  }
  const mean = s / n;
  return { mean, sd: Math.sqrt(Math.max(0, s2 / n - mean * mean)) };
}

const log = (v: number): number => Math.log(Math.max(v, 1e-6));
// The fit's own statistics of the held-out images (the pixel-level variants below need their maps as well).
const maxima = { position: model.fusion!.positionMaxima, bank: model.fusion!.bankMaxima };
const pixels = { position: pixelStatistics(held.position, (v) => v), bank: pixelStatistics(held.bank, (v) => v) };
const logPixels = { position: pixelStatistics(held.position, log), bank: pixelStatistics(held.bank, log) };
const pixelwise = (f: (a: number, b: number) => number) => (i: number): Float32Array => test.position[i]!.map((a, p) => f(a, test.bank[i]![p]!));
const fusedOf = (i: number): Float32Array => fuseStandardised([test.position[i]!, test.bank[i]!], [maxima.position, maxima.bank]);

interface Variant {
  label: string;
  map: (i: number) => Float32Array;
  score: (i: number, map: Float32Array) => number;
}
const VARIANTS: Variant[] = [
  { label: 'per-position part alone (eq. 11 map, top-10 image score, no bank)', map: (i) => test.position[i]!, score: (i) => test.positionScore[i]! },
  { label: 'position-free bank alone (its map, maximum)', map: (i) => test.bank[i]!, score: (_i, m) => maxOf(m) },
  { label: 'fused map, image score its maximum', map: fusedOf, score: (_i, m) => maxOf(m) },
  {
    label: 'fused map, image score max(fused, bank) (default)',
    map: fusedOf,
    score: (i, m) => Math.max(maxOf(m), standardise(maxOf(test.bank[i]!), maxima.bank)),
  },
  {
    label: 'standardised by held-out pixels, mean',
    map: pixelwise((a, b) => (standardise(a, pixels.position) + standardise(b, pixels.bank)) / 2),
    score: (_i, m) => maxOf(m),
  },
  {
    label: 'log scores standardised by held-out pixels, mean',
    map: pixelwise((a, b) => (standardise(log(a), logPixels.position) + standardise(log(b), logPixels.bank)) / 2),
    score: (_i, m) => maxOf(m),
  },
  { label: 'geometric mean of the raw maps (eq. 11 applied to the bank)', map: pixelwise((a, b) => Math.sqrt(Math.max(a, 0) * Math.max(b, 0))), score: (_i, m) => maxOf(m) },
  {
    label: 'maximum of the maps standardised by nominal maxima',
    map: pixelwise((a, b) => Math.max(standardise(a, maxima.position), standardise(b, maxima.bank))),
    score: (_i, m) => maxOf(m),
  },
];

const round = (x: number): number => Math.round(x * 1e4) / 1e4;
const lines: string[] = [];
for (const v of VARIANTS) {
  const maps = test.position.map((_m, i) => v.map(i));
  const scores = maps.map((m, i) => v.score(i, m));
  const m = computeMetrics(scores, labels, maps, masks, maps.map(() => shape));
  const line = JSON.stringify({
    dataset: root,
    fit: JSON.parse(fitText ?? '{}') as unknown,
    variant: v.label,
    image_auroc: round(m.image_auroc),
    pixel_auroc: round(m.pixel_auroc ?? NaN),
    pro: round(m.pro ?? NaN),
    image_f1_max: round(m.image_f1_max),
    held_out: held.bank.length,
    maxima,
    fit_s: Math.round(fitSeconds),
    ms_per_image_both_parts: Math.round(msPerImage),
  });
  lines.push(line);
  process.stdout.write(line + '\n');
}
if (values.json) await writeFile(values.json, lines.join('\n') + '\n');

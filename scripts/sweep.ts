/**
 * Measures configurations side by side, for choosing defaults (docs/method-choices.md).
 *
 *   node --import tsx scripts/sweep.ts DATASET_DIR FIT_JSON... [--score SCORE_JSON]...
 *
 * Each FIT_JSON is an object of overrides (N-pad options, plus `upsample`, `resize`, `crop`, `features`);
 * each is fitted once and then scored with every --score variant (scoring-time options only: module C/D,
 * shifts, image score; none given = the fitted options). Prints one JSON line per (fit, score) pair with the
 * four metrics and timings. Test masks are read only after scoring.
 */
import { parseArgs } from 'node:util';
import { FeatureExtractor } from '../src/backbone/featureExtractor.js';
import { readMvtecDataset } from '../src/data/mvtec.js';
import { computeMetrics, groundTruthMask } from '../src/evaluation/evaluate.js';
import { DEFAULT_NPAD_OPTIONS, validateNpadOptions, type NpadOptions } from '../src/method/npad/options.js';
import { releaseSessions } from '../src/onnx/session.js';
import { inputShape } from '../src/image/preprocess.js';
import { fitNpad } from '../src/method/npad/fit.js';
import { scoreNpad } from '../src/method/npad/score.js';
import { loadBackbone } from '../src/backbone/load.js';

interface FitOverrides extends Partial<NpadOptions> {
  upsample?: 'nearest' | 'bilinear';
  resize?: number;
  crop?: number | null;
  features?: 'post-activation' | 'raw';
}

const { values, positionals } = parseArgs({ options: { score: { type: 'string', multiple: true } }, allowPositionals: true });
const [root, ...fits] = positionals;
if (!root) throw new Error('usage: sweep.ts DATASET_DIR [FIT_JSON …] [--score SCORE_JSON …]');
const dataset = await readMvtecDataset(root);
const labels = dataset.test.map((t) => t.label);
const round = (x: number): number => Math.round(x * 1e4) / 1e4;

for (const fitText of fits.length ? fits : ['{}']) {
  const { upsample, resize, crop, features, ...fitOptions } = JSON.parse(fitText) as FitOverrides;
  const options: NpadOptions = { ...DEFAULT_NPAD_OPTIONS, ...fitOptions };
  const preprocess = { resize: resize ?? 256, crop: crop === undefined ? 224 : crop };
  if (preprocess.crop === null) options.moduleD = false;
  validateNpadOptions(options);
  const backbone = await loadBackbone({ kind: 'resnet50-v2', ...(features ? { features } : {}) });
  const shape = inputShape(preprocess);
  const extractor = await FeatureExtractor.create(backbone, { upsample: upsample ?? 'nearest' }, shape);
  const t0 = performance.now();
  const model = await fitNpad(dataset.train, extractor, { options, preprocess, featureGrid: { upsample: 'nearest' as const }, batchSize: 16 });
  const fitSeconds = (performance.now() - t0) / 1000;
  let masks: (Uint8Array | null)[] | null = null;
  for (const scoreText of values.score ?? ['{}']) {
    const scoring = { ...options, ...(JSON.parse(scoreText) as Partial<NpadOptions>) };
    validateNpadOptions(scoring);
    const variant = { ...model, settings: { ...model.settings, options: scoring } };
    const maps: Float32Array[] = [];
    const scores: number[] = [];
    const t1 = performance.now();
    await scoreNpad(variant, extractor, dataset.test.map((t) => t.path), (i, r) => {
      maps[i] = r.map;
      scores[i] = r.score;
    });
    const scoreSeconds = (performance.now() - t1) / 1000;
    masks ??= await Promise.all(dataset.test.map((t) => groundTruthMask(t, preprocess, shape)));
    const m = computeMetrics(scores, labels, maps, masks, maps.map(() => shape));
    process.stdout.write(
      JSON.stringify({
        fit: JSON.parse(fitText) as unknown,
        score: JSON.parse(scoreText) as unknown,
        image_auroc: round(m.image_auroc),
        pixel_auroc: round(m.pixel_auroc ?? NaN),
        pro: round(m.pro ?? NaN),
        image_f1_max: round(m.image_f1_max),
        fit_s: Math.round(fitSeconds),
        ms_per_image: Math.round((1000 * scoreSeconds) / dataset.test.length),
        peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
      }) + '\n',
    );
  }
  await releaseSessions();
}

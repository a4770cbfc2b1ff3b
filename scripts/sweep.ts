/**
 * Measures configurations side by side, for choosing defaults (docs/method-choices.md). Each argument after
 * the dataset is a JSON object of overrides: N-pad options, plus `upsample`, `resize`, `crop`, `features`.
 * Prints one JSON line per configuration: the overrides, the four metrics and the timings.
 *
 *   node --import tsx scripts/sweep.ts ../shared/datasets/mvtec_ad/bottle '{"dim":100}' '{"dim":100,"moduleD":false}'
 */
import { readMvtecDataset } from '../src/data/mvtec.js';
import { Detector } from '../src/detector/detector.js';
import type { DetectorConfigInput } from '../src/detector/config.js';
import { evaluateDetector } from '../src/evaluation/runEvaluation.js';
import type { NpadOptions } from '../src/method/options.js';
import { releaseSessions } from '../src/onnx/session.js';

interface Overrides extends Partial<NpadOptions> {
  upsample?: 'nearest' | 'bilinear';
  resize?: number;
  crop?: number | null;
  features?: 'post-activation' | 'raw';
}

function configOf(o: Overrides): DetectorConfigInput {
  const { upsample, resize, crop, features, ...options } = o;
  return {
    options,
    preprocess: { ...(resize !== undefined ? { resize } : {}), ...(crop !== undefined ? { crop } : {}) },
    ...(upsample ? { featureGrid: { upsample } } : {}),
    backbone: { kind: 'resnet50-v2', ...(features ? { features } : {}) },
  };
}

const [root, ...configs] = process.argv.slice(2);
if (!root) throw new Error('usage: sweep.ts DATASET_DIR [JSON overrides …]');
const dataset = await readMvtecDataset(root);
for (const text of configs.length ? configs : ['{}']) {
  const overrides = JSON.parse(text) as Overrides;
  const t0 = performance.now();
  const detector = await Detector.fit(dataset.train, configOf(overrides));
  const fitSeconds = (performance.now() - t0) / 1000;
  const r = await evaluateDetector(detector, dataset);
  const m = r.metrics;
  const round = (x: number): number => Math.round(x * 1e4) / 1e4;
  process.stdout.write(
    JSON.stringify({
      overrides,
      image_auroc: round(m.image_auroc),
      pixel_auroc: round(m.pixel_auroc),
      pro: round(m.pro),
      image_f1_max: round(m.image_f1_max),
      fit_s: Math.round(fitSeconds),
      ms_per_image: Math.round((1000 * r.scoreSeconds) / dataset.test.length),
    }) + '\n',
  );
  await releaseSessions();
}

/**
 * Measures methods side by side on one dataset, for comparing N-pad with its baselines against the reference
 * figures of ../shared/datasets/README.md. Each argument after the dataset is a JSON object: `method` (npad,
 * padim or patchcore; default npad), any of that method's options, and optionally `upsample`, `resize`, `crop`,
 * `batchSize`. Prints one JSON line per configuration: the four metrics, fit seconds, scoring ms per image and
 * the model size (the tensors' bytes; the file's JSON header adds a few kB).
 *
 *   node --import tsx scripts/baselines.ts ../shared/datasets/mvtec_ad/bottle \
 *     '{"method":"padim","dim":100}' '{"method":"padim","dim":550}' '{"method":"patchcore","coresetRatio":0.01}'
 *
 * All configurations run in this one process (sessions are released between them), so its peak memory is not
 * reported per configuration; `npad eval --json` reports it for a single run.
 */
import { readMvtecDataset } from '../src/data/mvtec.js';
import { configInputFor, isMethodName, resolveConfig, type CommonConfigInput, type DetectorConfigInput } from '../src/detector/config.js';
import { Detector } from '../src/detector/detector.js';
import { definitionOf } from '../src/method/registry.js';
import { evaluateDetector } from '../src/evaluation/runEvaluation.js';
import { releaseSessions } from '../src/onnx/session.js';

interface Spec {
  method?: string;
  upsample?: 'nearest' | 'bilinear';
  resize?: number;
  crop?: number | null;
  batchSize?: number;
  [option: string]: unknown;
}

function configOf(spec: Spec): DetectorConfigInput {
  const { method = 'npad', upsample, resize, crop, batchSize, ...options } = spec;
  if (!isMethodName(method)) throw new Error(`unknown method ${String(method)}`);
  const common: CommonConfigInput = {
    preprocess: { ...(resize !== undefined ? { resize } : {}), ...(crop !== undefined ? { crop } : {}) },
    ...(upsample ? { featureGrid: { upsample } } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
  };
  return configInputFor(method, options, common);
}

/** Bytes of the tensors the model file would hold. */
function modelBytes(detector: Detector): number {
  let total = 0;
  for (const t of definitionOf(detector.fitted.method).toTensors(detector.fitted.model, 'f32').tensors.values()) total += t.data.byteLength;
  return total;
}

const [root, ...specs] = process.argv.slice(2);
if (!root) throw new Error('usage: baselines.ts DATASET_DIR [JSON configuration …]');
const dataset = await readMvtecDataset(root);
for (const text of specs.length ? specs : ['{"method":"padim","dim":100}']) {
  const spec = JSON.parse(text) as Spec;
  const config = resolveConfig(configOf(spec));
  const t0 = performance.now();
  const detector = await Detector.fit(dataset.train, config);
  const fitSeconds = (performance.now() - t0) / 1000;
  const r = await evaluateDetector(detector, dataset);
  const m = r.metrics;
  const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;
  process.stdout.write(
    JSON.stringify({
      spec,
      method: config.method,
      image_auroc: round(m.image_auroc),
      pixel_auroc: round(m.pixel_auroc ?? NaN),
      pro: round(m.pro ?? NaN),
      image_f1_max: round(m.image_f1_max),
      fit_s: round(fitSeconds, 1),
      ms_per_image: Math.round((1000 * r.scoreSeconds) / dataset.test.length),
      model_mb: round(modelBytes(detector) / 2 ** 20, 1),
    }) + '\n',
  );
  await releaseSessions();
}

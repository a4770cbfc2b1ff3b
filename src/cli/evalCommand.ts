/** `npad eval DATASET_DIR [--model MODEL] [--json FILE]`: measures a detector on an MVTec-layout test set. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readMvtecDataset } from '../data/mvtec.js';
import { trainSubset } from '../data/subset.js';
import { Detector } from '../detector/detector.js';
import { DetectorEnsemble } from '../detector/ensemble.js';
import { NpadInputError } from '../errors.js';
import { evaluateDetector } from '../evaluation/runEvaluation.js';
import { CONFIG_FLAGS, CONFIG_HELP, configFromFlags } from './configFlags.js';
import { peakRssMiB, writeJsonAtomic } from './output.js';
import { terminalProgress } from './progress.js';

export const EVAL_HELP = `npad eval DATASET_DIR [--model MODEL]... [--json FILE] [options]
  Scores DATASET_DIR/test (MVTec AD layout) and prints image AUROC, pixel AUROC, PRO (FPR ≤ 0.3) and image
  F1-max. Without --model, fits first on DATASET_DIR/train/good with the options below. Several --model
  flags score as one ensemble: maps and scores averaged at the first model's size (e.g. models fitted with
  --resize 256 --crop 224 and --resize 384 --crop 336, the N-pad paper's table 4).
  --train-subset N   without --model: fit on N random training images (fixed seed; few-shot)
  --json FILE   also write the metrics, configuration and timings as JSON (atomically)

${CONFIG_HELP}`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...CONFIG_FLAGS, model: { type: 'string', multiple: true }, json: { type: 'string' }, 'train-subset': { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new NpadInputError(`npad eval takes one DATASET_DIR, got ${positionals.length}\n\n${EVAL_HELP}`);
  const root = positionals[0]!;
  const config = configFromFlags(values); // flags first: a typo should not wait for a folder scan
  const dataset = await readMvtecDataset(root);
  if (values['train-subset']) dataset.train = trainSubset(dataset.train, Number(values['train-subset']));
  const progress = terminalProgress();
  const fitStarted = performance.now();
  const models = values.model ?? [];
  const loaded = await Promise.all(models.map((m) => Detector.load(m)));
  const detector = loaded.length === 0 ? await Detector.fit(dataset.train, config, progress) : loaded.length === 1 ? loaded[0]! : new DetectorEnsemble(loaded, models);
  const fitSeconds = models.length ? 0 : (performance.now() - fitStarted) / 1000;
  const { backbone } = detector instanceof DetectorEnsemble ? detector.members[0]! : detector;
  const result = await evaluateDetector(detector, dataset, progress);
  const m = result.metrics;
  const anomalous = dataset.test.filter((t) => t.label === 1).length;
  const report = {
    dataset: path.resolve(root),
    ...m,
    counts: { train: dataset.train.length, test: dataset.test.length, anomalous },
    config: detector.config,
    ...(detector instanceof DetectorEnsemble ? { ensemble: detector.members.map((m) => m.config) } : {}),
    backbone: { id: backbone.id, weightsSha256: backbone.weightsSha256 },
    model: models.length === 0 ? null : models.length === 1 ? models[0] : models,
    timings: {
      fit_seconds: fitSeconds,
      score_seconds: result.scoreSeconds,
      ms_per_image: (1000 * result.scoreSeconds) / dataset.test.length,
    },
    peak_rss_mib: peakRssMiB(),
  };
  const pct = (x: number): string => (100 * x).toFixed(2).padStart(6);
  process.stdout.write(
    `${path.basename(path.resolve(root))}: ${dataset.train.length} train, ${dataset.test.length} test (${anomalous} anomalous)\n` +
      `  image AUROC   ${pct(m.image_auroc)}\n  pixel AUROC   ${pct(m.pixel_auroc)}\n  PRO (≤0.3)    ${pct(m.pro)}\n  image F1-max  ${pct(m.image_f1_max)}\n` +
      `  fit ${fitSeconds.toFixed(1)} s, scoring ${report.timings.ms_per_image.toFixed(0)} ms/image, peak memory ${report.peak_rss_mib.toFixed(0)} MiB\n`,
  );
  if (values.json) await writeJsonAtomic(values.json, report);
  return 0;
}

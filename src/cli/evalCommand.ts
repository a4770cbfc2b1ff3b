/** `npad eval DATASET_DIR [--model MODEL] [--json FILE]`: measures a detector on an MVTec-layout test set. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HELP_FLAG, parseCommandArgs } from './args.js';
import { checkImages, checkTestItems, skippedLines, type SkippedInput } from '../data/checkImages.js';
import { readMvtecDataset, type MvtecDataset } from '../data/mvtec.js';
import { trainSubset } from '../data/subset.js';
import { withFlags } from './userMessages.js';
import { describeCalibration, f1MaxCalibration, type ScoreCalibration } from '../detector/calibration.js';
import { writeModelCalibration } from '../detector/calibrationFile.js';
import { Detector } from '../detector/detector.js';
import { DetectorEnsemble } from '../detector/ensemble.js';
import { NpadInputError } from '../errors.js';
import { evaluateDetector } from '../evaluation/runEvaluation.js';
import { buildEvaluationReport, describeOperatingPoint, operatingPoint } from '../report/evaluationReport.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CONFIG_FLAGS, CONFIG_HELP, configFromFlags } from './configFlags.js';
import { MEMORY_FLAG, MEMORY_HELP, memoryGuardFromFlag } from './memoryFlag.js';
import { peakRssMiB, printable, writeJsonAtomic } from './output.js';
import { EXIT_SKIPPED } from './predictCommand.js';
import { terminalProgress } from './progress.js';
import type { ProgressCallback } from '../method/types.js';
import { describePreprocess } from '../image/preprocess.js';

export const EVAL_HELP = `npad eval DATASET_DIR [-m|--model MODEL]... [--json FILE] [options]
  Scores DATASET_DIR/test (MVTec AD layout) and prints image AUROC, pixel AUROC, PRO (FPR ≤ 0.3) and image
  F1-max, and with a model's threshold its false alarms and misses. Masks (ground_truth/<defect>) are optional:
  labelled folders test/good and test/<anything else> give the image metrics, pixel metrics cover the defects
  with masks. Without --model, fits first on DATASET_DIR/train/good with the options below. Several --model
  flags score as one ensemble: maps and scores averaged at the first model's size (e.g. models fitted with
  --resize 256 --crop 224 and --resize 384 --crop 336, the N-pad paper's table 4).
  --train-subset N   without --model: fit on N random training images (fixed seed; few-shot)
  --json FILE   also write the metrics, configuration and timings as JSON (atomically)
  --report FILE|none  the HTML report (verdicts at the threshold, score histogram, every image, each defect,
                options, metrics, curves, the hardest images with heatmaps; one
                self-contained file). Default: beside --json (FILE.json → FILE.html), else npad-report.html
  --save-threshold f1-max  with one --model: store in MODEL the thresholds maximising image and pixel F1 on
                this test set, for npad predict (docs/scores.md)
${MEMORY_HELP}
  Unreadable training images, test images or masks are named and skipped (a test item whole); the metrics
  are computed on the rest and the exit code is then 3.

${CONFIG_HELP}`;

export async function evalCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('eval', {
    args: argv,
    options: {
      ...HELP_FLAG,
      ...CONFIG_FLAGS,
      model: { type: 'string', multiple: true, short: 'm' },
      json: { type: 'string' },
      'train-subset': { type: 'string' },
      report: { type: 'string' },
      'save-threshold': { type: 'string' },
      ...MEMORY_FLAG,
    },
    allowPositionals: true,
  }, EVAL_HELP);
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new NpadInputError(`npad eval takes one DATASET_DIR, got ${positionals.length}\n\n${EVAL_HELP}`);
  const root = positionals[0]!;
  const config = configFromFlags(values); // flags first: a typo should not wait for a folder scan
  const saveThreshold = values['save-threshold'];
  if (saveThreshold !== undefined && saveThreshold !== 'f1-max') throw new NpadInputError(`--save-threshold: expected f1-max, got '${saveThreshold}'`);
  if (saveThreshold && (values.model ?? []).length !== 1) throw new NpadInputError('--save-threshold needs exactly one --model (the file the thresholds are stored in)');
  const reportFile = values.report === 'none' ? null : (values.report ?? (values.json ? values.json.replace(/\.json$/i, '') + '.html' : 'npad-report.html'));
  const memoryGuard = memoryGuardFromFlag(values['memory-limit']);
  const models = values.model ?? [];
  // With a model, train/good is not needed: labelled test folders alone can be evaluated.
  const dataset = await readMvtecDataset(root, { train: models.length ? 'optional' : 'required' });
  const subset = values['train-subset'];
  if (subset) dataset.train = await withFlags({ 'training subset': '--train-subset' }, () => trainSubset(dataset.train, Number(subset)));
  const progress = terminalProgress();
  const loaded = await Promise.all(models.map((m) => Detector.load(m))); // a bad model file stops the run before any check
  if (models.length === 0) await Detector.checkFit(config, dataset.train.length, memoryGuard); // bad options too
  const skipped = await skipUnreadable(dataset, models.length === 0, progress);
  const fitStarted = performance.now();
  const detector = loaded.length === 0 ? await Detector.fit(dataset.train, config, progress, memoryGuard) : loaded.length === 1 ? loaded[0]! : new DetectorEnsemble(loaded, models);
  const fitSeconds = models.length ? 0 : (performance.now() - fitStarted) / 1000;
  const { backbone } = detector instanceof DetectorEnsemble ? detector.members[0]! : detector;
  const result = await evaluateDetector(detector, dataset, progress);
  const m = result.metrics;
  const anomalous = dataset.test.filter((t) => t.label === 1).length;
  const masked = dataset.test.filter((t) => t.label === 1 && t.maskPath !== null).length;
  const report = {
    dataset: path.resolve(root),
    ...m,
    counts: { train: dataset.train.length, test: dataset.test.length, anomalous, anomalous_with_masks: masked },
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
    skipped,
  };
  const pct = (x: number | null): string => (x === null ? '   n/a (no defect masks)' : (100 * x).toFixed(2).padStart(6));
  const maskNote = masked > 0 && masked < anomalous ? ` (pixel metrics on the ${masked} of ${anomalous} defective images that have masks)` : '';
  process.stdout.write(
    `${path.basename(path.resolve(root))}: ${dataset.train.length} train, ${dataset.test.length} test (${anomalous} anomalous)${maskNote}\n` +
      `  image AUROC   ${pct(m.image_auroc)}\n  pixel AUROC   ${pct(m.pixel_auroc)}\n  PRO (≤0.3)    ${pct(m.pro)}\n  image F1-max  ${pct(m.image_f1_max)}\n` +
      `  fit ${fitSeconds.toFixed(1)} s, scoring ${report.timings.ms_per_image.toFixed(0)} ms/image, peak memory ${report.peak_rss_mib.toFixed(0)} MiB\n`,
  );
  // The thresholds the verdicts use: stored now from this test set, or the single model's own.
  let calibration: ScoreCalibration | null = detector instanceof Detector ? detector.calibration : null;
  if (saveThreshold) {
    calibration = f1MaxCalibration(result.outcomes.map((o) => o.score), result.outcomes.map((o) => o.label), result.maps, result.masks, calibration);
    await writeModelCalibration(models[0]!, calibration);
    process.stdout.write(`  saved in ${models[0]!}: ${describeCalibration(calibration)}\n`);
  }
  const op = calibration ? operatingPoint(result.outcomes.map((o) => o.score), result.outcomes.map((o) => o.label), calibration.imageThreshold) : null;
  if (calibration && op) process.stdout.write(`  at the model's threshold (${calibration.source}): ${describeOperatingPoint(op)}\n`);
  if (values.json) {
    const threshold = calibration && op
      ? { source: calibration.source, image_threshold: calibration.imageThreshold, pixel_threshold: calibration.pixelThreshold, false_alarms: op.falseAlarms, misses: op.misses }
      : null;
    await writeJsonAtomic(values.json, { ...report, threshold });
  }
  if (reportFile) {
    progress('report', 0, 1);
    const html = await buildEvaluationReport({
      title: `${path.basename(path.resolve(root))}: ${detector.config.method}${detector instanceof DetectorEnsemble ? ` ensemble of ${detector.members.length}` : ''}`,
      datasetRoot: root,
      evaluation: result,
      preprocess: detector.config.preprocess,
      calibration,
      options: [
        ['method', detector.config.method],
        ...Object.entries(detector.config.options).map(([k, v]) => [k, String(v)] as const),
      ],
      details: [
        ['model', models.length ? models.join(', ') : `fitted on ${dataset.train.length} training images`],
        ['preprocessing', describePreprocess(detector.config.preprocess)],
        ['backbone', `${backbone.id} (weights sha256 ${backbone.weightsSha256.slice(0, 12)}…)`],
        ['timings', `fit ${fitSeconds.toFixed(1)} s, scoring ${report.timings.ms_per_image.toFixed(0)} ms/image, peak memory ${report.peak_rss_mib.toFixed(0)} MiB`],
      ],
    });
    await mkdir(path.dirname(path.resolve(reportFile)), { recursive: true });
    await writeFileAtomic(reportFile, [new TextEncoder().encode(html)]);
    progress('report', 1, 1);
    process.stdout.write(`  report: ${reportFile}\n`);
  }
  const skippedCount = skipped.train.length + skipped.test.length;
  if (skippedCount === 0) return 0;
  process.stderr.write(`npad: finished with ${skippedCount} input${skippedCount === 1 ? '' : 's'} skipped (named above; exit code ${EXIT_SKIPPED})\n`);
  return EXIT_SKIPPED;
}

/**
 * Decodes every image the run will read (the training images when it fits, every test image and mask) and leaves
 * the unreadable ones out of `dataset`, naming each on stderr: one bad file among hundreds should not stop a
 * long evaluation. A test item with a bad image or mask is left out whole.
 * @throws NpadInputError when nothing usable is left (no training image, or not both good and defective test images)
 */
async function skipUnreadable(
  dataset: MvtecDataset,
  fitting: boolean,
  progress: ProgressCallback,
): Promise<{ train: SkippedInput[]; test: SkippedInput[] }> {
  const train = fitting ? await checkImages(dataset.train, { progress: (done, total) => progress('checking training images', done, total) }) : null;
  if (train && train.readable.length === 0) {
    throw new NpadInputError(`${dataset.root}: none of the ${dataset.train.length} training images can be read (first: ${train.skipped[0]!.reason})`, dataset.root);
  }
  const test = await checkTestItems(dataset.test, { progress: (done, total) => progress('checking test images', done, total) });
  const lines = [
    ...(train ? skippedLines(train.skipped, dataset.train.length, 'training images', `fitting on the other ${train.readable.length}`) : []),
    ...skippedLines(test.skipped, dataset.test.length, 'test images (unreadable image or mask)', `metrics on the other ${test.readable.length}`),
  ];
  for (const line of lines) process.stderr.write(`npad: ${printable(line)}\n`);
  for (const label of [0, 1] as const) {
    if (!test.readable.some((t) => t.label === label)) {
      const kind = label === 0 ? 'good' : 'defective';
      throw new NpadInputError(
        `${path.join(dataset.root, 'test')}: no ${kind} test image${test.skipped.length ? ` is left after skipping ${test.skipped.length} unreadable` : ''}: the metrics need good and defective images`,
        path.join(dataset.root, 'test'),
      );
    }
  }
  if (train) dataset.train = train.readable;
  dataset.test = test.readable;
  return { train: train?.skipped ?? [], test: test.skipped };
}

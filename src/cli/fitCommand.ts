/** `npad fit TRAIN_DIR --out MODEL`: fits a detector on nominal images and saves it. */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { HELP_FLAG, parseCommandArgs } from './args.js';
import { checkImages, skippedLines } from '../data/checkImages.js';
import { trainSubset } from '../data/subset.js';
import { withFlags } from './userMessages.js';
import { DEFAULT_FALSE_ALARM_RATE, DEFAULT_HOLDOUT_FRACTION, describeCalibration, splitHoldout } from '../detector/calibration.js';
import { Detector } from '../detector/detector.js';
import type { StoragePrecision } from '../method/types.js';
import { NpadInputError } from '../errors.js';
import { CONFIG_FLAGS, CONFIG_HELP, configFromFlags } from './configFlags.js';
import { MEMORY_FLAG, MEMORY_HELP, memoryGuardFromFlag } from './memoryFlag.js';
import { boundedFlag, fractionFlag } from './numberFlags.js';
import { peakRssMiB, printable } from './output.js';
import { terminalProgress } from './progress.js';
import { EXIT_SKIPPED } from './predictCommand.js';
import { findTrainImages } from './trainImages.js';
import { redisConnection } from '../queue/connection.js';
import { runJobs } from '../queue/coordinator.js';
import { isUserFailure, userFailureMessage } from '../queue/jobs.js';
import { queueShards, type ShardReport } from '../queue/fitShardJob.js';
import { parseS3Location } from '../queue/partStore.js';

/** Fewest readable good images `npad fit` accepts: one held out for the threshold, three for N-pad's default fit. */
export const MIN_FIT_IMAGES = 4;
/** Below this many good images, `npad fit` warns that the threshold cannot be measured at its false-alarm rate. */
export const FEW_FIT_IMAGES = 20;

export const FIT_HELP = `npad fit TRAIN_DIR -o|--out MODEL [options]
       npad fit TRAIN_DIR... --queue URL -o|--out MODEL_OR_DIR [options]
  Fits a detector on the defect-free images of TRAIN_DIR (an MVTec-layout root, whose train/good is used,
  or a plain folder of images) and writes it to MODEL (atomically).
  --train-subset N   fit on N of the images, drawn at random with a fixed seed (few-shot)
  --holdout F        share of the images held out of the fit to set the score threshold (default
                     ${DEFAULT_HOLDOUT_FRACTION}, at least one image; 0: fit on all, no threshold until npad calibrate)
  --false-alarm-rate R  share of good images the threshold may call defective (default ${DEFAULT_FALSE_ALARM_RATE}; docs/scores.md)
  --storage i8|f16|f32  how the large matrices are stored (default i8: precision matrices in int8 with a scale
                     per row, the bank in f16; 171 MB on bottle and 250 MB on MTD, the same AUROC to two decimals,
                     docs/speed.md; f16 1.5–1.7 times that; f32 for exact round trips)
  --queue URL        fit on the workers of a Redis queue (npad worker; redis://HOST:PORT), one job per TRAIN_DIR:
                     with several, --out is a folder and each model is <folder>/<TRAIN_DIR's name>.npad; folders
                     and --out must be on storage every worker reaches at the same paths
  --shards N         cut the training images into N shards whose statistics are computed apart (on the queue's
                     workers with --queue) and merged in order: the same model bytes wherever each shard ran
                     (N-pad with its default bank, and PaDiM; docs/scale.md)
  --parts DIR|s3://BUCKET/PREFIX  where the workers leave the shards' parts for this process to merge (with --queue
                     --shards; default: the model's folder): a folder every worker reaches at the same path, or an
                     S3-compatible bucket (AWS SDK settings: AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                     AWS_ENDPOINT_URL_S3 for MinIO and the like; docs/scale.md)
${MEMORY_HELP}
  Unreadable images are named and skipped; the fit uses the rest and the exit code is then 3.
  It needs at least ${MIN_FIT_IMAGES} readable good images (one to set the threshold, three to fit: N-pad's
  default bank holds two of those out to standardise its maps); with fewer than ${FEW_FIT_IMAGES} it warns that the
  threshold's false-alarm rate is extrapolated, not measured.

${CONFIG_HELP}`;

/** Where a fit's result lines go (stdout; a queue worker keeps them to send back to the coordinator as well). */
export interface LineSink {
  write(text: string): unknown;
}

export async function fitCommand(argv: string[], stdout: LineSink = process.stdout): Promise<number> {
  const options = {
    ...HELP_FLAG,
    ...CONFIG_FLAGS,
    out: { type: 'string', short: 'o' },
    'train-subset': { type: 'string' },
    holdout: { type: 'string' },
    'false-alarm-rate': { type: 'string' },
    storage: { type: 'string', default: 'i8' },
    ...MEMORY_FLAG,
    queue: { type: 'string' },
    shards: { type: 'string' },
    parts: { type: 'string' },
  } as const;
  const parsed = parseCommandArgs('fit', { args: argv, options, allowPositionals: true, tokens: true }, FIT_HELP);
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (!values.out) throw new NpadInputError(`npad fit needs --out MODEL\n\n${FIT_HELP}`);
  const config = configFromFlags(values); // flags first: a typo should not wait for a folder scan
  const precision = storagePrecision(values.storage);
  const shards = values.shards === undefined ? null : boundedFlag('shards', values.shards, 1, { min: 1, max: 10_000 });
  if (values.queue !== undefined) redisConnection(values.queue); // a bad URL before any work
  if (values.parts !== undefined && (values.queue === undefined || shards === null)) throw new NpadInputError('--parts is where the workers of a --queue fit with --shards leave their parts: give it with both, or not at all');
  // Parts go next to the model by default, where the workers must reach them too (docs/scale.md).
  const parts = values.parts ?? path.dirname(path.resolve(values.out));
  if (values.queue !== undefined && shards !== null && parseS3Location(parts) === null) await checkWritableFolder(parts, `${parts}: cannot leave the shards' parts there (--parts)`);
  if (values.queue !== undefined && shards === null) {
    const flags: string[] = []; // what the workers' fits take: every option but --out and --queue
    for (const t of parsed.tokens) {
      if (t.kind !== 'option' || t.name === 'out' || t.name === 'queue') continue;
      flags.push(argv[t.index]!); // as written: --dim, --dim=12
      if (t.value !== undefined && !t.inlineValue) flags.push(t.value);
    }
    return fitOnQueue(values.queue, positionals, values.out, flags, stdout);
  }
  if (positionals.length !== 1) throw new NpadInputError(`npad fit takes one TRAIN_DIR, got ${positionals.length} (several, one fit each, go through --queue without --shards)\n\n${FIT_HELP}`);
  await checkWritableOutput(values.out);
  const holdoutFraction = values.holdout === undefined ? DEFAULT_HOLDOUT_FRACTION : fractionFlag('holdout', values.holdout, { allowZero: true });
  const falseAlarmRate = values['false-alarm-rate'] === undefined ? DEFAULT_FALSE_ALARM_RATE : fractionFlag('false-alarm-rate', values['false-alarm-rate']);
  const memoryGuard = memoryGuardFromFlag(values['memory-limit']);
  const all = await findTrainImages(positionals[0]!);
  const subset = values['train-subset'];
  const images = subset ? await withFlags({ 'training subset': '--train-subset' }, () => trainSubset(all, Number(subset))) : all;
  // The options against the backbone and the memory before the images are decoded, which takes a while.
  await Detector.checkFit(config, images.length, memoryGuard, shards !== null);
  const started = performance.now();
  const progress = terminalProgress();
  // Every image is decoded once up front: an unreadable one is named and left out instead of stopping the fit.
  const checked = await checkImages(images, { progress: (done, total) => progress('checking images', done, total) });
  if (checked.readable.length === 0) {
    throw new NpadInputError(`${positionals[0]!}: none of the ${images.length} training images can be read (first: ${checked.skipped[0]!.reason})`, positionals[0]!);
  }
  const skipped = skippedLines(checked.skipped, images.length, 'training images', `fitting on the other ${checked.readable.length}`);
  for (const line of skipped) process.stderr.write(`npad: ${printable(line)}\n`);
  const good = checked.readable.length;
  if (good < MIN_FIT_IMAGES) {
    throw new NpadInputError(
      `${positionals[0]!}: ${good} readable good image${good === 1 ? '' : 's'}; npad fit needs at least ${MIN_FIT_IMAGES} ` +
        '(one held out to set the threshold, three to fit: a detector learns what good looks like from how good images vary)',
      positionals[0]!,
    );
  }
  if (good < FEW_FIT_IMAGES) {
    process.stderr.write(
      `npad: warning: only ${good} good images. The threshold is set from the few held out of the fit, so the false-alarm rate ` +
        `it aims at is extrapolated, not measured, and the model has seen little of how good parts vary: expect false alarms ` +
        `until it is fitted on ${FEW_FIT_IMAGES} or more, or recalibrated on more good images (npad calibrate MODEL --good DIR).\n`,
    );
  }
  const { fit, holdout } = await withFlags({ 'held-out fraction': '--holdout' }, () => splitHoldout(checked.readable, holdoutFraction));
  let detector: Detector;
  if (shards === null) detector = await Detector.fit(fit, config, progress, memoryGuard);
  else {
    const runner = values.queue === undefined ? undefined : queueShards(values.queue, parts, reportShards, (done, total) => progress('fitting shards (queue jobs)', done, total));
    detector = await Detector.fitSharded(fit, config, Math.min(shards, fit.length), runner, progress, memoryGuard);
  }
  if (holdout.length) await detector.calibrate(holdout, { falseAlarmRate }, progress);
  await detector.save(values.out, { precision });
  const seconds = (performance.now() - started) / 1000;
  stdout.write(`fitted on ${fit.length} images in ${seconds.toFixed(1)} s (peak memory ${peakRssMiB().toFixed(0)} MiB); saved ${values.out}\n`);
  if (detector.fitSummary) stdout.write(`${detector.fitSummary}\n`);
  stdout.write(
    detector.calibration
      ? `threshold: ${describeCalibration(detector.calibration)}\n`
      : `no score threshold (--holdout 0): before npad predict, run npad calibrate ${values.out} --good DIR (good images not fitted on)\n`,
  );
  if (checked.skipped.length === 0) return 0;
  process.stderr.write(`npad: finished with ${checked.skipped.length} of ${images.length} training images skipped (named above; exit code ${EXIT_SKIPPED})\n`);
  return EXIT_SKIPPED;
}

/** One line per shard of a sharded fit through the queue: its images, part size and worker time. */
function reportShards(reports: readonly ShardReport[]): void {
  reports.forEach((r, k) => process.stderr.write(`npad: ${r.kind === 'survey' ? 'survey of ' : ''}shard ${k + 1} of ${reports.length}: ${r.images} images, part ${(r.bytes / 1e6).toFixed(1)} MB, ${r.seconds.toFixed(1)} s on its worker\n`));
}

/**
 * `npad fit DIR... --queue URL --out OUT`: one whole fit per folder, each a job for the queue's workers (a fleet
 * fits a list of products); OUT is the model file for one folder, else a folder for OUT/<folder name>.npad.
 * @returns 0, 3 when some fit skipped images, 2 when a fit was refused (a user's mistake), 1 when one failed
 */
async function fitOnQueue(url: string, folders: readonly string[], out: string, flags: string[], stdout: LineSink): Promise<number> {
  redisConnection(url);
  if (folders.length === 0) throw new NpadInputError(`npad fit takes at least one TRAIN_DIR\n\n${FIT_HELP}`);
  let models: string[];
  if (folders.length === 1) models = [out];
  else {
    await mkdir(out, { recursive: true });
    models = folders.map((f) => path.join(out, `${path.basename(path.resolve(f))}.npad`));
    const twice = models.find((m, i) => models.indexOf(m) !== i);
    if (twice) throw new NpadInputError(`${twice}: two training folders have the same name; fit them in separate runs`, twice);
  }
  for (const m of models) await checkWritableOutput(m);
  const jobs = folders.map((f, i) => ({ train: path.resolve(f), out: path.resolve(models[i]!), flags }));
  const progress = terminalProgress();
  const outcomes = await runJobs(url, 'fit', jobs, { onProgress: (done, total) => progress('fitting (queue jobs)', done, total) });
  let code = 0;
  outcomes.forEach((o, i) => {
    if (o.ok) {
      stdout.write(`${folders[i]!}: ${o.result.summary.split('\n').join(`\n${folders[i]!}: `)}\n`);
      if (o.result.exitCode === EXIT_SKIPPED) code = Math.max(code, EXIT_SKIPPED);
    } else {
      const user = isUserFailure(o.error);
      process.stderr.write(`npad: ${folders[i]!}: ${user ? userFailureMessage(o.error) : `failed on the worker: ${o.error}`}\n`);
      code = code === 0 || code === EXIT_SKIPPED ? (user ? 2 : 1) : Math.min(code, user ? 2 : 1);
    }
  });
  return code;
}

/** The --storage flag's value, checked. */
/**
 * Refuses, before any work, an output the fit could not write at its end: a missing or read-only folder, or a
 * folder where the file should be.
 * @throws NpadInputError naming the path and the problem
 */
async function checkWritableOutput(file: string): Promise<void> {
  const existing = await stat(file).catch(() => null);
  if (existing?.isDirectory()) throw new NpadInputError(`${file}: --out is a folder; name the model file`, file);
  await checkWritableFolder(path.dirname(path.resolve(file)), `${file}: cannot write the model there`);
}

/** Refuses a folder that does not exist or where this process cannot create files, the message starting `why`. */
async function checkWritableFolder(dir: string, why: string): Promise<void> {
  const folder = await stat(dir).catch(() => null);
  if (!folder?.isDirectory()) throw new NpadInputError(`${why}: the folder ${dir} does not exist`, dir);
  await access(dir, constants.W_OK).catch(() => {
    throw new NpadInputError(`${why}: no permission to create files in ${dir}`, dir);
  });
}

function storagePrecision(value: string): StoragePrecision {
  if (value !== 'f32' && value !== 'f16' && value !== 'i8') throw new NpadInputError(`--storage must be f32, f16 or i8, got '${value}'`);
  return value;
}

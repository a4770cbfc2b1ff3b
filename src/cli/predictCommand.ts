/**
 * `npad predict MODEL IMAGE_OR_DIR... [--out DIR] [--json]`: a verdict for each image with the model's threshold;
 * with --out, a heatmap overlay and a defect mask per image and predictions.jsonl. Images that cannot be read are
 * skipped and named; the run goes on and ends with exit code 3.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { HELP_FLAG, parseCommandArgs } from './args.js';
import { formatScore, type ScoreCalibration } from '../detector/calibration.js';
import { Detector } from '../detector/detector.js';
import { IMAGE_EXTENSIONS, imagesUnder } from '../data/mvtec.js';
import { NpadInputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { predictionRecord, type PredictInput, type PredictionRecord } from '../report/predictionFiles.js';
import { redisConnection } from '../queue/connection.js';
import { jobFailure } from '../queue/jobs.js';
import { terminalProgress } from './progress.js';
import { printable, reportSkippedEntry } from './output.js';

export const PREDICT_HELP = `npad predict MODEL IMAGE_OR_DIR... [-o|--out DIR] [--json] [--queue URL]
  Calls each image good or defective with the threshold stored in MODEL (set by npad fit's --holdout, npad eval
  --save-threshold or npad calibrate) and prints its raw and normalised score (threshold = 0.5; docs/scores.md).
  Folders are searched for images (png, jpg, tif, bmp), subfolders included. Images that cannot be read are
  skipped and named; the others go on, and the exit code is then 3.
  --out DIR   also write DIR/<name>.overlay.png (heatmap over the image as the network saw it, the predicted
              defect outlined), DIR/<name>.mask.png (defect mask, 255 = defective) and DIR/predictions.jsonl
              (one JSON object per image, written atomically at the end); subfolders of a folder are kept
  --json      one JSON object per image on stdout (as in predictions.jsonl), messages on stderr only
  --queue URL spread the images over the workers of a Redis queue (npad worker; redis://HOST:PORT): the model,
              images and --out must be on storage every worker reaches at the same paths; the output is the
              same as a local run's, in the same order`;

/**
 * Fewer images than this are scored with the model as stored (Detector.load's form 'stored'): loading the default
 * bottle model expanded costs 1.2–2.3 s and 1 GB more, and the stored form about 0.2 s more per image in batches
 * (20 images: 4.4 against 1.7 s of Mahalanobis distances, 5.3 against 3.8 s of bank search), so expanding pays from
 * about 8 images on.
 */
const FEW_IMAGES = 8;

/** Exit code of a run that finished but skipped some inputs. */
export const EXIT_SKIPPED = 3;

/**
 * The images named on the command line: files as given (a file that cannot be read is skipped later, by name),
 * folders searched. Output names keep a folder's subfolders and drop extensions; clashes get -2, -3….
 */
async function collectInputs(args: readonly string[]): Promise<PredictInput[]> {
  const inputs: PredictInput[] = [];
  const taken = new Set<string>();
  const unique = (name: string): string => {
    let candidate = name;
    for (let k = 2; taken.has(candidate.toLowerCase()); k++) candidate = `${name}-${k}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  };
  const stem = (rel: string): string => rel.slice(0, rel.length - path.extname(rel).length).split(path.sep).join('/');
  for (const arg of args) {
    const info = await stat(arg).catch(() => null);
    if (info !== null && !info.isDirectory() && !info.isFile()) {
      throw new NpadInputError(`${arg}: not a regular file (a FIFO, socket or device); npad predict reads image files and folders`, arg);
    }
    if (info?.isDirectory()) {
      const files = await imagesUnder(arg, reportSkippedEntry);
      if (files.length === 0) throw new NpadInputError(`${arg}: no images (${IMAGE_EXTENSIONS.map((e) => e.slice(1)).join(', ')}) in this folder or its subfolders`, arg);
      for (const file of files) inputs.push({ file, outName: unique(stem(path.relative(arg, file))) });
    } else {
      inputs.push({ file: arg, outName: unique(stem(path.basename(arg))) });
    }
  }
  return inputs;
}

/**
 * Images per queue job: about two jobs per worker listening (so a slow or lost worker's share is taken up by
 * others), at most 32 (each job's answer holds its records), at least 1.
 */
function imagesPerJob(images: number, workers: number): number {
  return Math.max(1, Math.min(32, Math.ceil(images / (2 * workers))));
}

/** Runs `npad predict`; returns the exit code (0, or {@link EXIT_SKIPPED} when some inputs were skipped). */
export async function predictCommand(argv: string[]): Promise<number> {
  const options = { ...HELP_FLAG, out: { type: 'string', short: 'o' }, json: { type: 'boolean' }, queue: { type: 'string' } } as const;
  const parsed = parseCommandArgs('predict', { args: argv, options, allowPositionals: true }, PREDICT_HELP);
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (positionals.length < 2) throw new NpadInputError(`npad predict takes a MODEL and at least one IMAGE_OR_DIR\n\n${PREDICT_HELP}`);
  const [model, ...args] = positionals as [string, ...string[]];
  const queue = values.queue;
  if (queue !== undefined) redisConnection(queue); // a bad URL before the folder scan
  const inputs = await collectInputs(args);
  // Locally the model is loaded here; through a queue each worker loads it, and the first job says its threshold.
  // A few images are scored with the model as its file stores it, which loads faster than it expands (LoadedForm).
  const form = inputs.length < FEW_IMAGES ? 'stored' : 'expanded';
  const detector = queue === undefined ? await Detector.load(model, { form }) : null;
  let threshold = detector ? thresholdOf(detector.requireCalibration()) : null; // before any output exists
  const out = values.out;
  if (out) await mkdir(out, { recursive: true }).catch((e: unknown) => {
    throw new NpadInputError(`${out}: cannot create the output folder (${e instanceof Error ? e.message : String(e)})`, out);
  });
  const json = values.json === true;
  const progress = terminalProgress();
  // A progress bar on stderr and result lines on stdout share the terminal: clear the bar before each line.
  const clearBar = process.stderr.isTTY && process.stdout.isTTY ? '\r\x1b[K' : '';
  const records: PredictionRecord[] = [];
  const skipped: string[] = [];
  const counts = { good: 0, defective: 0 };
  /** Prints and keeps an image's record (a skipped one is named on stderr). */
  const emit = (record: PredictionRecord): void => {
    records.push(record);
    if ('skipped' in record) {
      skipped.push(record.error);
      process.stderr.write(`${clearBar}npad: skipped ${printable(record.error)}\n`);
    } else {
      counts[record.verdict]++;
    }
    if (json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else if (!('skipped' in record)) {
      process.stdout.write(`${clearBar}${record.verdict.padEnd(9)}  ${record.normalised_score.toFixed(3)}  score ${formatScore(record.score).padEnd(8)} ${printable(record.file)}\n`);
    }
    progress('predicting', records.length, inputs.length);
  };
  if (detector) {
    const calibration = detector.requireCalibration();
    // Records are emitted in input order: predict reports images in order.
    await detector.predict(
      inputs.map((i) => i.file),
      async (index, p) => emit(await predictionRecord(inputs[index]!, p, calibration, out ?? null)),
      (index, error) => emit({ file: inputs[index]!.file, skipped: true, error: error.message }),
    );
  } else {
    const { runJobs, workerCount } = await import('../queue/coordinator.js');
    const perJob = imagesPerJob(inputs.length, await workerCount(queue!));
    const jobs = chunks(inputs, perJob).map((part) => ({ model: path.resolve(model), inputs: part.map((i) => ({ file: path.resolve(i.file), outName: i.outName })), out: out ? path.resolve(out) : null }));
    // Each job's records are shown as soon as it and the jobs before it have ended: in input order, as they come.
    await runJobs(queue!, 'predict', jobs, {
      onProgress: (doneJobs, total) => progress('predicting (queue jobs)', doneJobs, total),
      onOutcome: (j, o) => {
        if (!o.ok) throw jobFailure(o.error, `predicting ${jobs[j]!.inputs.length} images`, model);
        threshold ??= o.result.threshold;
        // Workers were given absolute paths; the records name the files as the user did, as a local run does.
        o.result.records.forEach((r, k) => {
          const given = inputs[j * perJob + k]!.file;
          const sent = jobs[j]!.inputs[k]!.file;
          emit('skipped' in r ? { ...r, file: given, error: r.error.split(sent).join(given) } : { ...r, file: given });
        });
      },
    });
  }
  const calibration = threshold!;
  if (out) await writeFileAtomic(path.join(out, 'predictions.jsonl'), [new TextEncoder().encode(records.map((r) => JSON.stringify(r)).join('\n') + '\n')]);
  const summary =
    `${inputs.length} image${inputs.length === 1 ? '' : 's'}: ${counts.good} good, ${counts.defective} defective` +
    `${skipped.length ? `, ${skipped.length} skipped` : ''} (image threshold ${formatScore(calibration.image)} = 0.5 normalised, ${calibration.source})` +
    `${out ? `; overlays, masks and predictions.jsonl in ${out}` : ''}\n`;
  // With --json, stdout carries JSON only.
  (json ? process.stderr : process.stdout).write(summary);
  if (skipped.length) {
    process.stderr.write(`npad: ${skipped.length} input${skipped.length === 1 ? ' was' : 's were'} skipped:\n${skipped.map((m) => `  ${printable(m)}\n`).join('')}`);
    return EXIT_SKIPPED;
  }
  return 0;
}

/** The threshold a run's summary names. */
function thresholdOf(c: ScoreCalibration): { image: number; source: string } {
  return { image: c.imageThreshold, source: c.source };
}

/** `items` in consecutive pieces of at most `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

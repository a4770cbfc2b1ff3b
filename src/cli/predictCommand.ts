/**
 * `npad predict MODEL IMAGE_OR_DIR... [--out DIR] [--json]`: a verdict for each image with the model's threshold;
 * with --out, a heatmap overlay and a defect mask per image and predictions.jsonl. Images that cannot be read are
 * skipped and named; the run goes on and ends with exit code 3.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { HELP_FLAG, parseCommandArgs } from './args.js';
import { formatScore } from '../detector/calibration.js';
import { Detector } from '../detector/detector.js';
import type { Prediction } from '../detector/predict.js';
import { IMAGE_EXTENSIONS, imagesUnder } from '../data/mvtec.js';
import { NpadInputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { renderMaskPng, renderOverlayPng } from '../report/overlay.js';
import { terminalProgress } from './progress.js';
import { printable, reportSkippedEntry } from './output.js';

export const PREDICT_HELP = `npad predict MODEL IMAGE_OR_DIR... [-o|--out DIR] [--json]
  Calls each image good or defective with the threshold stored in MODEL (set by npad fit's --holdout, npad eval
  --save-threshold or npad calibrate) and prints its raw and normalised score (threshold = 0.5; docs/scores.md).
  Folders are searched for images (png, jpg, tif, bmp), subfolders included. Images that cannot be read are
  skipped and named; the others go on, and the exit code is then 3.
  --out DIR   also write DIR/<name>.overlay.png (heatmap over the image as the network saw it, the predicted
              defect outlined), DIR/<name>.mask.png (defect mask, 255 = defective) and DIR/predictions.jsonl
              (one JSON object per image, written atomically at the end); subfolders of a folder are kept
  --json      one JSON object per image on stdout (as in predictions.jsonl), messages on stderr only`;

/** Exit code of a run that finished but skipped some inputs. */
export const EXIT_SKIPPED = 3;

/** An input image, the name its outputs get, and where it came from. */
interface PredictInput {
  /** the file */
  file: string;
  /** output name without extension, relative to --out (forward slashes) */
  outName: string;
}


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

/** One line of predictions.jsonl / --json output. */
type PredictionRecord =
  | {
      file: string;
      verdict: Prediction['verdict'];
      score: number;
      normalised_score: number;
      image_threshold: number;
      /** share of the image's pixels over the pixel threshold (the defect mask's area) */
      defect_area: number;
      overlay?: string;
      mask?: string;
    }
  | { file: string; skipped: true; error: string };

/** Runs `npad predict`; returns the exit code (0, or {@link EXIT_SKIPPED} when some inputs were skipped). */
export async function predictCommand(argv: string[]): Promise<number> {
  const options = { ...HELP_FLAG, out: { type: 'string', short: 'o' }, json: { type: 'boolean' } } as const;
  const parsed = parseCommandArgs('predict', { args: argv, options, allowPositionals: true }, PREDICT_HELP);
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (positionals.length < 2) throw new NpadInputError(`npad predict takes a MODEL and at least one IMAGE_OR_DIR\n\n${PREDICT_HELP}`);
  const [model, ...args] = positionals as [string, ...string[]];
  const inputs = await collectInputs(args);
  const detector = await Detector.load(model);
  const calibration = detector.requireCalibration(); // before any output exists
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
  let done = 0;
  /** Records an image's outcome; `human` is its stdout line without --json (null: none, the skip went to stderr). */
  const emit = (record: PredictionRecord, human: string | null): void => {
    records.push(record);
    if (json) process.stdout.write(`${JSON.stringify(record)}\n`);
    else if (human !== null) process.stdout.write(`${clearBar}${human}\n`);
    progress('predicting', ++done, inputs.length);
  };
  await detector.predict(
    inputs.map((i) => i.file),
    async (index, p) => {
      const input = inputs[index]!;
      counts[p.verdict]++;
      let files: { overlay: string; mask: string } | undefined;
      if (out) {
        files = { overlay: `${input.outName}.overlay.png`, mask: `${input.outName}.mask.png` };
        const overlayPath = path.join(out, files.overlay);
        await mkdir(path.dirname(overlayPath), { recursive: true });
        await writeFileAtomic(overlayPath, [await renderOverlayPng(input.file, p, calibration)]);
        await writeFileAtomic(path.join(out, files.mask), [await renderMaskPng(p)]);
      }
      const defectArea = p.mask.reduce((s, v) => s + v, 0) / p.mask.length;
      emit(
        {
          file: input.file,
          verdict: p.verdict,
          score: p.score,
          normalised_score: p.normalisedScore,
          image_threshold: calibration.imageThreshold,
          defect_area: defectArea,
          ...(files ?? {}),
        },
        `${p.verdict.padEnd(9)}  ${p.normalisedScore.toFixed(3)}  score ${formatScore(p.score).padEnd(8)} ${printable(input.file)}`,
      );
    },
    (index, error) => {
      const input = inputs[index]!;
      skipped.push(error.message);
      process.stderr.write(`${clearBar}npad: skipped ${printable(error.message)}\n`);
      emit({ file: input.file, skipped: true, error: error.message }, null);
    },
  );
  if (out) await writeFileAtomic(path.join(out, 'predictions.jsonl'), [new TextEncoder().encode(records.map((r) => JSON.stringify(r)).join('\n') + '\n')]);
  const summary =
    `${inputs.length} image${inputs.length === 1 ? '' : 's'}: ${counts.good} good, ${counts.defective} defective` +
    `${skipped.length ? `, ${skipped.length} skipped` : ''} (image threshold ${formatScore(calibration.imageThreshold)} = 0.5 normalised, ${calibration.source})` +
    `${out ? `; overlays, masks and predictions.jsonl in ${out}` : ''}\n`;
  // With --json, stdout carries JSON only.
  (json ? process.stderr : process.stdout).write(summary);
  if (skipped.length) {
    process.stderr.write(`npad: ${skipped.length} input${skipped.length === 1 ? ' was' : 's were'} skipped:\n${skipped.map((m) => `  ${printable(m)}\n`).join('')}`);
    return EXIT_SKIPPED;
  }
  return 0;
}

/**
 * What `npad predict` keeps of each image, wherever it was scored (this process or a queue worker): the record
 * predictions.jsonl and `--json` hold, and with an output folder the image's overlay and defect mask beside it.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ScoreCalibration } from '../detector/calibration.js';
import type { Prediction } from '../detector/predict.js';
import { writeFileAtomic } from '../io/atomic.js';
import { renderMaskPng, renderOverlayPng } from './overlay.js';

/** An image to predict and the name its outputs get. */
export interface PredictInput {
  /** the file */
  file: string;
  /** output name without extension, relative to the output folder (forward slashes) */
  outName: string;
}

/** One line of predictions.jsonl / `npad predict --json`. */
export type PredictionRecord =
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

/**
 * The record of one scored image; with `out`, its overlay and mask are written first (atomically) into
 * `out/<outName>.overlay.png` and `.mask.png`.
 */
export async function predictionRecord(input: PredictInput, p: Prediction, calibration: ScoreCalibration, out: string | null): Promise<PredictionRecord> {
  let files: { overlay: string; mask: string } | undefined;
  if (out !== null) {
    files = { overlay: `${input.outName}.overlay.png`, mask: `${input.outName}.mask.png` };
    const overlayPath = path.join(out, files.overlay);
    await mkdir(path.dirname(overlayPath), { recursive: true });
    await writeFileAtomic(overlayPath, [await renderOverlayPng(input.file, p, calibration)]);
    await writeFileAtomic(path.join(out, files.mask), [await renderMaskPng(p)]);
  }
  return {
    file: input.file,
    verdict: p.verdict,
    score: p.score,
    normalised_score: p.normalisedScore,
    image_threshold: calibration.imageThreshold,
    defect_area: p.mask.reduce((s, v) => s + v, 0) / p.mask.length,
    ...(files ?? {}),
  };
}

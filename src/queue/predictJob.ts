/**
 * A worker's predict jobs: the model is loaded once and kept for the next job that names it (the same file,
 * unchanged), and each image's record and output files are made as a local `npad predict` makes them.
 */
import { stat } from 'node:fs/promises';
import { Detector } from '../detector/detector.js';
import { predictionRecord, type PredictionRecord } from '../report/predictionFiles.js';
import type { PredictJob, PredictJobResult } from './jobs.js';

/** A predict-job runner with its own model cache (one model: a worker serves one product at a time). */
export function predictJobRunner(): (job: PredictJob) => Promise<PredictJobResult> {
  let cached: { key: string; detector: Promise<Detector> } | null = null;
  return async (job) => {
    const info = await stat(job.model).catch(() => null);
    const key = `${job.model}:${info?.size}:${info?.mtimeMs}`;
    if (cached?.key !== key) cached = { key, detector: Detector.load(job.model) };
    const current = cached;
    const detector = await current.detector.catch((e: unknown) => {
      if (cached === current) cached = null; // a bad file is read again next time, in case it was mended
      throw e;
    });
    const calibration = detector.requireCalibration();
    const records = new Array<PredictionRecord>(job.inputs.length);
    await detector.predict(
      job.inputs.map((i) => i.file),
      async (index, p) => {
        records[index] = await predictionRecord(job.inputs[index]!, p, calibration, job.out);
      },
      (index, error) => {
        records[index] = { file: job.inputs[index]!.file, skipped: true, error: error.message };
      },
    );
    return { records, threshold: { image: calibration.imageThreshold, source: calibration.source } };
  };
}

/**
 * The jobs npad puts on its queue, by name, with the data a coordinator sends and what a worker returns. Paths in
 * them are absolute and must mean the same on every machine (a shared folder): a worker reads the images and the
 * model there and writes its outputs there.
 */
import type { PredictInput, PredictionRecord } from '../report/predictionFiles.js';
import { NpadInputError } from '../errors.js';
import { isRecord } from '../util/isRecord.js';

/** Score images with one model: the records in the order of `inputs`. */
export interface PredictJob {
  /** the model file */
  model: string;
  inputs: PredictInput[];
  /** where overlays and masks go (predictionFiles.ts), or null for none */
  out: string | null;
}

export interface PredictJobResult {
  records: PredictionRecord[];
  /** the model's image threshold and where it came from, for the coordinator's summary */
  threshold: { image: number; source: string };
}

/** A whole fit of one dataset, as `npad fit ARGV` would run it on the worker (one product of a fleet). */
export interface FitJob {
  /** the training folder */
  train: string;
  /** the model file to write */
  out: string;
  /** the `npad fit` flags besides the folder and --out (configuration, storage, holdout…) */
  flags: string[];
}

export interface FitJobResult {
  /** the model written */
  model: string;
  /** what `npad fit` printed on its last lines (its summary) */
  summary: string;
  /** 0, or 3 when some training images were skipped */
  exitCode: number;
}

/** One shard of a round of a sharded fit (Detector.fitSharded): its survey summary or statistics written to `part`. */
export interface FitShardJob {
  /** the round: the survey (N-pad's channel counts) or the fit */
  kind: 'survey' | 'fit';
  /** what the survey found, for a fit round (JSON), else null */
  context: Record<string, unknown> | null;
  /** the fit's configuration as the coordinator resolved it (DetectorConfig, its input shape set) */
  config: Record<string, unknown>;
  /** the shard's training images */
  images: string[];
  /** where the part goes (detector/shardFiles.ts) */
  part: string;
}

export interface FitShardJobResult {
  part: string;
  /** the part file's size */
  bytes: number;
  /** seconds the worker took */
  seconds: number;
}

/** The job names and their data. */
export interface NpadJobs {
  predict: { data: PredictJob; result: PredictJobResult };
  fit: { data: FitJob; result: FitJobResult };
  'fit-shard': { data: FitShardJob; result: FitShardJobResult };
}

export type NpadJobName = keyof NpadJobs;

/** Why `data` is not a job of `name`, or null: a worker checks what it takes off the queue before acting on it. */
export function invalidJob(name: string, data: unknown): string | null {
  if (!isRecord(data)) return 'its data is not an object';
  const strings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
  switch (name) {
    case 'predict':
      if (typeof data.model !== 'string') return 'no model';
      if (!Array.isArray(data.inputs) || !data.inputs.every((i) => isRecord(i) && typeof i.file === 'string' && typeof i.outName === 'string')) return 'inputs is not a list of {file, outName}';
      if (data.out !== null && typeof data.out !== 'string') return 'out is not a folder or null';
      return null;
    case 'fit':
      if (typeof data.train !== 'string' || typeof data.out !== 'string') return 'no train folder or out file';
      if (!strings(data.flags)) return 'flags is not a list of strings';
      return null;
    case 'fit-shard':
      if (data.kind !== 'survey' && data.kind !== 'fit') return 'kind is not survey or fit';
      if (data.context !== null && !isRecord(data.context)) return 'context is not an object or null';
      if (!isRecord(data.config)) return 'no configuration';
      if (!strings(data.images) || (data.images as unknown[]).length === 0) return 'images is not a list of files';
      if (typeof data.part !== 'string') return 'no part file';
      return null;
    default:
      return `unknown job ${JSON.stringify(name)}`;
  }
}

/** Marks a failure that is the user's to mend (a missing folder, a model without thresholds): not retried. */
const USER_FAILURE = 'npad user error: ';

/** The message a worker fails a job with for a user's mistake. */
export function userFailure(message: string): string {
  return `${USER_FAILURE}${message}`;
}

/** True for a job failure that is a user's mistake ({@link userFailure}). */
export function isUserFailure(reason: string): boolean {
  return reason.startsWith(USER_FAILURE);
}

/** The user's message of such a failure. */
export function userFailureMessage(reason: string): string {
  return reason.slice(USER_FAILURE.length);
}

/**
 * The error a job that failed for good becomes on the coordinator: an NpadInputError (exit 2, no stack) for a user's
 * mistake, else an Error (a bug or a crash, retried already).
 * @param what the job in a few words, e.g. "shard 2 of 4"
 */
export function jobFailure(reason: string, what: string, file?: string): Error {
  if (isUserFailure(reason)) return new NpadInputError(`${what}: ${userFailureMessage(reason)}`, file);
  return new Error(`${what} failed on the workers (after its retries): ${reason}`);
}

/**
 * Storing a new calibration in an existing model file without refitting: the file is read, its metadata gets the
 * new `calibration`, and it is written back atomically (a crash leaves the old file whole). The tensors are written
 * back exactly as they were read (same dtypes, same bytes), so the model scores as before.
 */
import { loadModel, saveModel } from '../model/modelFile.js';
import { parseCalibration, type ScoreCalibration } from './calibration.js';

/**
 * The calibration stored in a model file, or null when it has none (files written before thresholds existed).
 * @throws NpadInputError when the file cannot be read or is damaged
 */
export async function readModelCalibration(path: string): Promise<ScoreCalibration | null> {
  const stored = (await loadModel(path)).header.config.calibration;
  return stored === undefined || stored === null ? null : parseCalibration(stored, path);
}

/**
 * Replaces the calibration stored in the model file `path` (or removes it, with null).
 * @param path an npad model file
 * @param calibration the thresholds to store, or a function of the stored ones (null when none) giving them
 * @param out where to write (default: `path` itself, replaced atomically)
 * @returns the calibration written
 * @throws NpadInputError when the file cannot be read, is damaged, or cannot be written
 */
export async function writeModelCalibration(
  path: string,
  calibration: ScoreCalibration | null | ((stored: ScoreCalibration | null) => ScoreCalibration | null),
  out: string = path,
): Promise<ScoreCalibration | null> {
  const { header, tensors } = await loadModel(path);
  const { calibration: stored, ...config } = header.config;
  const previous = stored === undefined || stored === null ? null : parseCalibration(stored, path);
  const next = typeof calibration === 'function' ? calibration(previous) : calibration;
  const checked = next === null ? null : parseCalibration(next, path);
  await saveModel(out, { method: header.method, config: checked === null ? config : { ...config, calibration: checked }, backbone: header.backbone, formatVersion: header.formatVersion }, tensors);
  return checked;
}

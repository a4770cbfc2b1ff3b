/**
 * `npad calibrate MODEL`: shows or sets the score thresholds stored in a model file, from good images the model
 * was not fitted on, or by hand. The file is rewritten atomically with its tensors unchanged.
 */
import { HELP_FLAG, parseCommandArgs } from './args.js';
import { listImages } from '../data/mvtec.js';
import { DEFAULT_FALSE_ALARM_RATE, describeCalibration, manualCalibration } from '../detector/calibration.js';
import { withFlags } from './userMessages.js';
import { readModelCalibration, writeModelCalibration } from '../detector/calibrationFile.js';
import { Detector } from '../detector/detector.js';
import { NpadInputError } from '../errors.js';
import { fractionFlag, numberFlag } from './numberFlags.js';
import { terminalProgress } from './progress.js';

export const CALIBRATE_HELP = `npad calibrate MODEL [--good DIR [--false-alarm-rate R] | --image-threshold X [--pixel-threshold Y]] [-o|--out FILE]
  Shows the score thresholds stored in MODEL, or sets them (docs/scores.md):
  --good DIR             from the good images in DIR, which must not be ones MODEL was fitted on: the thresholds
                         at which a good image is called defective, or shows a defect, at the false-alarm rate
  --false-alarm-rate R   with --good: target share of good images called defective (default ${DEFAULT_FALSE_ALARM_RATE})
  --image-threshold X    by hand: raw image score at which an image is defective
  --pixel-threshold Y    by hand: raw pixel score at which a pixel is marked (kept from MODEL when omitted)
  --out FILE             write the calibrated model to FILE instead of replacing MODEL (atomically either way)
  From a labelled test set instead: npad eval DATASET --model MODEL --save-threshold f1-max`;

/** Runs `npad calibrate`; returns the exit code. */
export async function calibrateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('calibrate', {
    args: argv,
    options: {
      ...HELP_FLAG,
      good: { type: 'string' },
      'false-alarm-rate': { type: 'string' },
      'image-threshold': { type: 'string' },
      'pixel-threshold': { type: 'string' },
      out: { type: 'string', short: 'o' },
    },
    allowPositionals: true,
  }, CALIBRATE_HELP);
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new NpadInputError(`npad calibrate takes one MODEL, got ${positionals.length}\n\n${CALIBRATE_HELP}`);
  const model = positionals[0]!;
  const manual = values['image-threshold'] !== undefined || values['pixel-threshold'] !== undefined;
  if (manual && values.good !== undefined) throw new NpadInputError('npad calibrate: give either --good DIR or thresholds by hand, not both');
  if (values['false-alarm-rate'] !== undefined && values.good === undefined) throw new NpadInputError('--false-alarm-rate applies to --good DIR');
  const out = values.out ?? model;
  if (manual) {
    const thresholds = {
      ...(values['image-threshold'] !== undefined ? { imageThreshold: numberFlag('image-threshold', values['image-threshold']) } : {}),
      ...(values['pixel-threshold'] !== undefined ? { pixelThreshold: numberFlag('pixel-threshold', values['pixel-threshold']) } : {}),
    };
    const flags = { imageThreshold: '--image-threshold', pixelThreshold: '--pixel-threshold' };
    const written = await withFlags(flags, () => writeModelCalibration(model, (stored) => manualCalibration(thresholds, stored), out));
    process.stdout.write(`saved ${out}: ${describeCalibration(written!)}\n`);
    return 0;
  }
  if (values.good !== undefined) {
    const rate = values['false-alarm-rate'] === undefined ? DEFAULT_FALSE_ALARM_RATE : fractionFlag('false-alarm-rate', values['false-alarm-rate']);
    const images = await listImages(values.good);
    if (images.length === 0) throw new NpadInputError(`${values.good}: no images to set the threshold from`, values.good);
    const detector = await Detector.load(model);
    const calibration = await detector.calibrate(images, { falseAlarmRate: rate }, terminalProgress());
    await writeModelCalibration(model, calibration, out);
    process.stdout.write(`saved ${out}: ${describeCalibration(calibration)}\n`);
    return 0;
  }
  const stored = await readModelCalibration(model);
  process.stdout.write(stored ? `${model}: ${describeCalibration(stored)}\n` : `${model}: no score threshold; set one as below\n\n${CALIBRATE_HELP}\n`);
  return 0;
}

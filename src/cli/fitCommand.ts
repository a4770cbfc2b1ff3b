/** `npad fit TRAIN_DIR --out MODEL`: fits a detector on nominal images and saves it. */
import { parseArgs } from 'node:util';
import { trainSubset } from '../data/subset.js';
import { Detector } from '../detector/detector.js';
import { NpadInputError } from '../errors.js';
import { CONFIG_FLAGS, CONFIG_HELP, configFromFlags } from './configFlags.js';
import { peakRssMiB } from './output.js';
import { terminalProgress } from './progress.js';
import { findTrainImages } from './trainImages.js';

export const FIT_HELP = `npad fit TRAIN_DIR --out MODEL [options]
  Fits a detector on the defect-free images of TRAIN_DIR (an MVTec-layout root, whose train/good is used,
  or a plain folder of images) and writes it to MODEL (atomically).
  --train-subset N   fit on N of the images, drawn at random with a fixed seed (few-shot)

${CONFIG_HELP}`;

export async function fitCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...CONFIG_FLAGS, out: { type: 'string' }, 'train-subset': { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new NpadInputError(`npad fit takes one TRAIN_DIR, got ${positionals.length}\n\n${FIT_HELP}`);
  if (!values.out) throw new NpadInputError(`npad fit needs --out MODEL\n\n${FIT_HELP}`);
  const config = configFromFlags(values); // flags first: a typo should not wait for a folder scan
  const all = await findTrainImages(positionals[0]!);
  const images = values['train-subset'] ? trainSubset(all, Number(values['train-subset'])) : all;
  const started = performance.now();
  const detector = await Detector.fit(images, config, terminalProgress());
  await detector.save(values.out);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`fitted on ${images.length} images in ${seconds.toFixed(1)} s (peak memory ${peakRssMiB().toFixed(0)} MiB); saved ${values.out}\n`);
  return 0;
}

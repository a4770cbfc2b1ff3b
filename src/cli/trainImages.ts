/**
 * Where `npad fit` finds its nominal images: an MVTec root (its train/good) or a folder of images, subfolders
 * included (as `npad predict` searches them). A folder that looks like a dataset root but is not laid out as one
 * (e.g. `Train/Good` in another case, or test images beside the good ones) is refused rather than searched: its
 * subfolders would mix defective images into the fit.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { caseHint, imagesUnder } from '../data/mvtec.js';
import { reportSkippedEntry } from './output.js';
import { NpadInputError } from '../errors.js';

/** Subfolder names (any case) that mark a dataset root rather than a folder of good images. */
const DATASET_FOLDERS = ['train', 'test', 'ground_truth'];

export async function findTrainImages(dir: string): Promise<string[]> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new NpadInputError(`${dir}: not a folder`, dir);
  const good = path.join(dir, 'train', 'good');
  if ((await stat(good).catch(() => null))?.isDirectory()) {
    const images = await imagesUnder(good, reportSkippedEntry);
    if (images.length === 0) throw new NpadInputError(`${good}: no images (png, jpg, tif, bmp) in this folder or its subfolders to fit on`, dir);
    return images;
  }
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const datasetLike = entries.filter((e) => e.isDirectory() && DATASET_FOLDERS.includes(e.name.toLowerCase())).map((e) => e.name);
  if (datasetLike.length > 0) {
    const hint = await caseHint(dir, ['train', 'good']);
    throw new NpadInputError(
      `${dir}: looks like a dataset (it has ${datasetLike.join(', ')}/) but has no train/good${hint}; ` +
        'npad fit reads the good images of train/good, or a folder holding only good images',
      dir,
    );
  }
  const images = await imagesUnder(dir, reportSkippedEntry);
  if (images.length === 0) throw new NpadInputError(`${dir}: no images (png, jpg, tif, bmp) in this folder or its subfolders to fit on`, dir);
  return images;
}

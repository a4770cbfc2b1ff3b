/** Where `npad fit` finds its nominal images: an MVTec root (its train/good) or a plain folder of images. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { caseHint, listImages } from '../data/mvtec.js';
import { NpadInputError } from '../errors.js';

export async function findTrainImages(dir: string): Promise<string[]> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new NpadInputError(`${dir}: not a folder`, dir);
  const good = path.join(dir, 'train', 'good');
  const hasMvtecLayout = (await stat(good).catch(() => null))?.isDirectory() ?? false;
  const images = await listImages(hasMvtecLayout ? good : dir);
  const hint = hasMvtecLayout ? '' : await caseHint(dir, ['train', 'good']);
  if (images.length === 0) throw new NpadInputError(`${hasMvtecLayout ? good : dir}: no images (png, jpg, tif, bmp) to fit on${hint}`, dir);
  return images;
}

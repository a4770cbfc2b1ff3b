/**
 * Where `npad fit` finds its nominal images: an MVTec root (its train/good) or a folder of images, subfolders
 * included (as `npad predict` searches them).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { caseHint, imagesUnder } from '../data/mvtec.js';
import { NpadInputError } from '../errors.js';

export async function findTrainImages(dir: string): Promise<string[]> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new NpadInputError(`${dir}: not a folder`, dir);
  const good = path.join(dir, 'train', 'good');
  const hasMvtecLayout = (await stat(good).catch(() => null))?.isDirectory() ?? false;
  const images = await imagesUnder(hasMvtecLayout ? good : dir);
  const hint = hasMvtecLayout ? '' : await caseHint(dir, ['train', 'good']);
  if (images.length === 0) throw new NpadInputError(`${hasMvtecLayout ? good : dir}: no images (png, jpg, tif, bmp) in this folder or its subfolders to fit on${hint}`, dir);
  return images;
}

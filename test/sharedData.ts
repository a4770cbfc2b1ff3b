/**
 * Where the tests find the shared data (the `shared` folder beside the repository, which CI provides): the real
 * datasets and the backbone weights. Tests that need a folder skip where it is absent.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The shared data folder. */
export const SHARED = path.resolve(REPO, '..', 'shared');
/** MVTec AD bottle. */
export const BOTTLE = path.join(SHARED, 'datasets', 'mvtec_ad', 'bottle');
/** Magnetic Tile Defects. */
export const MTD = path.join(SHARED, 'datasets', 'mtd', 'magnetic_tile');
/** The default backbone's weights (NPAD_WEIGHTS_DIR when set, as the library reads them). */
export const WEIGHTS = process.env.NPAD_WEIGHTS_DIR ?? path.join(SHARED, 'models', 'resnet50-v2-imagenet');


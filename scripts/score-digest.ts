/**
 * Digests of what each method makes of a few bottle images, to check that a refactoring changes no figure to the
 * last bit: fits nine configurations (every method, N-pad's banks, shift spaces, channel rules) on 12 training
 * images, scores 6 test images, and prints each image score to 17 digits and a SHA-256 of the maps.
 *
 *   node --import tsx scripts/score-digest.ts save DIR    # also saves each model to DIR (from the old commit)
 *   node --import tsx scripts/score-digest.ts load DIR    # also loads those models and scores with them (new commit)
 *
 * Run it on both commits and diff the outputs: the `fit` lines must match, and each `loaded` line its `fit` line
 * (files saved in f16 excepted: PaDiM's is, to cover the widening path).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Detector, type DetectorConfigInput } from '../src/index.js';
import { packageRoot } from '../src/util/npadPackage.js';

const [mode, dir] = process.argv.slice(2);
if ((mode !== 'save' && mode !== 'load') || !dir) throw new Error('usage: score-digest.ts save|load DIR');
const root = path.join(packageRoot(), '..', 'shared', 'datasets', 'mvtec_ad', 'bottle');
const list = (d: string, n: number): string[] => readdirSync(path.join(root, d)).sort().slice(0, n).map((f) => path.join(root, d, f));
const train = list('train/good', 12);
const test = [...list('test/good', 2), ...list('test/broken_large', 2), ...list('test/contamination', 2)];
const small = { preprocess: { resize: 128, crop: 112 } };
const CONFIGS: Record<string, DetectorConfigInput> = {
  // The benchmark's crop, the default before the whole image was (so digests compare across that change).
  npadDefault: { preprocess: { resize: 256, crop: 224 } },
  npadWhole: {},
  npadTiles: { preprocess: { mode: 'whole', side: 112, tile: { size: 450, overlap: 56 } } },
  npadSmall: { ...small },
  npadPaper: { ...small, preset: 'paper' },
  npadImageShift: { ...small, options: { shiftSpace: 'image', shiftSteps: 'all' } },
  npadImageShiftKmeans: { ...small, options: { shiftSpace: 'image', bank: 'kmeans', imageScoreSource: 'centroid' } },
  npadRandomNoC: { ...small, options: { channelSelection: 'random', moduleC: false, trainRadius: 0 } },
  padim: { ...small, method: 'padim', options: { dim: 100 } },
  patchcore: { ...small, method: 'patchcore' },
  patchcoreReweight: { ...small, method: 'patchcore', options: { reweight: true, patchDistance: 'euclidean', coresetRatio: 0.05 } },
};

async function digest(d: Detector): Promise<string> {
  const h = createHash('sha256');
  const scores: number[] = [];
  await d.score(test, (_i, r) => {
    scores.push(r.score);
    h.update(Buffer.from(r.map.buffer, r.map.byteOffset, r.map.byteLength));
  });
  return `${scores.map((s) => s.toPrecision(17)).join(',')} maps ${h.digest('hex').slice(0, 16)}`;
}

mkdirSync(dir, { recursive: true });
for (const [name, config] of Object.entries(CONFIGS)) {
  const file = path.join(dir, `${name}.npad`);
  const fitted = await Detector.fit(train, config);
  console.log(`${name} fit: ${await digest(fitted)}`);
  if (mode === 'save') await fitted.save(file, { precision: name === 'padim' ? 'f16' : 'f32' });
  else if (existsSync(file)) console.log(`${name} loaded: ${await digest(await Detector.load(file))}`);
  else console.log(`${name}: no saved model to load`);
}

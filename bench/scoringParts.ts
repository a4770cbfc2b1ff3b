/**
 * Where a default N-pad model's scoring time goes, part by part, against the backbone alone: each part of
 * method/npad/score.ts timed on its own over the same batches of 16 test images (the second of two passes, so
 * graphs are built and memory is warm). The parts run one after another as scoring runs them, not overlapped.
 *
 *   node --import tsx bench/scoringParts.ts MODEL IMAGE_DIR [--images 48]
 *
 * MODEL: an N-pad model with the position-free bank (the default fit). Prints ms per image for each part.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FeatureExtractor } from '../src/backbone/featureExtractor.js';
import { Detector } from '../src/detector/detector.js';
import { loadImageBatch } from '../src/method/imageLoop.js';
import { squareNeighbourhoods } from '../src/method/npad/neighbourhood.js';
import { scoreFeatures } from '../src/method/npad/gridScores.js';
import { anomalyMaps } from '../src/method/parts/anomalyMap.js';
import { PATCH_STAGES } from '../src/method/parts/patchBank.js';
import { embedPatches } from '../src/method/parts/patchEmbedding.js';
import { inputShape } from '../src/image/preprocess.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { images: { type: 'string' } } });
const [modelPath, imageDir] = positionals;
if (!modelPath || !imageDir) throw new Error('usage: bench/scoringParts.ts MODEL IMAGE_DIR [--images 48]');
const detector = await Detector.load(modelPath);
const fitted = detector.fitted;
if (fitted.method !== 'npad' || !fitted.model.fusion) throw new Error(`${modelPath}: not an N-pad model with the position-free bank`);
const model = fitted.model;
const bank = model.fusion!;
const extractor = (detector as unknown as { extractor: FeatureExtractor }).extractor;
const o = model.settings.options;
const { height: H, width: W } = model.scoring;
const { width: inW, height: inH } = inputShape(model.settings.preprocess);
const hood = o.moduleC ? squareNeighbourhoods(H, W, o.inferenceRadius, o.neighbourhoodShape) : null;
const images = readdirSync(imageDir, { recursive: true, encoding: 'utf8' })
  .filter((f) => /\.(png|jpe?g|bmp)$/i.test(f))
  .sort()
  .slice(0, Number(values.images ?? 48))
  .map((f) => path.join(imageDir, f));

const parts = ['backbone alone', 'backbone, selection and patch stages', 'Gaussians (modules A–C)', 'maps', 'patch features', 'bank search'] as const;
const total = Object.fromEntries(parts.map((p) => [p, 0])) as Record<(typeof parts)[number], number>;
async function timed<T>(part: (typeof parts)[number], count: boolean, run: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await run();
  if (count) total[part] += performance.now() - t0;
  return result;
}
for (const pass of [0, 1]) {
  for (let i = 0; i < images.length; i += 16) {
    const batch = images.slice(i, i + 16);
    const B = batch.length;
    const inputs = await loadImageBatch(batch, model.settings.preprocess);
    const count = pass === 1;
    await timed('backbone alone', count, () => extractor.extractStages(inputs, B));
    const { features, stages } = await timed('backbone, selection and patch stages', count, () => extractor.extractWithStages(inputs, B, model.channels, PATCH_STAGES));
    const scores = await timed('Gaussians (modules A–C)', count, () => scoreFeatures(model.scoring, features, B, o, hood));
    await timed('maps', count, () => anomalyMaps(scores.pixel, B, 1, H, W, inH, inW, o.smoothingSigma, o.shiftAggregate));
    const patches = await timed('patch features', count, () => embedPatches(bank.shape, stages));
    await timed('bank search', count, () => bank.index.search(patches.data, B * patches.positions));
  }
}
console.log(`${modelPath}: ${images.length} images, ${bank.bankSize} bank members`);
for (const p of parts) console.log(`  ${p.padEnd(38)} ${(total[p] / images.length).toFixed(1)} ms per image`);

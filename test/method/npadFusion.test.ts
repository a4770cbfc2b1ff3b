/**
 * N-pad's position-free bank on real data: the scored map and image score are the documented fusion of the two parts,
 * and on unaligned parts (MTD tiles, a small subset so that it runs in CI) the defaults rank defective tiles above good
 * ones better than the paper's reading.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { FeatureExtractor } from '../../src/backbone/featureExtractor.js';
import { readMvtecDataset } from '../../src/data/mvtec.js';
import { auroc } from '../../src/metrics/index.js';
import { fuseStandardised, standardise } from '../../src/method/npad/mapFusion.js';
import { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS } from '../../src/method/npad/options.js';
import { maxOf } from '../../src/method/parts/anomalyMap.js';
import { fitNpad } from '../../src/method/npad/fit.js';
import { scoreNpad, scoreParts } from '../../src/method/npad/score.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { MTD } from '../sharedData.js';

const mtd = MTD;
const haveData = await stat(mtd).then(() => true, () => false);

test('on MTD tiles the position-free bank ranks defects better than the paper reading; map and score are the documented fusion', { skip: !haveData && 'shared MTD data not found' }, async () => {
  const data = await readMvtecDataset(mtd);
  const train = data.train.filter((_, i) => i % 25 === 0); // 31 good tiles, spread over the list
  const good = data.test.filter((t) => t.label === 0).filter((_, i) => i % 12 === 0);
  const bad = data.test.filter((t) => t.label === 1).filter((_, i) => i % 25 === 0);
  const test = [...good, ...bad];
  const labels = test.map((t) => t.label);
  const preprocess = { resize: 256, crop: 224 };
  const extractor = await FeatureExtractor.create(await loadBackbone({ kind: 'resnet50-v2' }), { upsample: 'nearest' }, { width: 224, height: 224 });
  const settings = (options: typeof DEFAULT_NPAD_OPTIONS) => ({ options: { ...options, dim: 64 }, preprocess, featureGrid: { upsample: 'nearest' as const }, batchSize: 8 });

  const fused = await fitNpad(train, extractor, settings(DEFAULT_NPAD_OPTIONS));
  const paper = await fitNpad(train, extractor, settings({ ...DEFAULT_NPAD_OPTIONS, ...NPAD_PRESETS.paper }));
  assert.ok(fused.fusion && fused.fusion.heldOut === 4, 'the fit holds 10 % of 31 images out (4)');
  assert.equal(paper.fusion, null);

  const scoresOf = async (model: typeof fused): Promise<{ scores: number[]; maps: Float32Array[] }> => {
    const out = { scores: [] as number[], maps: [] as Float32Array[] };
    await scoreNpad(model, extractor, test.map((t) => t.path), (i, r) => {
      out.scores[i] = r.score;
      out.maps[i] = r.map;
    });
    return out;
  };
  const [withBank, paperReading] = [await scoresOf(fused), await scoresOf(paper)];
  const [a, b] = [auroc(withBank.scores, labels), auroc(paperReading.scores, labels)];
  assert.ok(a > b + 0.05, `image AUROC with the bank ${a.toFixed(3)}, paper reading ${b.toFixed(3)}`);

  // The map is the mean of the parts in units of their nominal maxima; the score the larger of its peak and the bank's.
  const f = fused.fusion;
  await scoreParts(fused, f, extractor, test.slice(0, 3).map((t) => t.path), (i, parts) => {
    const map = fuseStandardised([parts.position.map, parts.bank!], [f.positionMaxima, f.bankMaxima]);
    assert.deepEqual(withBank.maps[i], map);
    assert.equal(withBank.scores[i], Math.max(maxOf(map), standardise(maxOf(parts.bank!), f.bankMaxima)));
  });
});

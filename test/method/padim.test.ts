/**
 * PaDiM on a few real bottle images: the map against a plain float64 computation of the method (per-position
 * covariance + εI, Mahalanobis distance, bilinear upsampling, Gaussian smoothing), and the detector's fit, save,
 * load and score round trip.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { FeatureExtractor } from '../../src/backbone/featureExtractor.js';
import { resolveConfig } from '../../src/detector/config.js';
import { Detector, validateConfig } from '../../src/detector/detector.js';
import { covarianceReference, invertReference, mahalanobisReference } from '../engine/reference.js';
import { gaussianSmooth, upsampleBilinear } from '../../src/method/parts/anomalyMap.js';
import { loadImageBatch } from '../../src/method/imageLoop.js';
import { padimChannels } from '../../src/method/padim/padim.js';
import { PythonRandom } from '../../src/util/pythonRandom.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { BOTTLE } from '../sharedData.js';

const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);
const skip = !haveData && 'shared bottle data not found';

async function trainImages(count: number): Promise<string[]> {
  const dir = path.join(bottle, 'train', 'good');
  return (await readdir(dir)).sort().slice(0, count).map((f) => path.join(dir, f));
}

describe('PaDiM', () => {
  it('fits, saves, loads and scores identically; the map is the float64 computation of the method', { skip }, async () => {
    const train = await trainImages(5);
    const probe = path.join(bottle, 'test', 'broken_small', '000.png');
    const preprocess = { resize: 72, crop: 64 }; // a 16×16 grid
    const detector = await Detector.fit(train, { method: 'padim', options: { dim: 6 }, preprocess, batchSize: 5 });
    assert.equal(detector.config.featureGrid.upsample, 'nearest', "the reference PaDiM's grid");
    if (detector.fitted.method !== 'padim') throw new Error(`fitted ${detector.fitted.method}`);
    const { channels, height, width } = detector.fitted.model;
    assert.deepEqual([channels.length, height, width], [6, 16, 16]);

    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'npad-padim-')), 'm.npad');
    await detector.save(file);
    const loaded = await Detector.load(file);
    assert.deepEqual(loaded.config, detector.config);
    const results: { score: number; map: Float32Array; width: number; height: number }[] = [];
    for (const d of [detector, loaded]) await d.score([probe], (_i, r) => void results.push(r));
    assert.deepEqual(results[1], results[0]);
    const { map, score } = results[0]!;
    assert.deepEqual([results[0]!.width, results[0]!.height], [64, 64]);
    assert.equal(score, Math.max(...map), 'image score = maximum of the map');

    // The same in plain float64 from the extractor's features.
    const backbone = await loadBackbone({ kind: 'resnet50-v2' });
    const fx = await FeatureExtractor.create(backbone, { upsample: 'nearest' }, { width: 64, height: 64 });
    const d = 6;
    const P = 256;
    const nominal = await fx.extract(await loadImageBatch(train, preprocess), 5, channels);
    const test = await fx.extract(await loadImageBatch([probe], preprocess), 1, channels);
    const distances = new Float64Array(P);
    for (let p = 0; p < P; p++) {
      const samples = Float64Array.from({ length: 5 * d }, (_, i) => nominal[(Math.floor(i / d) * d + (i % d)) * P + p]!);
      const { mean, cov } = covarianceReference(samples, 5, d);
      for (let c = 0; c < d; c++) cov[c * d + c]! += 0.01;
      const x = Float64Array.from({ length: d }, (_, c) => test[c * P + p]!);
      distances[p] = Math.sqrt(mahalanobisReference(x, mean, invertReference(cov, d), d));
    }
    const want = gaussianSmooth(upsampleBilinear(distances, 16, 16, 64, 64), 64, 64, 4);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(map[i]! - want[i]!) / want[i]!);
    assert.ok(worst < 1e-4, `largest relative difference ${worst}`);
  });

  it('draws the reference implementation’s channels (Python random.seed + random.sample)', () => {
    // SHA-256 prefixes of str(random.sample(range(n), k)) after random.seed(seed), printed by CPython 3.11.
    const python: [number, number, number, string][] = [
      [1024, 1792, 100, 'dad9fb0f6617b94e'],
      [1024, 1792, 550, '0819da5cb1d0cb15'],
      [0, 448, 100, 'b7280f510396624d'],
      [7, 10, 10, '8528da8b18385a8e'],
      [2 ** 40 + 5, 100000, 3, 'ce1642305022fa81'],
    ];
    for (const [seed, n, k, digest] of python) {
      const drawn = new PythonRandom(seed).sample(n, k);
      assert.equal(createHash('sha256').update(`[${drawn.join(', ')}]`).digest('hex').slice(0, 16), digest, `seed ${seed}, sample(range(${n}), ${k})`);
    }
    assert.deepEqual([...new PythonRandom(1024).sample(1792, 100).slice(0, 4)], [1632, 39, 990, 1740]);
    const channels = padimChannels(100, 1792, 1024);
    assert.deepEqual([...channels.slice(0, 5)], [6, 39, 43, 44, 48]);
    assert.throws(() => padimChannels(2000, 1792, 1024), /dim = 2000 exceeds/);
  });

  it('names bad options', () => {
    assert.throws(() => validateConfig(resolveConfig({ method: 'padim', options: { dim: 0 } })), /option dim must be an integer ≥ 1, got 0/);
    assert.throws(() => validateConfig(resolveConfig({ method: 'padim', options: { epsilon: -1 } })), /epsilon must be ≥ 0, got -1/);
    const wrongMethod = { method: 'padim', options: { coresetRatio: 0.1 } } as unknown as Parameters<typeof resolveConfig>[0];
    assert.throws(() => validateConfig(resolveConfig(wrongMethod)), /option coresetRatio does not apply to method padim/);
    assert.deepEqual(resolveConfig({ method: 'padim' }).options, { dim: 550, seed: 1024, epsilon: 0.01, smoothingSigma: 4 });
  });
});

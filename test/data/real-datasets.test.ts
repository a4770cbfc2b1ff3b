/**
 * Smoke test on the real datasets in shared/ (next to the repository). Skipped
 * where they are not present.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readMvtecDataset } from '../../src/data/mvtec.js';
import { decodeRgb } from '../../src/image/decode.js';
import { loadMask } from '../../src/image/mask.js';
import { imageSourceSize as imageSize } from '../../src/image/source.js';
import { BENCHMARK_PREPROCESS, loadImageTensor } from '../../src/image/preprocess.js';

const datasets = fileURLToPath(new URL('../../../shared/datasets/', import.meta.url));

const CASES = [
  // MVTec AD bottle, as stored here: 256×256 RGB PNG.
  { name: 'MVTec AD bottle', root: join(datasets, 'mvtec_ad/bottle'), channelsDiffer: true },
  // MTD magnetic tile: grey JPEG of varying sizes, grey PNG masks with soft edges.
  { name: 'MTD magnetic_tile', root: join(datasets, 'mtd/magnetic_tile'), channelsDiffer: false },
];

describe('real datasets', () => {
  for (const c of CASES) {
    it(`${c.name}: reads the layout and loads an image with its mask`, { skip: !existsSync(c.root) && `${c.root} not present` }, async () => {
      const ds = await readMvtecDataset(c.root);
      assert.ok(ds.train.length > 0);
      assert.ok(ds.test.some((t) => t.label === 0));
      const defective = ds.test.find((t) => t.label === 1);
      assert.ok(defective?.maskPath);

      const img = await decodeRgb(defective.path);
      assert.equal(img.data.length, img.width * img.height * 3);
      // Grey JPEGs come out with R = G = B; the bottle is in colour.
      let differs = false;
      for (let i = 0; i < img.data.length && !differs; i += 3) differs = img.data[i] !== img.data[i + 1];
      assert.equal(differs, c.channelsDiffer);

      const tensor = await loadImageTensor(defective.path, BENCHMARK_PREPROCESS);
      assert.equal(tensor.length, 3 * 224 * 224);
      assert.ok(tensor.every(Number.isFinite));

      const size = await imageSize(defective.path);
      assert.deepEqual(size, { width: img.width, height: img.height });
      const mask = await loadMask(defective.maskPath, BENCHMARK_PREPROCESS, size);
      assert.equal(mask.length, 224 * 224);
      const defectPixels = mask.reduce((a, b) => a + b, 0);
      assert.ok(defectPixels > 0 && defectPixels < mask.length, `${defectPixels} defect pixels`);
    });
  }
});

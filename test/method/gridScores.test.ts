import test from 'node:test';
import assert from 'node:assert/strict';
import { topIndices } from '../../src/method/npad/gridScores.js';
import { seededRandom } from '../../src/util/random.js';

test('top-k indices equal a full sort, ties to the lower index, at an offset', () => {
  const random = seededRandom(11);
  for (let t = 0; t < 500; t++) {
    const n = 1 + Math.floor(random() * 50);
    const k = 1 + Math.floor(random() * 12);
    // Few distinct values, so ties are common.
    const x = Float32Array.from({ length: n + 3 }, () => Math.floor(random() * 6));
    const sorted = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[3 + b]! - x[3 + a]! || a - b);
    assert.deepEqual(Array.from(topIndices(x, 3, n, k)), sorted.slice(0, Math.min(k, n)), `n ${n} k ${k}`);
  }
});

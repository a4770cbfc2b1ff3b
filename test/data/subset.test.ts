import test from 'node:test';
import assert from 'node:assert/strict';
import { trainSubset } from '../../src/data/subset.js';
import { NpadInputError } from '../../src/errors.js';

test('few-shot subsets are reproducible, distinct and in the original order', () => {
  const paths = Array.from({ length: 20 }, (_, i) => `img${String(i).padStart(2, '0')}.png`);
  const a = trainSubset(paths, 5);
  assert.deepEqual(a, trainSubset(paths, 5));
  assert.equal(new Set(a).size, 5);
  assert.deepEqual(a, [...a].sort());
  assert.notDeepEqual(a, trainSubset(paths, 5, 1));
  assert.deepEqual(trainSubset(paths, 20), paths);
});

test('impossible subsets are refused with the numbers', () => {
  assert.throws(() => trainSubset(['a.png'], 2), (e: unknown) => e instanceof NpadInputError && /only 1 training images/.test(e.message));
  assert.throws(() => trainSubset(['a.png'], 0), /positive integer/);
});

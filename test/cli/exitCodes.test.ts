/**
 * Exit codes that tell the truth: the caller's mistakes (NpadInputError, NpadConfigError, malformed flags) are a
 * message and exit 2; anything else, an internal RangeError included, is a bug: exit 1 with its stack.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import { isUserError } from '../../src/cli/commands.js';
import { resolveConfig } from '../../src/detector/config.js';
import { validateConfig } from '../../src/detector/detector.js';
import { NpadConfigError, NpadInputError } from '../../src/errors.js';
import { nominalMaxima } from '../../src/method/npad/mapFusion.js';
import { bottle, haveData, runNpad } from './helpers.js';
import { fusionSplit } from '../../src/method/npad/fit.js';

test('user mistakes are told apart from bugs', () => {
  assert.ok(isUserError(new NpadInputError('a.png: not an image', 'a.png')));
  assert.ok(isUserError(new NpadConfigError('option dim must be an integer ≥ 1, got 0')));
  let parseError: unknown = null;
  try {
    parseArgs({ args: ['--no-such-flag'], options: {}, strict: true });
  } catch (e) {
    parseError = e;
  }
  assert.ok(isUserError(parseError), 'a malformed flag');
  // Internal checks and V8's own failures are RangeErrors too, and bugs.
  assert.equal(isUserError(new RangeError('coreset size 0 must be an integer in [1, 5]')), false);
  let allocation: unknown = null;
  try {
    new ArrayBuffer(2 ** 53);
  } catch (e) {
    allocation = e;
  }
  assert.ok(allocation instanceof RangeError);
  assert.equal(isUserError(allocation), false, "V8's allocation failure");
  assert.equal(isUserError(new TypeError('x is undefined')), false);
});

test('configuration mistakes throw NpadConfigError (still a RangeError for callers that catch those); internal checks do not', () => {
  assert.throws(() => validateConfig(resolveConfig({ options: { dim: 0 } })), NpadConfigError);
  assert.throws(() => validateConfig(resolveConfig({ method: 'patchcore', options: { coresetRatio: 2 } })), NpadConfigError);
  assert.throws(() => validateConfig(resolveConfig({ options: { bank: 'both' as 'kmeans' } })), NpadConfigError);
  assert.throws(() => fusionSplit(['a', 'b'], 0.1), NpadConfigError);
  assert.ok(new NpadConfigError('x') instanceof RangeError);
  assert.throws(() => nominalMaxima([1]), (e: unknown) => e instanceof RangeError && !(e instanceof NpadConfigError));
});

test('npad exits 2 with one line for a bad option value, and names the option', { skip: !haveData && 'shared bottle data not found' }, () => {
  const r = runNpad(['fit', bottle, '--out', 'never-written.npad', '--train-subset', '5', '--set', 'bankRatio=2']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^npad: .*bankRatio/m);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
});

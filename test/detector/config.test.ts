/** Configurations through the method registry: every method resolves and validates; mistakes are NpadConfigErrors. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, type DetectorConfigInput } from '../../src/detector/config.js';
import { validateConfig } from '../../src/detector/detector.js';
import { NpadConfigError } from '../../src/errors.js';
import { METHODS, METHOD_DEFINITIONS } from '../../src/method/registry.js';
import { checkStatisticsDim } from '../../src/method/parts/memoryParts.js';

test('every registered method resolves to its defaults, its own feature grid, and validates; its presets too', () => {
  for (const method of METHODS) {
    const config = resolveConfig({ method } as DetectorConfigInput);
    const definition = METHOD_DEFINITIONS[method];
    assert.deepEqual(config.options, definition.defaults, method);
    assert.deepEqual(config.featureGrid, definition.featureGrid, method);
    validateConfig(config);
    for (const preset of Object.keys(definition.presets)) validateConfig(resolveConfig({ method, preset } as DetectorConfigInput));
  }
  assert.equal(resolveConfig().method, 'npad', 'N-pad without a method');
});

test('an unknown method, preset or option key is an NpadConfigError naming it', () => {
  const refused = (input: unknown, pattern: RegExp): void => {
    assert.throws(
      () => validateConfig(resolveConfig(input as DetectorConfigInput)),
      (e: unknown) => e instanceof NpadConfigError && pattern.test(e.message),
    );
  };
  refused({ method: 'foo' }, /^method must be one of npad, padim, patchcore; got foo$/);
  refused({ preset: 'nope' }, /^preset must be one of paper, .*; got nope$/);
  refused({ method: 'padim', preset: 'paper' }, /method padim has no presets/);
  refused({ method: 'padim', options: { coresetRatio: 0.1 } }, /^option coresetRatio does not apply to method padim/);
  refused({ options: { bankRatio: 2 } }, /^option bankRatio must be in \(0, 1\], got 2$/);
  refused({ method: 'patchcore', options: { patchSize: 99 } }, /^option patchSize must be at most 15, got 99$/);
  // Values a hand-edited model file could ask for, each bounded (issue 17).
  refused({ options: { topK: 1e9 } }, /^option topK must be at most 65536, got 1000000000$/);
  refused({ options: { shiftMax: 1_000_000, shiftSpace: 'image', shiftSteps: 'all' } }, /^option shiftMax must be at most 64, got 1000000$/);
  assert.throws(() => validateConfig(resolveConfig({ preprocess: { resize: 3072, crop: 3072 } })), /^Error: resize must be at most 1024 px, got 3072|resize must be at most 1024 px, got 3072/);
});

test('a channel count no machine could fit is refused with the largest that fits: the backbone\'s channels, one array\'s 2^32 values', () => {
  const geometry = { channels: 1792, gridHeight: 56, gridWidth: 56, patchHeight: 28, patchWidth: 28 };
  checkStatisticsDim(550, geometry);
  assert.throws(() => checkStatisticsDim(100_000, geometry), /^NpadConfigError: option dim = 100000 exceeds the backbone's 1792 channels$/);
  assert.throws(() => checkStatisticsDim(1700, geometry), (e: unknown) => e instanceof NpadConfigError && /needs per-position statistics of \d+ values at this 56×56 grid, more than one array may hold \(2\^32\); at most dim = 1654 here$/.test(e.message));
  checkStatisticsDim(1654, geometry); // 3136 × 1654·1655/2 = 4 292 347 920 values: just fits
});

/**
 * `--method` and the per-method options of `npad fit` / `npad eval`: parsing, the messages for options that do
 * not belong to the method, and one end-to-end PatchCore fit → eval through the command.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromFlags } from '../../src/cli/configFlags.js';
import { resolveConfig } from '../../src/detector/config.js';
import { validateConfig } from '../../src/detector/detector.js';
import { NpadInputError } from '../../src/errors.js';
import { BOTTLE } from '../sharedData.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bottle = BOTTLE;
const haveData = await stat(bottle).then(() => true, () => false);

describe('--method flag', () => {
  it('defaults to N-pad, as before', () => {
    const input = configFromFlags({ dim: '24', set: ['moduleD=false'], preset: 'exper5' });
    assert.equal(input.method, undefined);
    const config = resolveConfig(input);
    assert.equal(config.method, 'npad');
    if (config.method !== 'npad') return;
    assert.deepEqual([config.options.dim, config.options.moduleD, config.options.moduleB], [24, false, true]);
  });

  it('selects PaDiM with --dim and its own --set options', () => {
    const config = resolveConfig(configFromFlags({ method: 'padim', dim: '100', set: ['seed=7', 'epsilon=0.05'] }));
    assert.equal(config.method, 'padim');
    assert.deepEqual(config.options, { dim: 100, seed: 7, epsilon: 0.05, smoothingSigma: 4 });
    assert.equal(config.featureGrid.upsample, 'nearest');
    validateConfig(config);
  });

  it('selects PatchCore with typed --set values', () => {
    const config = resolveConfig(configFromFlags({ method: 'patchcore', set: ['coresetRatio=0.01', 'reweight=true', 'patchDistance=euclidean'] }));
    assert.equal(config.method, 'patchcore');
    if (config.method !== 'patchcore') return;
    assert.deepEqual([config.options.coresetRatio, config.options.reweight, config.options.patchDistance], [0.01, true, 'euclidean']);
    assert.equal(config.featureGrid.upsample, 'bilinear', "PatchCore's default grid");
    assert.equal(resolveConfig(configFromFlags({ method: 'patchcore', upsample: 'nearest' })).featureGrid.upsample, 'nearest');
    validateConfig(config);
  });

  it('names what does not fit the method', () => {
    const fails = (flags: Parameters<typeof configFromFlags>[0], pattern: RegExp): void => {
      assert.throws(() => configFromFlags(flags), (e: unknown) => e instanceof NpadInputError && pattern.test(e.message));
    };
    fails({ method: 'padimm' }, /--method: expected one of npad, padim, patchcore, got 'padimm'/);
    fails({ method: 'patchcore', dim: '100' }, /--dim: method patchcore has no channel count/);
    fails({ method: 'padim', set: ['coresetRatio=0.1'] }, /--set 'coresetRatio=0.1': .*options of padim/);
    fails({ method: 'patchcore', set: ['moduleD=false'] }, /--set 'moduleD=false': .*coresetRatio.*options of patchcore/);
    fails({ method: 'patchcore', set: ['coresetRatio=lots'] }, /--set coresetRatio: expected a number, got 'lots'/);
    fails({ method: 'patchcore', set: ['reweight=yes'] }, /--set reweight: expected true or false, got 'yes'/);
    fails({ method: 'padim', preset: 'exper1' }, /--preset: .*method padim has none/);
    // Values of the right type but out of range are named by the configuration check.
    assert.throws(() => validateConfig(resolveConfig(configFromFlags({ method: 'patchcore', set: ['coresetRatio=2'] }))), /coresetRatio must be in \(0, 1\], got 2/);
  });
});

describe('npad fit / eval --method patchcore', () => {
  it('fits, saves and evaluates from the command line', { skip: !haveData && 'shared bottle data not found' }, async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'npad-method-'));
    for (const [from, count] of [['train/good', 4], ['test/good', 2], ['test/broken_large', 2], ['ground_truth/broken_large', 2]] as const) {
      await mkdir(path.join(root, from), { recursive: true });
      for (const f of (await readdir(path.join(bottle, from))).sort().slice(0, count)) await copyFile(path.join(bottle, from, f), path.join(root, from, f));
    }
    const npad = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'src', 'cli', 'main.ts'), ...args], { cwd: repo, encoding: 'utf8' });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const model = path.join(root, 'pc.npad');
    const small = ['--resize', '128', '--crop', '112', '--set', 'stageDim=64', '--set', 'embedDim=64', '--set', 'coresetRatio=0.05', '--batch-size', '4'];
    const fit = npad('fit', root, '--out', model, '--method', 'patchcore', ...small);
    assert.equal(fit.code, 0, fit.stderr);
    const json = path.join(root, 'metrics.json');
    const ev = npad('eval', root, '--model', model, '--json', json);
    assert.equal(ev.code, 0, ev.stderr);
    const report = JSON.parse(await readFile(json, 'utf8')) as { config: { method: string; options: { coresetRatio: number } }; pixel_auroc: number };
    assert.equal(report.config.method, 'patchcore');
    assert.equal(report.config.options.coresetRatio, 0.05);
    assert.ok(report.pixel_auroc > 0.8, `pixel AUROC ${report.pixel_auroc}`);
    const bad = npad('fit', root, '--out', path.join(root, 'x.npad'), '--method', 'padim', '--set', 'coresetRatio=0.1');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /options of padim/);
  });
});

it('input flags: the whole image by default, tiles with their default overlap, the crop by name or by its flags', () => {
  assert.deepEqual(resolveConfig(configFromFlags({})).preprocess, { mode: 'whole', side: 224, tile: null });
  assert.deepEqual(resolveConfig(configFromFlags({ 'input-side': '160', tile: '400' })).preprocess, { mode: 'whole', side: 160, tile: { size: 400, overlap: 50 } });
  assert.deepEqual(resolveConfig(configFromFlags({ tile: '400', 'tile-overlap': '0' })).preprocess, { mode: 'whole', side: 224, tile: { size: 400, overlap: 0 } });
  assert.deepEqual(resolveConfig(configFromFlags({ input: 'crop' })).preprocess, { mode: 'crop', resize: 256, crop: 224 });
  assert.deepEqual(resolveConfig(configFromFlags({ resize: '300' })).preprocess, { mode: 'crop', resize: 300, crop: 224 });
  assert.throws(() => configFromFlags({ input: 'crop', tile: '400' }), /--tile is for the whole image/);
  assert.throws(() => configFromFlags({ input: 'whole', crop: '200' }), /--crop is for --input crop/);
  assert.throws(() => configFromFlags({ 'tile-overlap': '8' }), /--tile-overlap needs --tile/);
  assert.throws(() => configFromFlags({ input: 'square' }), /--input: expected whole or crop/);
});

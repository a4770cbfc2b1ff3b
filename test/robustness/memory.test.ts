/**
 * The memory guard (src/detector/memoryEstimate.ts): the estimate against measured peaks, the budget (flag,
 * environment, cgroup, total memory), and the refusal with its suggestions, without allocating anything large.
 * The calibration table goes to docs/robustness.md.
 */
import { expectedInputShape } from '../../src/image/preprocess.js';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig, type DetectorConfigInput } from '../../src/detector/config.js';
import { Detector } from '../../src/detector/detector.js';
import {
  cgroupMemoryLimit,
  assumedGeometry,
  NpadMemoryError,
  checkFitMemory,
  estimateFitMemory,
  geometryOf,
  formatBytes,
  memoryBudget,
  parseMemorySize,
} from '../../src/detector/memoryEstimate.js';
import { NpadInputError } from '../../src/errors.js';
import { cliMessage } from '../../src/cli/userMessages.js';
import { table, writeSection } from './report.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A measured peak resident memory of a fit. */
interface Measurement {
  run: string;
  input: DetectorConfigInput;
  trainCount: number;
  peakMiB: number;
  /** where the figure comes from */
  source: string;
  /** measured before module A's statistics were freed early (add them to the estimate to compare) */
  earlierCode?: boolean;
}

/**
 * Peaks measured on the 2-core, 24 GiB development machine. "fit" rows: Detector.fit alone under tsx
 * (maxRSS), on the first N bottle images, this code (the d ≥ 384 rows since precision matrices are packed).
 * "eval" rows: `npad eval` processes (fit and scoring) of docs/results.md, run before module A's statistics were
 * released ahead of module B's inverses.
 */
const MEASURED: Measurement[] = [
  { run: 'N-pad d = 12, 16 images, batch 16 (paper preset)', input: { preset: 'paper', options: { dim: 12, maxCentroids: 16, kmeansSample: 1000, moduleD: false } }, trainCount: 16, peakMiB: 1152, source: 'fit' },
  { run: 'PaDiM d = 12, 16 images, batch 16', input: { method: 'padim', options: { dim: 12 } }, trainCount: 16, peakMiB: 581, source: 'fit' },
  { run: 'PatchCore 10 %, 32 images', input: { method: 'patchcore' }, trainCount: 32, peakMiB: 1363, source: 'fit' },
  { run: 'PatchCore 10 %, bottle (209 images)', input: { method: 'patchcore' }, trainCount: 209, peakMiB: 1764, source: 'fit' },
  { run: 'N-pad d = 300, module D off, 20 images (paper preset)', input: { preset: 'paper', options: { dim: 300, moduleD: false } }, trainCount: 20, peakMiB: 4302, source: 'fit' },
  { run: 'PaDiM d = 400, 20 images', input: { method: 'padim', options: { dim: 400 } }, trainCount: 20, peakMiB: 4115, source: 'fit' },
  { run: 'N-pad d = 550 (paper preset), bottle', input: { preset: 'paper', options: { dim: 550 } }, trainCount: 209, peakMiB: 11023, source: 'fit (bench/child.ts, huge pages)' },
  { run: 'PaDiM d = 550, bottle', input: { method: 'padim', options: { dim: 550 } }, trainCount: 209, peakMiB: 7263, source: 'fit (bench/child.ts, huge pages)' },
  { run: 'N-pad d = 200 (paper preset), bottle (209 images)', input: { preset: 'paper' }, trainCount: 209, peakMiB: 2621, source: 'fit' },
  { run: 'N-pad d = 200 (defaults: the position-free bank), bottle (209 images)', input: {}, trainCount: 209, peakMiB: 3733, source: 'fit (huge pages)' },
  { run: 'N-pad d = 200 (defaults: the position-free bank), MTD (761 images)', input: {}, trainCount: 761, peakMiB: 5379, source: 'eval (results/mtd.json, huge pages)' },
  { run: 'N-pad d = 200 (paper preset), bottle', input: { preset: 'paper' }, trainCount: 209, peakMiB: 2867, source: 'eval (results/bottle.json)', earlierCode: true },
  { run: 'N-pad d = 200 (paper preset), MTD', input: { preset: 'paper' }, trainCount: 761, peakMiB: 3231, source: 'eval (results/mtd.json)', earlierCode: true },
  { run: 'N-pad d = 200 (paper preset), MTD 256 without crop, module D off', input: { preset: 'paper', preprocess: { crop: null }, options: { moduleD: false } }, trainCount: 761, peakMiB: 3812, source: 'eval (results/mtd-nocrop.json)', earlierCode: true },
];

/** Module A's streaming statistics, which the earlier code kept until the end of the fit. */
function moduleAStatistics(input: DetectorConfigInput): number {
  const config = resolveConfig(input);
  if (config.method !== 'npad') return 0;
  const side = Math.ceil(expectedInputShape(config.preprocess).width / 4);
  const d = config.options.dim;
  return side * side * (12 * d + 4 * d * (d + 1));
}

const calibration: string[][] = [];
const refusals: string[][] = [];
after(async () => {
  await writeSection(
    'memory',
    [
      '## Memory guard',
      '',
      'Run by test/robustness/memory.test.ts. Before a fit, `Detector.fit` estimates the peak memory of the',
      'configuration (src/detector/memoryEstimate.ts: per module the streaming statistics P × (d + d(d+1)/2) float64',
      'and the Gaussians P × d² float32, P = (input / 4)² positions; PatchCore\'s patch features, training images ×',
      '(input / 8)² × embedDim float32, with their projection and the bank; a batch of backbone activations; the',
      'process baseline) and refuses one above the budget: the smaller of the total memory and the cgroup limit, less',
      'a 10 % margin (0.5–4 GiB), or `--memory-limit SIZE` / `NPAD_MEMORY_LIMIT`. On this machine the default budget',
      `is ${formatBytes(memoryBudget().bytes)} (${memoryBudget().source}).`,
      '',
      '### Estimate against measured peaks',
      '',
      '"fit": Detector.fit alone (peak RSS); "eval": an `npad eval` process of docs/results.md, measured before module',
      'A\'s statistics were freed ahead of module B\'s inverses, so its estimate adds them back (in brackets: the',
      'estimate for today\'s code). The test requires every estimate within 15 % of the measurement.',
      '',
      table(['run', 'measured', 'estimate', 'error', 'peak at'], calibration),
      '',
      '### Refusals',
      '',
      table(['configuration', 'budget', 'message'], refusals),
    ].join('\n'),
  );
});

describe('the estimate', () => {
  for (const m of MEASURED) {
    it(`is within 15 % of the measured peak: ${m.run}`, () => {
      const estimate = estimateFitMemory(resolveConfig(m.input), m.trainCount);
      const comparable = estimate.bytes + (m.earlierCode ? moduleAStatistics(m.input) : 0);
      const error = comparable / (m.peakMiB * MiB) - 1;
      calibration.push([
        `${m.run} (${m.source})`,
        formatBytes(m.peakMiB * MiB),
        m.earlierCode ? `${formatBytes(comparable)} (${formatBytes(estimate.bytes)})` : formatBytes(comparable),
        `${error >= 0 ? '+' : ''}${(100 * error).toFixed(0)} %`,
        estimate.phase,
      ]);
      assert.ok(Math.abs(error) <= 0.15, `estimate ${formatBytes(comparable)} vs measured ${m.peakMiB} MiB`);
    });
  }

  it('grows with d as d² and, for PatchCore, with the number of images', () => {
    const npad = (dim: number): number => estimateFitMemory(resolveConfig({ preset: 'paper', options: { dim } }), 200).bytes;
    // Both below d = 384, where precision matrices are stored whole (from there on packed, 0.625 · d²).
    assert.ok(npad(380) > npad(190) * 2.4);
    assert.ok(npad(384) < npad(383), 'packed precision matrices from d = 384 on');
    assert.equal(npad(200), estimateFitMemory(resolveConfig({ preset: 'paper', options: { dim: 200 } }), 2000).bytes, 'N-pad with the paper\'s bank does not grow with images');
    const fused = (n: number): number => estimateFitMemory(resolveConfig({}), n).bytes;
    assert.ok(fused(2000) - fused(1000) > 2.5 * GiB, 'the position-free bank holds the fitted images\' patch features until its coreset');
    const pc = (n: number): number => estimateFitMemory(resolveConfig({ method: 'patchcore' }), n).bytes;
    assert.ok(pc(2000) - pc(1000) > 3 * GiB, 'PatchCore holds every patch feature: 1000 images × 784 × 4 KiB');
  });

  it('reads the channels and grids of the loaded backbone, not the ResNet family\'s', () => {
    const loaded = geometryOf({ channels: 64, gridHeight: 28, gridWidth: 20 });
    assert.deepEqual(loaded, { channels: 64, gridHeight: 28, gridWidth: 20, patchHeight: 14, patchWidth: 10 });
    const config = resolveConfig({ preset: 'paper', options: { dim: 300 } });
    assert.deepEqual(assumedGeometry(config), { channels: 1792, gridHeight: 56, gridWidth: 56, patchHeight: 28, patchWidth: 28 });
    // d is capped at the backbone's 64 channels, on 560 instead of 3136 positions.
    const statistics = estimateFitMemory(config, 50, loaded).parts.find((p) => p.what.startsWith('module A statistics'));
    assert.equal(statistics?.what, 'module A statistics (560 positions × d = 64)');
    const patchcore = estimateFitMemory(resolveConfig({ method: 'patchcore' }), 10, loaded).parts.find((p) => p.what.startsWith('all '));
    assert.equal(patchcore?.what, 'all 1400 patch features (10 images × 14×10 × 1024)');
  });

  it('counts a module only when it is on', () => {
    const full = estimateFitMemory(resolveConfig({ options: { dim: 300 } }), 50).bytes;
    const aOnly = estimateFitMemory(resolveConfig({ preset: 'exper4', options: { dim: 300 } }), 50).bytes;
    assert.ok(aOnly < full * 0.8, `${formatBytes(aOnly)} vs ${formatBytes(full)}`);
  });
});

describe('the budget', () => {
  it('parses memory sizes and refuses others, naming the flag', () => {
    assert.equal(parseMemorySize('8G', '--memory-limit'), 8 * GiB);
    assert.equal(parseMemorySize('512M', 'x'), 512 * MiB);
    assert.equal(parseMemorySize('1.5GiB', 'x'), 1.5 * GiB);
    assert.equal(parseMemorySize(' 2 gb ', 'x'), 2 * GiB);
    assert.equal(parseMemorySize('4096', 'x'), 4096);
    for (const bad of ['', 'lots', '-1G', '0', '8X', '1e9']) {
      assert.throws(() => parseMemorySize(bad, '--memory-limit'), (e: unknown) => e instanceof NpadInputError && e.message.startsWith('--memory-limit: expected a memory size'));
    }
  });

  it('takes an explicit limit first, then NPAD_MEMORY_LIMIT, then the machine', () => {
    const saved = process.env.NPAD_MEMORY_LIMIT;
    try {
      process.env.NPAD_MEMORY_LIMIT = '3G';
      assert.deepEqual(memoryBudget(GiB), { bytes: GiB, source: 'the memory limit 1.0 GiB' });
      assert.deepEqual(memoryBudget(), { bytes: 3 * GiB, source: 'NPAD_MEMORY_LIMIT=3G' });
      process.env.NPAD_MEMORY_LIMIT = 'plenty';
      assert.throws(() => memoryBudget(), /NPAD_MEMORY_LIMIT: expected a memory size/);
      delete process.env.NPAD_MEMORY_LIMIT;
      const machine = memoryBudget();
      const usable = Math.min(os.totalmem(), cgroupMemoryLimit() ?? Infinity);
      assert.ok(machine.bytes < usable && machine.bytes >= usable - 4 * GiB, machine.source);
      assert.match(machine.source, /(total memory|the cgroup limit) .* less a .* margin/);
    } finally {
      if (saved === undefined) delete process.env.NPAD_MEMORY_LIMIT;
      else process.env.NPAD_MEMORY_LIMIT = saved;
    }
  });

  it('reads cgroup v2 memory.max and v1 memory.limit_in_bytes, ignoring "max" and v1\'s "unlimited"', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'npad-cgroup-'));
    try {
      assert.equal(cgroupMemoryLimit(root), null);
      await writeFile(path.join(root, 'memory.max'), 'max\n');
      await mkdir(path.join(root, 'memory'));
      await writeFile(path.join(root, 'memory', 'memory.limit_in_bytes'), '9223372036854771712\n');
      assert.equal(cgroupMemoryLimit(root), null);
      await writeFile(path.join(root, 'memory.max'), `${6 * GiB}\n`);
      assert.equal(cgroupMemoryLimit(root), 6 * GiB);
      await writeFile(path.join(root, 'memory', 'memory.limit_in_bytes'), `${2 * GiB}\n`);
      assert.equal(cgroupMemoryLimit(root), 2 * GiB, 'the tighter limit wins');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('the refusal', () => {
  /** Runs checkFitMemory expecting a refusal; records and returns the message. */
  const refuse = (label: string, input: DetectorConfigInput, trainCount: number, limit: number): string => {
    let message = '';
    assert.throws(
      () => checkFitMemory(resolveConfig(input), trainCount, { memoryLimit: limit }),
      (e: unknown) => {
        // The library names options; the CLI words the same error with its flags.
        assert.ok(e instanceof NpadMemoryError && e instanceof NpadInputError);
        assert.ok(!/--/.test(e.message), e.message);
        for (const c of e.changes) if (typeof c.setting === 'object') assert.ok(e.message.includes(`${c.setting.option} ${c.value} (option ${c.setting.option})`), e.message);
        message = cliMessage(e);
        return true;
      },
    );
    assert.match(message, /^not enough memory: fitting .* needs about [\d.]+ [GM]iB \(at .*\), more than the [\d.]+ [GM]iB available/);
    refusals.push([label, formatBytes(limit), message]);
    return message;
  };

  it('suggests the largest d that fits (N-pad, PaDiM), and that d does fit', () => {
    for (const [label, input] of [
      ['N-pad d = 550', { options: { dim: 550 } }],
      ['PaDiM d = 550', { method: 'padim' }],
    ] as const) {
      const limit = 6 * GiB;
      const message = refuse(`${label}, 209 images`, input, 209, limit);
      const d = Number(/Would fit: dim (\d+) \(--dim \1\)/.exec(message)?.[1]);
      assert.ok(d > 100 && d < 550, message);
      const withDim = (dim: number): DetectorConfigInput => ({ ...input, options: { ...input.options, dim } }) as DetectorConfigInput;
      assert.doesNotThrow(() => checkFitMemory(resolveConfig(withDim(d)), 209, { memoryLimit: limit }));
      assert.throws(() => checkFitMemory(resolveConfig(withDim(d + 1)), 209, { memoryLimit: limit }), NpadInputError);
    }
  });

  it('suggests fewer training images, a smaller embedding or batch for PatchCore', () => {
    const message = refuse('PatchCore 10 %, 2000 images', { method: 'patchcore' }, 2000, 5 * GiB);
    assert.match(message, /Would fit: .*training images \(--train-subset \d+\)/);
    assert.match(message, /embedDim \d+ \(--set embedDim=\d+\)/);
    const ratio = refuse('PatchCore 25 %, 1200 images', { method: 'patchcore', options: { coresetRatio: 0.25 } }, 1200, 5.5 * GiB);
    assert.match(ratio, /coresetRatio 0\.01 \(--set coresetRatio=0\.01\)/);
  });

  it('says so when nothing smaller fits', () => {
    const message = refuse('PaDiM d = 100, budget below the process itself', { method: 'padim', options: { dim: 100 } }, 10, 300 * MiB);
    assert.match(message, /No smaller setting of this method fits/);
  });

  it('Detector.fit refuses before reading an image or loading the backbone', async () => {
    const started = performance.now();
    await assert.rejects(
      Detector.fit(['/nonexistent/000.png'], { options: { dim: 550 } }, undefined, { memoryLimit: 2 * GiB }),
      (e: unknown) => e instanceof NpadInputError && /^not enough memory/.test(e.message),
    );
    assert.ok(performance.now() - started < 1000, 'no work done');
  });
});

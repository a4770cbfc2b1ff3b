/**
 * ResNet50-v2 on the real weights. The pinned values were computed by the independent PyTorch implementation
 * (../shared/tools/reference_features.py, via `node --import tsx scripts/check-backbone.ts --pattern`) for the
 * deterministic input below, so this test pins correctness without needing PyTorch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureExtractor } from '../../src/backbone/featureExtractor.js';
import { encodeNpy } from '../../src/backbone/npy.js';
import { createSession, runFloat } from '../../src/onnx/session.js';
import { inputError, maxAbsDiff, resizeNearest } from './helpers.js';
import type { Backbone } from '../../src/backbone/types.js';
import { defaultWeightsDir, loadBackbone } from '../../src/backbone/load.js';
import { packageRoot } from '../../src/util/npadPackage.js';

const SIZE = 224;

/** Same formula as scripts/check-backbone.ts --pattern. */
function patternInput(): Float32Array {
  const x = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.01) + 0.5 * Math.cos(i * 0.0007);
  return x;
}

interface Pin {
  mean: number;
  rms: number;
  /** flat index of the maximum, and the maximum */
  max: [number, number];
  /** flat index and value of two non-zero elements */
  at: [[number, number], [number, number]];
}

// Printed by scripts/check-backbone.ts --pattern (PyTorch reference, float32).
const PINS: Record<'post-activation' | 'raw', [Pin, Pin, Pin]> = {
  'post-activation': [
    { mean: 0.08335120101789761, rms: 0.14264285121808862, max: [793407, 1.596123456954956], at: [[267605, 0.47156769037246704], [535210, 0.2754203677177429]] },
    { mean: 0.035647853575032806, rms: 0.09345180721168027, max: [157583, 0.9676814079284668], at: [[133802, 0.21655623614788055], [267623, 0.05410127341747284]] },
    { mean: 0.012145182410149407, rms: 0.039220451320827084, max: [92694, 0.5138199925422668], at: [[66901, 0.06874310970306396], [134469, 0.02500910684466362]] },
  ],
  raw: [
    { mean: -0.19171030999307798, rms: 0.4309230801415715, max: [537152, 1.4824283123016357], at: [[267605, 0.5459100604057312], [535210, 0.1819257140159607]] },
    { mean: -0.0945484697853851, rms: 0.2468619322677566, max: [154447, 1.2619324922561646], at: [[133802, 0.33567482233047485], [267604, -0.0435597226023674]] },
    { mean: -0.11285652089993062, rms: 0.20528639604101143, max: [176778, 1.2760499715805054], at: [[66901, 0.07737457752227783], [133802, 0.03148893266916275]] },
  ],
};

const EXPECTED_DIMS = [
  [1, 256, 56, 56],
  [1, 512, 28, 28],
  [1, 1024, 14, 14],
];

async function runStages(backbone: Backbone, input: Float32Array): Promise<{ data: Float32Array; dims: readonly number[] }[]> {
  const session = await createSession(backbone.buildStages());
  try {
    const r = await runFloat(session, { image: { data: input, dims: [1, 3, SIZE, SIZE] } }, ['stage1', 'stage2', 'stage3']);
    return [r.stage1!, r.stage2!, r.stage3!];
  } finally {
    await session.release();
  }
}

function checkPin(label: string, data: Float32Array, pin: Pin): void {
  let sum = 0;
  let sq = 0;
  let max = -Infinity;
  for (const v of data) {
    sum += v;
    sq += v * v;
    max = Math.max(max, v);
  }
  const near = (what: string, got: number, want: number): void =>
    assert.ok(Math.abs(got - want) <= 1e-4, `${label} ${what}: ${got} vs PyTorch ${want}`);
  near('mean', sum / data.length, pin.mean);
  near('rms', Math.sqrt(sq / data.length), pin.rms);
  near('max', max, pin.max[1]);
  near(`[${pin.max[0]}]`, data[pin.max[0]]!, pin.max[1]);
  for (const [i, v] of pin.at) near(`[${i}]`, data[i]!, v);
}

describe('ResNet50-v2 backbone', () => {
  const input = patternInput();
  let post: Backbone;
  let postStages: { data: Float32Array; dims: readonly number[] }[];

  before(async () => {
    post = await loadBackbone({ kind: 'resnet50-v2' });
    postStages = await runStages(post, input);
  });

  it('finds the default weights folder from the package root', () => {
    assert.equal(packageRoot(), join(import.meta.dirname, '..', '..'));
    assert.equal(defaultWeightsDir(), join(packageRoot(), '..', 'shared', 'models', 'resnet50-v2-imagenet'));
  });

  it('describes itself', () => {
    assert.equal(post.id, 'resnet50-v2-imagenet/post-activation');
    assert.deepEqual(post.stageChannels, [256, 512, 1024]);
    assert.match(post.weightsSha256, /^[0-9a-f]{64}$/);
  });

  it('gives post-activation stages of the documented shapes, equal to PyTorch', () => {
    postStages.forEach((s, i) => {
      assert.deepEqual(s.dims, EXPECTED_DIMS[i]);
      checkPin(`post-activation stage${i + 1}`, s.data, PINS['post-activation'][i]!);
      assert.ok(s.data.every((v) => v >= 0), 'post-activation features are ReLU outputs');
    });
  });

  it('gives raw stage sums equal to PyTorch', async () => {
    const raw = await loadBackbone({ kind: 'resnet50-v2', features: 'raw' });
    assert.equal(raw.id, 'resnet50-v2-imagenet/raw');
    assert.equal(raw.weightsSha256, post.weightsSha256);
    const stages = await runStages(raw, input);
    stages.forEach((s, i) => {
      assert.deepEqual(s.dims, EXPECTED_DIMS[i]);
      checkPin(`raw stage${i + 1}`, s.data, PINS.raw[i]!);
    });
  });

  it('makes a 1792 × 56 × 56 nearest-upsampled feature grid whose first stages equal the stage outputs', async () => {
    const fx = await FeatureExtractor.create(post, { upsample: 'nearest' }, { width: SIZE, height: SIZE });
    assert.equal(fx.channels, 1792);
    assert.equal(fx.gridHeight, 56);
    assert.equal(fx.gridWidth, 56);
    const feats = await fx.extract(input, 1);
    assert.equal(feats.length, 1792 * 56 * 56);
    const plane = 56 * 56;
    assert.ok(maxAbsDiff(feats.subarray(0, 256 * plane), postStages[0]!.data) < 1e-5);
    const up2 = resizeNearest({ data: postStages[1]!.data, dims: [1, 512, 28, 28] }, 56, 56);
    assert.ok(maxAbsDiff(feats.subarray(256 * plane, 768 * plane), up2.data) < 1e-5);
  });
});

describe('ResNet50-v2 weights folder errors', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'npad-rv2-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names a mis-shaped tensor file, a missing one and a missing folder', async () => {
    // Link the real tensors into a scratch folder, then spoil one.
    const src = defaultWeightsDir();
    for (const name of await readdir(src)) if (name.endsWith('.npy')) await symlink(join(src, name), join(dir, name));
    const bad = join(dir, 'resnetv24_stage2_conv4_weight.npy');
    await rm(bad);
    await writeFile(bad, encodeNpy([3, 2], new Float32Array(6)));
    const load = () => loadBackbone({ kind: 'resnet50-v2', weightsDir: dir });
    await assert.rejects(load(), inputError(bad, 'shape [3, 2], expected [128, 512, 1, 1]'));
    await rm(bad);
    await assert.rejects(load(), inputError(bad));
    await copyFile(join(src, 'resnetv24_stage2_conv4_weight.npy'), bad);
    const nowhere = join(dir, 'nowhere');
    await assert.rejects(loadBackbone({ kind: 'resnet50-v2', weightsDir: nowhere }), inputError(nowhere));
  });

  it('reads the folder from NPAD_WEIGHTS_DIR', async () => {
    const saved = process.env.NPAD_WEIGHTS_DIR;
    process.env.NPAD_WEIGHTS_DIR = join(dir, 'elsewhere');
    try {
      assert.equal(defaultWeightsDir(), join(dir, 'elsewhere'));
      await assert.rejects(loadBackbone({ kind: 'resnet50-v2' }), inputError(join(dir, 'elsewhere')));
    } finally {
      if (saved === undefined) delete process.env.NPAD_WEIGHTS_DIR;
      else process.env.NPAD_WEIGHTS_DIR = saved;
    }
  });
});

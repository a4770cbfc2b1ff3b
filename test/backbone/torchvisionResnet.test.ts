/**
 * torchvision-layout ResNets from synthetic `.safetensors` state dicts. Narrow versions of the architectures are
 * checked value by value against a plain-TypeScript forward pass (BatchNorms unfolded), on a 32 × 32 input;
 * full-shape ResNet-18 is checked for detection and output shapes; ResNet-50 / WRN-50-2 detection runs on
 * shape-only tensor maps (their real weights would make the test slow).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  TORCHVISION_ARCHS,
  type TorchvisionArchSpec,
  detectTorchvisionArch,
  loadTorchvisionResnet,
} from '../../src/backbone/torchvisionResnet.js';
import { FeatureExtractor } from '../../src/backbone/featureExtractor.js';
import { NpadInputError } from '../../src/errors.js';
import { createSession, runFloat } from '../../src/onnx/session.js';
import type { TensorEntry } from '../../src/tensorfile/safetensors.js';
import {
  type Tensor4,
  inputError,
  maxAbsDiff,
  referenceTorchvision,
  seededRandom,
  syntheticStateDict,
  uniform,
  writeStateDict,
} from './helpers.js';
import type { Backbone } from '../../src/backbone/types.js';
import { loadBackbone } from '../../src/backbone/load.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-tv-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runStages(backbone: Backbone, x: Tensor4): Promise<{ data: Float32Array; dims: readonly number[] }[]> {
  const session = await createSession(backbone.buildStages());
  try {
    const r = await runFloat(session, { image: x }, ['stage1', 'stage2', 'stage3']);
    return [r.stage1!, r.stage2!, r.stage3!];
  } finally {
    await session.release();
  }
}

/** Builds a narrow `spec` network from a synthetic file and compares it with the plain-TS forward pass. */
async function checkAgainstReference(name: string, spec: TorchvisionArchSpec, dtype: 'F32' | 'F16'): Promise<Backbone> {
  const sd = syntheticStateDict(spec, 7, dtype);
  const file = join(dir, `${name}.safetensors`);
  writeStateDict(file, sd, dtype);
  const backbone = await loadTorchvisionResnet(file, spec);
  const x: Tensor4 = { data: uniform(seededRandom(11), 2 * 3 * 32 * 32, -2, 2), dims: [2, 3, 32, 32] };
  const got = await runStages(backbone, x);
  const want = referenceTorchvision(sd, spec, x);
  got.forEach((g, i) => {
    assert.deepEqual(g.dims, want[i]!.dims, `${name} stage${i + 1} shape`);
    const scale = want[i]!.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(scale > 0.1, `${name} stage${i + 1} is not degenerate`);
    const diff = maxAbsDiff(g.data, want[i]!.data);
    assert.ok(diff <= 1e-4 * Math.max(1, scale), `${name} stage${i + 1}: max abs diff ${diff} (scale ${scale})`);
  });
  return backbone;
}

describe('torchvision ResNet graphs against a plain-TS reference', () => {
  it('BasicBlock network (with and without downsample), F32 weights', async () => {
    const spec: TorchvisionArchSpec = { block: 'basic', blocks: [2, 1, 1], stemChannels: 4, planes: [4, 8, 16], widthFactor: 1 };
    const bb = await checkAgainstReference('basic', spec, 'F32');
    assert.deepEqual(bb.stageChannels, [4, 8, 16]);
    assert.equal(bb.id, 'torchvision/custom');
  });

  it('Bottleneck network with width factor 2 (Wide-ResNet style), F16 weights', async () => {
    const spec: TorchvisionArchSpec = {
      block: 'bottleneck',
      blocks: [2, 1, 1],
      stemChannels: 4,
      planes: [2, 4, 8],
      widthFactor: 2,
    };
    const bb = await checkAgainstReference('bottleneck', spec, 'F16');
    assert.deepEqual(bb.stageChannels, [8, 16, 32]);
  });
});

describe('torchvision ResNet loading', () => {
  it('detects full-shape ResNet-18 and gives layer1..3 at strides 4/8/16', async () => {
    const file = join(dir, 'resnet18.safetensors');
    writeStateDict(file, syntheticStateDict(TORCHVISION_ARCHS.resnet18, 3, 'F16'), 'F16');
    const bb = await loadBackbone({ kind: 'torchvision', file });
    assert.equal(bb.id, 'torchvision/resnet18');
    assert.deepEqual(bb.stageChannels, [64, 128, 256]);
    assert.match(bb.weightsSha256, /^[0-9a-f]{64}$/);
    const out = await runStages(bb, { data: uniform(seededRandom(5), 3 * 64 * 64, -2, 2), dims: [1, 3, 64, 64] });
    assert.deepEqual(out.map((o) => o.dims), [[1, 64, 16, 16], [1, 128, 8, 8], [1, 256, 4, 4]]);
    assert.ok(out.every((o) => o.data.every((v) => v >= 0 && Number.isFinite(v))), 'layer outputs are post-ReLU');
  });

  it('declares its stage-1 grid (no trial run), the grid its graph gives at any input size', async () => {
    const file = join(dir, 'resnet18-grid.safetensors');
    writeStateDict(file, syntheticStateDict(TORCHVISION_ARCHS.resnet18, 3, 'F32'), 'F32');
    const bb = await loadBackbone({ kind: 'torchvision', file });
    for (const [width, height] of [[64, 64], [61, 50], [33, 97]] as const) {
      const probed = await FeatureExtractor.create({ ...bb, stageOneSide: undefined }, { upsample: 'nearest' }, { width, height });
      const declared = await FeatureExtractor.create(bb, { upsample: 'nearest' }, { width, height });
      assert.deepEqual([declared.gridHeight, declared.gridWidth], [probed.gridHeight, probed.gridWidth], `${width}×${height}`);
      const features = await declared.extract(new Float32Array(3 * width * height), 1);
      assert.equal(features.length, 448 * declared.gridHeight * declared.gridWidth);
    }
    // A declaration its graph disagrees with is a bug, caught at the first run.
    const wrong = await FeatureExtractor.create({ ...bb, stageOneSide: (side) => side / 2 }, { upsample: 'nearest' }, { width: 64, height: 64 });
    await assert.rejects(wrong.extract(new Float32Array(3 * 64 * 64), 1), /the feature grid is 16×16, not the 32×32 declared for 64×64 inputs/);
  });

  it('detects ResNet-50 and Wide-ResNet-50-2 from shapes, and rejects others', () => {
    const shapesOnly = (spec: TorchvisionArchSpec): Map<string, TensorEntry> => {
      // Shapes are all detection reads; the tiny data arrays keep this instant.
      const m = new Map<string, TensorEntry>();
      for (const [k, v] of syntheticShapes(spec)) m.set(k, { dtype: 'F32', shape: v, data: new Uint8Array(0) });
      return m;
    };
    assert.equal(detectTorchvisionArch(shapesOnly(TORCHVISION_ARCHS.resnet50), 'f'), 'resnet50');
    assert.equal(detectTorchvisionArch(shapesOnly(TORCHVISION_ARCHS.wide_resnet50_2), 'f'), 'wide_resnet50_2');
    assert.equal(detectTorchvisionArch(shapesOnly(TORCHVISION_ARCHS.resnet18), 'f'), 'resnet18');
    const r34 = shapesOnly({ ...TORCHVISION_ARCHS.resnet18, blocks: [3, 4, 6] });
    assert.throws(() => detectTorchvisionArch(r34, 'r34.safetensors'), inputError('r34.safetensors', 'ResNet-34'));
    const r101 = shapesOnly({ ...TORCHVISION_ARCHS.resnet50, blocks: [3, 4, 23] });
    assert.throws(() => detectTorchvisionArch(r101, 'f'), /ResNet-101/);
    assert.throws(() => detectTorchvisionArch(new Map(), 'empty.safetensors'), inputError('empty.safetensors', 'conv1.weight'));
  });

  it('names the file and key of a missing or mis-shaped tensor', async () => {
    const spec: TorchvisionArchSpec = { block: 'basic', blocks: [2, 1, 1], stemChannels: 4, planes: [4, 8, 16], widthFactor: 1 };
    const sd = syntheticStateDict(spec, 9);
    sd.delete('layer1.1.bn2.running_var');
    const missing = join(dir, 'missing.safetensors');
    writeStateDict(missing, sd);
    await assert.rejects(loadTorchvisionResnet(missing, spec), (e: unknown) => {
      assert.ok(e instanceof NpadInputError && e.file === missing);
      assert.ok(e.message.startsWith(missing) && e.message.includes('missing tensor layer1.1.bn2.running_var'), e.message);
      return true;
    });
    // A narrow network declared as ResNet-18: conv1.weight has 4 output channels, not 64.
    const narrow = join(dir, 'narrow.safetensors');
    writeStateDict(narrow, syntheticStateDict(spec, 9));
    await assert.rejects(
      loadBackbone({ kind: 'torchvision', file: narrow, arch: 'resnet18' }),
      inputError(narrow, 'conv1.weight has shape [4, 3, 7, 7], expected [64, 3, 7, 7]'),
    );
    const absent = join(dir, 'absent.safetensors');
    await assert.rejects(loadBackbone({ kind: 'torchvision', file: absent }), inputError(absent));
  });
});

/** Key → shape of a state dict for `spec`, without values. */
function syntheticShapes(spec: TorchvisionArchSpec): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const exp = spec.block === 'bottleneck' ? 4 : 1;
  shapes.set('conv1.weight', [spec.stemChannels, 3, 7, 7]);
  let inC = spec.stemChannels;
  spec.planes.forEach((planes, l) => {
    for (let b = 0; b < spec.blocks[l]!; b++) {
      const p = `layer${l + 1}.${b}`;
      const cin = b === 0 ? inC : planes * exp;
      const width = planes * spec.widthFactor;
      shapes.set(`${p}.conv1.weight`, spec.block === 'basic' ? [planes, cin, 3, 3] : [width, cin, 1, 1]);
      if (spec.block === 'bottleneck') shapes.set(`${p}.conv3.weight`, [planes * exp, width, 1, 1]);
    }
    inC = planes * exp;
  });
  return shapes;
}

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FeatureExtractor } from '../../src/backbone/featureExtractor.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { type Tensor4, emitPoolStages, inputError, maxAbsDiff, poolFeatures, seededRandom, uniform } from './helpers.js';
import { loadBackbone } from '../../src/backbone/load.js';
import { NpadInputError } from '../../src/errors.js';
import type { BackboneSpec } from '../../src/backbone/types.js';

let dir = '';
let model = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-onnxfile-'));
  // The pooling backbone as a user's model file: input "pixels", outputs o4/o8/o16 with undeclared channels.
  const g = new GraphBuilder('user-model');
  const x = g.input('pixels', 'float', ['N', 3, 'H', 'W']);
  emitPoolStages(g, x).forEach((v, i) => {
    const name = ['o4', 'o8', 'o16'][i]!;
    g.node('Identity', [v], {}, name);
    g.output(name, 'float', ['N', 'C', 'h', 'w']);
  });
  model = join(dir, 'tiny.onnx');
  await writeFile(model, g.build());
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ONNX-file backbone', () => {
  it('reads the input name and learns the channels', async () => {
    const bb = await loadBackbone({ kind: 'onnx', file: model, outputs: ['o4', 'o8', 'o16'] });
    assert.equal(bb.id, 'onnx/tiny.onnx');
    assert.equal(bb.inputName, 'pixels');
    assert.deepEqual(bb.stageChannels, [3, 6, 3]);
    assert.deepEqual(bb.stageOutputs, ['o4', 'o8', 'o16']);
    assert.equal(bb.buildStages(), resolve(model));
    assert.match(bb.weightsSha256, /^[0-9a-f]{64}$/);
  });

  it('feeds the feature extractor (stages model, then resize and concat)', async () => {
    const bb = await loadBackbone({ kind: 'onnx', file: model, outputs: ['o4', 'o8', 'o16'] });
    const fx = await FeatureExtractor.create(bb, { upsample: 'bilinear' }, { width: 32, height: 32 });
    assert.deepEqual([fx.channels, fx.gridHeight, fx.gridWidth], [12, 8, 8]);
    const x: Tensor4 = { data: uniform(seededRandom(8), 2 * 3 * 32 * 32, -1, 1), dims: [2, 3, 32, 32] };
    assert.ok(maxAbsDiff(await fx.extract(x.data, 2), poolFeatures(x, 'bilinear').data) < 1e-6);
    const sel = await fx.extract(x.data, 2, Int32Array.from([0, 5, 11]));
    assert.equal(sel.length, 2 * 3 * 64);
    const counts = await fx.countPositive(x.data, 2);
    assert.equal(counts.length, 12);
  });

  it('lists the outputs the file has when a name is wrong', async () => {
    const wrong = loadBackbone({ kind: 'onnx', file: model, outputs: ['o4', 'layer2', 'o16'] });
    await assert.rejects(wrong, inputError(model, 'no output named "layer2"', 'its outputs are "o4", "o8", "o16"'));
  });

  it('rejects a file that is not an ONNX model, and a model with two inputs', async () => {
    const junk = join(dir, 'junk.onnx');
    await writeFile(junk, 'not a model');
    await assert.rejects(loadBackbone({ kind: 'onnx', file: junk, outputs: ['a', 'b', 'c'] }), inputError(junk));
    const g = new GraphBuilder();
    const a = g.input('a', 'float', [1, 3, 8, 8]);
    const b = g.input('b', 'float', [1, 3, 8, 8]);
    g.node('Add', [a, b], {}, 'y');
    g.output('y', 'float', [1, 3, 8, 8]);
    const two = join(dir, 'two.onnx');
    await writeFile(two, g.build());
    await assert.rejects(loadBackbone({ kind: 'onnx', file: two, outputs: ['y', 'y', 'y'] }), inputError(two, 'one image input'));
  });
});

describe('backbone weights paths', () => {
  it('refuses a device, a FIFO or a folder as weights before reading it (a model file may name any path)', async () => {
    const specs: BackboneSpec[] = [
      { kind: 'onnx', file: '/dev/zero', outputs: ['a', 'b', 'c'] },
      { kind: 'torchvision', file: '/dev/zero' },
      { kind: 'onnx', file: tmpdir(), outputs: ['a', 'b', 'c'] },
    ];
    for (const spec of specs) {
      if (spec.kind === 'resnet50-v2') continue;
      await assert.rejects(loadBackbone(spec), (e: unknown) => e instanceof NpadInputError && /: not a regular file \(a folder, device or FIFO\)/.test(e.message), spec.file);
    }
  });
});

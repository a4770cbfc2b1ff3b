/**
 * The default backbone: GluonCV ResNet50-v2 trained on ImageNet-1k (ONNX model zoo `resnet50-v2-7`), stem and
 * stages 1–3, read from one `.npy` file per tensor (see the weights folder's README.md for origin and layout).
 *
 *     batchnorm0 → conv0 7×7/2 → batchnorm1 → relu → maxpool 3×3/2 → stage1 → stage2 → stage3
 *
 * Blocks are pre-activation BottleneckV2s, so a stage's output is an un-normalised residual sum. The next
 * block's first BatchNorm + ReLU turns it into post-activation features comparable to torchvision's layerN
 * outputs; which of the two suits a detector is a measured choice, hence {@link ResnetV2Features}.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { NpadInputError } from '../errors.js';
import type { GraphBuilder } from '../onnx/graph.js';
import type { Backbone, ResnetV2Features, StageNames } from './types.js';
import {
  type BatchNormParams,
  type ConvParams,
  batchNormAffine,
  emitAffine,
  emitBatchNorm,
  emitConv,
  emitRelu,
  emitStemMaxPool,
  resnetStageOneSide,
  foldBatchNorm,
  sameShape,
} from './layers.js';
import { parseNpy } from './npy.js';
import { stagesModel } from './stagesModel.js';
import { hashOfFiles, readFolder } from './weightsHash.js';

/** Which ResNet50-v2 stage outputs are features: the raw residual sums, or after the next BatchNorm + ReLU. */

/** Blocks per stage (stages 1–3 of ResNet-50). */
const BLOCKS = [3, 4, 6] as const;
/** Output channels of stages 1–3; a bottleneck's inner width is a quarter of that. */
const STAGE_CHANNELS = [256, 512, 1024] as const;
/** Output channels of the stem. */
const STEM_CHANNELS = 64;
/** File name prefix of every tensor. */
const PREFIX = 'resnetv24_';

/** The tensors of one pre-activation bottleneck block, BatchNorms before their convolutions. */
interface BlockV2 {
  /** BatchNorm + ReLU applied to the block input (feeds both branches). */
  preNorm: BatchNormParams;
  /** 1×1 reduce, with the following BatchNorm folded in. */
  reduce: ConvParams;
  /** 3×3 (carries the stride), with the following BatchNorm folded in. */
  spatial: ConvParams;
  /** 1×1 expand. */
  expand: ConvParams;
  /** 1×1 projection of the shortcut (first block of a stage only). */
  downsample?: ConvParams;
  stride: number;
}

/** All tensors the stem and stages 1–3 need, BatchNorms that follow a convolution already folded. */
interface ResnetV2Weights {
  inputNorm: BatchNormParams;
  stem: ConvParams;
  stages: BlockV2[][];
  /** The BatchNorms that turn stage 1, 2, 3 sums into post-activation features. */
  postNorms: [BatchNormParams, BatchNormParams, BatchNormParams];
}

/** The weights folder's tensors, from its files' bytes (read at once, {@link readFolder}), each shape checked. */
class NpyFolder {
  constructor(
    readonly dir: string,
    private readonly files: ReadonlyMap<string, Uint8Array>,
  ) {}

  /** Parses `resnetv24_<name>.npy` and checks its shape. */
  tensor(name: string, shape: readonly number[]): Float32Array {
    const base = `${PREFIX}${name}.npy`;
    const file = path.join(this.dir, base);
    const bytes = this.files.get(base);
    if (!bytes) throw new NpadInputError(`${file}: cannot read .npy file (no such file in the weights folder)`, file);
    const arr = parseNpy(bytes, file);
    if (!sameShape(arr.shape, shape)) {
      throw new NpadInputError(
        `${file}: tensor ${name} has shape [${arr.shape.join(', ')}], expected [${shape.join(', ')}]`,
        file,
      );
    }
    return arr.data;
  }

  batchNorm(name: string, channels: number): BatchNormParams {
    const [gamma, beta, mean, variance] = ['gamma', 'beta', 'running_mean', 'running_var'].map((p) => this.tensor(`${name}_${p}`, [channels]));
    return { gamma: gamma!, beta: beta!, mean: mean!, variance: variance! };
  }

  conv(name: string, out: number, inC: number, k: number): ConvParams {
    const dims = [out, inC, k, k] as const;
    return { weight: this.tensor(`${name}_weight`, dims), dims };
  }
}

/** Reads one stage's blocks, following the README's numbering of convolutions and BatchNorms. */
function readStage(f: NpyFolder, stage: number, inChannels: number): BlockV2[] {
  const out = STAGE_CHANNELS[stage - 1] as number;
  const width = out / 4;
  const p = `stage${stage}_`;
  const blocks: BlockV2[] = [];
  let conv = 0;
  for (let b = 0; b < (BLOCKS[stage - 1] as number); b++) {
    const inC = b === 0 ? inChannels : out;
    const stride = b === 0 && stage > 1 ? 2 : 1;
    const [preNorm, normB, normC] = [inC, width, width].map((channels, i) => f.batchNorm(`${p}batchnorm${3 * b + i}`, channels));
    const block: BlockV2 = {
      preNorm: preNorm!,
      reduce: foldBatchNorm(f.conv(`${p}conv${conv}`, width, inC, 1), normB!),
      spatial: foldBatchNorm(f.conv(`${p}conv${conv + 1}`, width, width, 3), normC!),
      expand: f.conv(`${p}conv${conv + 2}`, out, width, 1),
      stride,
    };
    // Every stage's first block projects its shortcut (stage 1's too: 64 → 256 channels).
    if (b === 0) block.downsample = f.conv(`${p}conv${conv + 3}`, out, inC, 1);
    conv += b === 0 ? 4 : 3;
    blocks.push(block);
  }
  return blocks;
}

/** Parses and validates all ResNet50-v2 tensors the stages need. */
function readWeights(f: NpyFolder): ResnetV2Weights {
  const inputNorm = f.batchNorm('batchnorm0', 3);
  const stemConv = f.conv('conv0', STEM_CHANNELS, 3, 7);
  const stem = foldBatchNorm(stemConv, f.batchNorm('batchnorm1', STEM_CHANNELS));
  const stages = [readStage(f, 1, STEM_CHANNELS), readStage(f, 2, STAGE_CHANNELS[0]), readStage(f, 3, STAGE_CHANNELS[1])];
  // The post-activation of stage s is the first BatchNorm of stage s+1 (stage 4's is kept for stage 3).
  const postNorms = [stages[1]![0]!.preNorm, stages[2]![0]!.preNorm, f.batchNorm('stage4_batchnorm0', STAGE_CHANNELS[2])] as [BatchNormParams, BatchNormParams, BatchNormParams];
  return { inputNorm, stem, stages, postNorms };
}

/**
 * Writes relu(bn(x)) with an ONNX BatchNormalization node rather than Mul + Add: onnxruntime keeps
 * BatchNormalization (+ ReLU) in its blocked NCHWc layout between convolutions, where a Mul + Add forces layout
 * conversions (measured: 8–10 % less CPU time per image).
 *
 * Memoised per (value, BatchNorm) because stage s's post-activation output and the pre-activation of stage s+1's
 * first block are the same computation: the graph computes it once.
 */
class PreActivations {
  private readonly memo = new Map<string, Map<BatchNormParams, string>>();
  constructor(private readonly g: GraphBuilder) {}

  of(x: string, bn: BatchNormParams): string {
    let byBn = this.memo.get(x);
    if (!byBn) this.memo.set(x, (byBn = new Map()));
    let y = byBn.get(bn);
    if (!y) {
      y = emitRelu(this.g, emitBatchNorm(this.g, x, bn));
      byBn.set(bn, y);
    }
    return y;
  }
}

function emitBlock(g: GraphBuilder, pre: PreActivations, x: string, block: BlockV2): string {
  const a = pre.of(x, block.preNorm);
  const shortcut = block.downsample ? emitConv(g, a, block.downsample, block.stride) : x;
  let h = emitRelu(g, emitConv(g, a, block.reduce, 1));
  h = emitRelu(g, emitConv(g, h, block.spatial, block.stride));
  h = emitConv(g, h, block.expand, 1);
  return g.node('Add', [h, shortcut]);
}

/** Writes the network into `g` from the ImageNet-normalised image `image`; returns the stage 1–3 features. */
function emitResnetV2(g: GraphBuilder, w: ResnetV2Weights, image: string, features: ResnetV2Features): StageNames {
  const pre = new PreActivations(g);
  // The input BatchNorm stays a Mul + Add: folded into conv0 it would also shift conv0's zero padding.
  const inNorm = batchNormAffine(w.inputNorm);
  let x = emitAffine(g, image, inNorm.scale, inNorm.shift);
  x = emitStemMaxPool(g, emitRelu(g, emitConv(g, x, w.stem, 2)));
  const outs: string[] = [];
  w.stages.forEach((blocks, s) => {
    for (const block of blocks) x = emitBlock(g, pre, x, block);
    outs.push(features === 'raw' ? x : pre.of(x, w.postNorms[s] as BatchNormParams));
  });
  return outs as unknown as StageNames;
}

/**
 * Loads ResNet50-v2 from `dir` (one `resnetv24_*.npy` per tensor) as a {@link Backbone} whose stages graph takes
 * `image` [B,3,H,W] (ImageNet-normalised RGB) and returns `stage1`, `stage2`, `stage3` at strides 4/8/16 with
 * 256/512/1024 channels.
 *
 * @param dir the weights folder
 * @param features raw stage sums or post-activation features (default post-activation)
 * @throws NpadInputError naming the file when a tensor is missing, unreadable or mis-shaped
 */
export async function loadResnetV2(dir: string, features: ResnetV2Features = 'post-activation'): Promise<Backbone> {
  // Each of the ~230 files is read once, all at once, then hashed and parsed from memory: read one after another,
  // and again for the hash, they took 260–360 ms of every load, nearly all of it waiting on file operations.
  const files = await readFolder(dir, await listNpy(dir));
  const weightsSha256 = hashOfFiles(files);
  const weights = readWeights(new NpyFolder(dir, files));
  const emitStages = (g: GraphBuilder, image: string): StageNames => emitResnetV2(g, weights, image, features);
  return {
    id: `resnet50-v2-imagenet/${features}`,
    weightsSha256,
    stageChannels: [...STAGE_CHANNELS],
    emitStages,
    stageOneSide: resnetStageOneSide,
    buildStages: () => stagesModel(emitStages),
  };
}

/** Names of the `.npy` files in the weights folder (a missing folder is the user's mistake). */
async function listNpy(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.npy')).sort();
  } catch (e) {
    throw new NpadInputError(`${dir}: cannot read the ResNet50-v2 weights folder (${(e as Error).message})`, dir);
  }
}

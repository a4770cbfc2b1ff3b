/**
 * torchvision-layout ResNets (ResNet-18, ResNet-50, Wide-ResNet-50-2; timm uses the same tensor names) read from a
 * `.safetensors` state dict, stem and layers 1–3, as ONNX graphs. Outputs are layer1..layer3 as torchvision
 * computes them (after the block's final ReLU), the features PaDiM and PatchCore were published with.
 *
 * Every BatchNorm follows a convolution here, so all of them fold into the convolutions: the graph is only
 * Conv, Relu, Add and one MaxPool.
 */
import { NpadConfigError, NpadInputError } from '../errors.js';
import type { GraphBuilder } from '../onnx/graph.js';
import { type TensorEntry, readSafetensorsFile, toFloat32 } from '../tensorfile/safetensors.js';
import type { Backbone, StageNames, TorchvisionArch } from './types.js';
import {
  type BatchNormParams,
  type ConvParams,
  emitConv,
  emitRelu,
  emitStemMaxPool,
  resnetStageOneSide,
  foldBatchNorm,
  sameShape,
} from './layers.js';
import { stagesModel } from './stagesModel.js';
import { hashFile } from './weightsHash.js';

/** The torchvision architectures npad supports. */

/** The shape of a torchvision ResNet's stem and layers 1–3. */
export interface TorchvisionArchSpec {
  /** BasicBlock (two 3×3 convolutions) or Bottleneck (1×1, 3×3, 1×1; stride on the 3×3 as torchvision ≥ 0.4). */
  block: 'basic' | 'bottleneck';
  /** Blocks in layers 1, 2 and 3. */
  blocks: [number, number, number];
  /** Output channels of the stem convolution. */
  stemChannels: number;
  /** `planes` of layers 1–3; a bottleneck outputs 4 × planes. */
  planes: [number, number, number];
  /** Bottleneck inner width ÷ planes (`width_per_group / 64`: 1, or 2 for Wide-ResNet-50-2). */
  widthFactor: number;
}

/** The supported architectures' shapes. */
export const TORCHVISION_ARCHS: Readonly<Record<TorchvisionArch, TorchvisionArchSpec>> = {
  resnet18: { block: 'basic', blocks: [2, 2, 2], stemChannels: 64, planes: [64, 128, 256], widthFactor: 1 },
  resnet50: { block: 'bottleneck', blocks: [3, 4, 6], stemChannels: 64, planes: [64, 128, 256], widthFactor: 1 },
  wide_resnet50_2: { block: 'bottleneck', blocks: [3, 4, 6], stemChannels: 64, planes: [64, 128, 256], widthFactor: 2 },
};

/** Channels of layers 1–3 of an architecture. */
export function torchvisionStageChannels(spec: TorchvisionArchSpec): [number, number, number] {
  const expansion = spec.block === 'bottleneck' ? 4 : 1;
  return spec.planes.map((p) => p * expansion) as [number, number, number];
}

/** One residual block with BatchNorms folded into their convolutions. */
interface Block {
  /** The main branch's convolutions in order; ReLU after each but the last. */
  convs: ConvParams[];
  /** Index in `convs` of the convolution carrying the stride. */
  strideAt: number;
  stride: number;
  /** Projection shortcut (1×1 convolution + BatchNorm), when shape changes. */
  downsample?: ConvParams;
}

/** Looks tensors up in a state dict, checking shapes; errors name the file and the key. */
class StateDict {
  constructor(
    readonly file: string,
    readonly tensors: Map<string, TensorEntry>,
  ) {}

  private fail(message: string): never {
    throw new NpadInputError(`${this.file}: ${message}`, this.file);
  }

  /** The tensor `key` as float32, which must have `shape`. */
  get(key: string, shape: readonly number[]): Float32Array {
    const t = this.tensors.get(key);
    if (!t) this.fail(`missing tensor ${key} (expected shape [${shape.join(', ')}])${this.keyHint()}`);
    if (!sameShape(t.shape, shape)) {
      this.fail(`tensor ${key} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') {
      this.fail(`tensor ${key} is ${t.dtype}; weights must be F32, F16 or BF16`);
    }
    return toFloat32(t);
  }

  conv(key: string, out: number, inC: number, k: number): ConvParams {
    const dims = [out, inC, k, k] as const;
    return { weight: this.get(key, dims), dims };
  }

  batchNorm(prefix: string, channels: number): BatchNormParams {
    return {
      gamma: this.get(`${prefix}.weight`, [channels]),
      beta: this.get(`${prefix}.bias`, [channels]),
      mean: this.get(`${prefix}.running_mean`, [channels]),
      variance: this.get(`${prefix}.running_var`, [channels]),
    };
  }

  /** A convolution followed by its BatchNorm, folded. */
  convBn(convKey: string, bnPrefix: string, out: number, inC: number, k: number): ConvParams {
    return foldBatchNorm(this.conv(convKey, out, inC, k), this.batchNorm(bnPrefix, out));
  }

  /** Shows a few keys the file does have, which reveals a prefix such as `model.` or `backbone.`. */
  private keyHint(): string {
    const keys = [...this.tensors.keys()];
    if (keys.length === 0) return '; the file has no tensors';
    return `; the file has ${keys.length} tensors, e.g. ${keys.slice(0, 4).join(', ')}`;
  }
}

/**
 * Detects the architecture from the tensors' names and shapes: Bottleneck blocks have `conv3`, and the inner width
 * of `layer1.0.conv1` is 64 for ResNet-50 and 128 for Wide-ResNet-50-2.
 *
 * @throws NpadInputError naming `file` when the state dict is not one of the supported ResNets
 */
export function detectTorchvisionArch(tensors: Map<string, TensorEntry>, file: string): TorchvisionArch {
  const fail = (problem: string): never => {
    throw new NpadInputError(`${file}: ${problem}`, file);
  };
  const first = tensors.get('layer1.0.conv1.weight');
  if (!tensors.has('conv1.weight') || !first) {
    const some = [...tensors.keys()].slice(0, 4).join(', ');
    const found = some || 'no tensors';
    return fail(`not a torchvision/timm ResNet state dict: no conv1.weight or layer1.0.conv1.weight (has ${found})`);
  }
  if (!tensors.has('layer1.0.conv3.weight')) {
    if (tensors.has('layer1.2.conv1.weight')) {
      fail('a BasicBlock ResNet deeper than ResNet-18 (e.g. ResNet-34) is not supported');
    }
    return 'resnet18';
  }
  if (tensors.has('layer3.6.conv1.weight')) {
    fail('a Bottleneck ResNet deeper than ResNet-50 (e.g. ResNet-101) is not supported');
  }
  const width = first.shape[0];
  if (width === 64) return 'resnet50';
  if (width === 128) return 'wide_resnet50_2';
  return fail(`unsupported Bottleneck width ${width} in layer1.0.conv1.weight (64: ResNet-50, 128: Wide-ResNet-50-2)`);
}

/** Reads one layer's blocks (torchvision's `_make_layer`). */
function readLayer(sd: StateDict, spec: TorchvisionArchSpec, layer: number, inChannels: number): Block[] {
  const planes = spec.planes[layer - 1] as number;
  const out = torchvisionStageChannels(spec)[layer - 1] as number;
  const n = spec.blocks[layer - 1] as number;
  if (sd.tensors.has(`layer${layer}.${n}.conv1.weight`)) {
    const extra = `layer${layer}.${n}.conv1.weight`;
    const problem = `layer${layer} has more than the architecture's ${n} blocks (${extra})`;
    throw new NpadInputError(`${sd.file}: ${problem}`, sd.file);
  }
  const blocks: Block[] = [];
  for (let b = 0; b < n; b++) {
    const p = `layer${layer}.${b}`;
    const inC = b === 0 ? inChannels : out;
    const stride = b === 0 && layer > 1 ? 2 : 1;
    const block: Block =
      spec.block === 'basic'
        ? basicBlock(sd, p, inC, planes, stride)
        : bottleneck(sd, p, inC, planes * spec.widthFactor, out, stride);
    // torchvision projects the shortcut exactly when the shape changes.
    if (stride !== 1 || inC !== out) {
      block.downsample = sd.convBn(`${p}.downsample.0.weight`, `${p}.downsample.1`, out, inC, 1);
    }
    blocks.push(block);
  }
  return blocks;
}

function basicBlock(sd: StateDict, p: string, inC: number, planes: number, stride: number): Block {
  return {
    convs: [
      sd.convBn(`${p}.conv1.weight`, `${p}.bn1`, planes, inC, 3),
      sd.convBn(`${p}.conv2.weight`, `${p}.bn2`, planes, planes, 3),
    ],
    strideAt: 0,
    stride,
  };
}

function bottleneck(sd: StateDict, p: string, inC: number, width: number, out: number, stride: number): Block {
  return {
    convs: [
      sd.convBn(`${p}.conv1.weight`, `${p}.bn1`, width, inC, 1),
      sd.convBn(`${p}.conv2.weight`, `${p}.bn2`, width, width, 3),
      sd.convBn(`${p}.conv3.weight`, `${p}.bn3`, out, width, 1),
    ],
    strideAt: 1,
    stride,
  };
}

function emitBlock(g: GraphBuilder, x: string, block: Block): string {
  let h = x;
  block.convs.forEach((conv, i) => {
    h = emitConv(g, h, conv, i === block.strideAt ? block.stride : 1);
    if (i < block.convs.length - 1) h = emitRelu(g, h);
  });
  const shortcut = block.downsample ? emitConv(g, x, block.downsample, block.stride) : x;
  return emitRelu(g, g.node('Add', [h, shortcut]));
}

/**
 * Reads the stem and layers 1–3 of `spec` from a state dict and returns the function that writes them into a graph.
 *
 * @throws NpadInputError naming `file` and the key of a missing or mis-shaped tensor
 */
export function torchvisionStages(
  tensors: Map<string, TensorEntry>,
  spec: TorchvisionArchSpec,
  file: string,
): (g: GraphBuilder, image: string) => StageNames {
  const sd = new StateDict(file, tensors);
  const stem = sd.convBn('conv1.weight', 'bn1', spec.stemChannels, 3, 7);
  const channels = torchvisionStageChannels(spec);
  const layers = [
    readLayer(sd, spec, 1, spec.stemChannels),
    readLayer(sd, spec, 2, channels[0]),
    readLayer(sd, spec, 3, channels[1]),
  ];
  return (g, image) => {
    let x = emitStemMaxPool(g, emitRelu(g, emitConv(g, image, stem, 2)));
    return layers.map((blocks) => {
      for (const block of blocks) x = emitBlock(g, x, block);
      return x;
    }) as StageNames;
  };
}

/**
 * Loads a torchvision/timm ResNet from a `.safetensors` state dict as a {@link Backbone} (input `image`
 * [B,3,H,W] ImageNet-normalised, outputs `stage1..3` = layer1..layer3).
 *
 * @param file the `.safetensors` file
 * @param arch the architecture, or a custom shape; detected from the tensors when omitted
 * @throws NpadInputError naming the file (and the key) when it is unreadable or not a matching ResNet
 */
export async function loadTorchvisionResnet(
  file: string,
  arch?: TorchvisionArch | TorchvisionArchSpec,
): Promise<Backbone> {
  const [{ tensors }, weightsSha256] = await Promise.all([
    readSafetensorsFile(file, 'ResNet weights file'),
    hashFile(file),
  ]);
  const name = typeof arch === 'object' ? 'custom' : (arch ?? detectTorchvisionArch(tensors, file));
  const spec: TorchvisionArchSpec | undefined =
    typeof arch === 'object' ? arch : TORCHVISION_ARCHS[name as TorchvisionArch];
  if (!spec) {
    const known = Object.keys(TORCHVISION_ARCHS).join(', ');
    throw new NpadConfigError(`unknown torchvision architecture ${String(arch)} (known: ${known})`);
  }
  const emitStages = torchvisionStages(tensors, spec, file);
  return {
    id: `torchvision/${name}`,
    weightsSha256,
    stageChannels: torchvisionStageChannels(spec),
    emitStages,
    stageOneSide: resnetStageOneSide,
    buildStages: () => stagesModel(emitStages),
  };
}

/**
 * What a backbone is to the rest of npad: the specification a configuration names (kind, weights) and the loaded
 * backbone the feature extractor builds its graphs from. Types only, so every backbone file can import them.
 */
import type { GraphBuilder } from '../onnx/graph.js';

/** Architectures of torchvision/timm ResNets npad reads from a `.safetensors` state dict. */
export type TorchvisionArch = 'resnet18' | 'resnet50' | 'wide_resnet50_2';

/** Which stage values of ResNet50-v2 are the features: after the next BatchNorm + ReLU, or the raw residual sums. */
export type ResnetV2Features = 'post-activation' | 'raw';

/** Which backbone to use and where its weights are. */
export type BackboneSpec =
  | {
      /** GluonCV ResNet50-v2 (ImageNet-1k), npad's default backbone. */
      kind: 'resnet50-v2';
      /**
       * Folder of `resnetv24_*.npy` tensors; default: env `NPAD_WEIGHTS_DIR`, else
       * `<package root>/../shared/models/resnet50-v2-imagenet`.
       */
      weightsDir?: string;
      /** Stage outputs after the next BatchNorm + ReLU (default), or the raw residual sums. */
      features?: ResnetV2Features;
    }
  | {
      /** A torchvision/timm-layout ResNet from a `.safetensors` state dict. */
      kind: 'torchvision';
      /** The `.safetensors` file (F32, F16 or BF16 weights). */
      file: string;
      /** The architecture; detected from the tensors' shapes when omitted. */
      arch?: TorchvisionArch;
    }
  | {
      /** Any ONNX feature extractor taking an ImageNet-normalised [B,3,S,S] float image. */
      kind: 'onnx';
      /** The `.onnx` file. */
      file: string;
      /** Names of its three feature outputs, finest first (stride 4/8/16 expected; any sizes work). */
      outputs: [string, string, string];
    };

/** Names of the three stage values (graph value names, or model output names). */
export type StageNames = [string, string, string];

/** A loaded backbone. */
export interface Backbone {
  /** What it is, e.g. `resnet50-v2-imagenet/post-activation`, `torchvision/wide_resnet50_2`, `onnx/model.onnx`. */
  id: string;
  /** SHA-256 (hex) over the weight files; for a folder, sorted file names and their bytes. */
  weightsSha256: string;
  /** Channels of stages 1, 2 and 3. */
  stageChannels: [number, number, number];
  /** The ONNX model producing stage1..3 (bytes, or the path of a model file). */
  buildStages(): Uint8Array | string;
  /** Input name of the {@link buildStages} model (default `image`). */
  inputName?: string;
  /** Output names of the {@link buildStages} model, stages 1–3 (default `stage1`, `stage2`, `stage3`). */
  stageOutputs?: StageNames;
  /**
   * Writes the stages into a graph under construction, from the float image value `image` [B,3,H,W], and returns
   * the three stage values. Present for backbones built in code; it lets the feature extractor make one graph
   * (no copy of the stage outputs into JS memory).
   */
  emitStages?(g: GraphBuilder, image: string): StageNames;
  /**
   * Rows (or columns) of stage 1's grid for an input side of `side` pixels, where the architecture says it; the
   * feature extractor then needs no trial run to learn its grid (otherwise it runs the backbone once on a blank
   * image). Every run still checks the grid it gives against this.
   */
  stageOneSide?(side: number): number;
}

/** Channels of a backbone's stages 1–3 together, the full feature grid's (1792 for the ResNet-50 family). */
export function totalChannels(backbone: Pick<Backbone, 'stageChannels'>): number {
  return backbone.stageChannels.reduce((a, b) => a + b, 0);
}

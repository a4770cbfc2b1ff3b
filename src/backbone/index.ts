/**
 * Backbones: pretrained CNNs as ONNX graphs producing three feature maps at strides 4, 8 and 16 (the stages N-pad,
 * PaDiM and PatchCore read). {@link loadBackbone} turns a {@link BackboneSpec} into a {@link Backbone}; the
 * feature extractor (featureExtractor.ts) turns a backbone into one feature grid.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GraphBuilder } from '../onnx/graph.js';
import { loadOnnxFileBackbone } from './onnxFile.js';
import { loadResnetV2 } from './resnetV2.js';
import { type TorchvisionArch, loadTorchvisionResnet } from './torchvisionResnet.js';

export { FeatureExtractor, type FeatureGridOptions } from './featureExtractor.js';
export type { ResnetV2Features } from './resnetV2.js';
export type { TorchvisionArch } from './torchvisionResnet.js';

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
      features?: 'post-activation' | 'raw';
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
}

/** Loads the backbone `spec` describes (reading and validating its weights). */
export async function loadBackbone(spec: BackboneSpec): Promise<Backbone> {
  switch (spec.kind) {
    case 'resnet50-v2':
      return loadResnetV2(spec.weightsDir ?? defaultWeightsDir(), spec.features ?? 'post-activation');
    case 'torchvision':
      return loadTorchvisionResnet(spec.file, spec.arch);
    case 'onnx':
      return loadOnnxFileBackbone(spec.file, spec.outputs);
  }
}

/**
 * The default ResNet50-v2 weights folder: env `NPAD_WEIGHTS_DIR`, else
 * `<package root>/../shared/models/resnet50-v2-imagenet`.
 */
export function defaultWeightsDir(): string {
  const fromEnv = process.env.NPAD_WEIGHTS_DIR;
  if (fromEnv) return fromEnv;
  return path.join(packageRoot(), '..', 'shared', 'models', 'resnet50-v2-imagenet');
}

/**
 * The npad package folder: the nearest folder above this module whose package.json is named `npad`. Walking up
 * works both from `src/` (tsx) and from `dist/src/` (compiled).
 */
export function packageRoot(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && readPackageName(manifest) === 'npad') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json named npad above ${start}`);
  }
}

function readPackageName(manifest: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && 'name' in parsed && typeof parsed.name === 'string'
      ? parsed.name
      : undefined;
  } catch {
    return undefined; // an unreadable manifest is not ours: keep walking up
  }
}

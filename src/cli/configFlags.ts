/**
 * The command-line flags that shape a detector, shared by `fit` and `eval`, turned into a DetectorConfigInput.
 */
import path from 'node:path';
import type { BackboneSpec } from '../backbone/index.js';
import type { TorchvisionArch } from '../backbone/index.js';
import type { DetectorConfigInput } from '../detector/config.js';
import { NpadInputError } from '../errors.js';
import { DEFAULT_NPAD_OPTIONS, NPAD_PRESETS, type NpadOptions, type NpadPreset } from '../method/options.js';

/** parseArgs option declarations of the configuration flags. */
export const CONFIG_FLAGS = {
  preset: { type: 'string' },
  dim: { type: 'string' },
  set: { type: 'string', multiple: true },
  resize: { type: 'string' },
  crop: { type: 'string' },
  backbone: { type: 'string' },
  'backbone-outputs': { type: 'string' },
  arch: { type: 'string' },
  'weights-dir': { type: 'string' },
  features: { type: 'string' },
  upsample: { type: 'string' },
  'batch-size': { type: 'string' },
} as const;

export const CONFIG_HELP = `Detector options (fit, and eval without --model):
  --preset NAME          exper1 … exper5 (the paper's ablations) or npad (default)
  --dim N                channels kept, d (default ${DEFAULT_NPAD_OPTIONS.dim})
  --set KEY=VALUE        any N-pad option, e.g. --set moduleD=false --set beta=0.5 (docs/method-choices.md)
  --resize N             resize side (default 256)
  --crop N|none          centre-crop side (default 224)
  --backbone B           resnet50-v2 (default), a torchvision/timm .safetensors file, or an .onnx file
  --arch A               resnet18 | resnet50 | wide_resnet50_2 (for .safetensors; detected if omitted)
  --backbone-outputs a,b,c  the three feature outputs of an .onnx backbone, finest first
  --weights-dir DIR      ResNet50-v2 .npy folder (default $NPAD_WEIGHTS_DIR or ../shared/models/resnet50-v2-imagenet)
  --features F           post-activation (default) | raw stage sums (ResNet50-v2)
  --upsample U           nearest (default) | bilinear
  --batch-size N         images per backbone batch while fitting (default 16)`;

export type ConfigFlagValues = { [K in keyof typeof CONFIG_FLAGS]?: (typeof CONFIG_FLAGS)[K] extends { multiple: true } ? string[] : string };

function integer(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new NpadInputError(`--${flag}: expected a positive integer, got '${value}'`);
  return n;
}

function parseOptionValue(key: keyof NpadOptions, raw: string): NpadOptions[keyof NpadOptions] {
  const current = DEFAULT_NPAD_OPTIONS[key];
  if (typeof current === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new NpadInputError(`--set ${key}: expected a number, got '${raw}'`);
    return n as NpadOptions[typeof key];
  }
  if (typeof current === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new NpadInputError(`--set ${key}: expected true or false, got '${raw}'`);
    return (raw === 'true') as NpadOptions[typeof key];
  }
  return raw as NpadOptions[typeof key];
}

function backboneSpec(v: ConfigFlagValues): BackboneSpec {
  const b = v.backbone ?? 'resnet50-v2';
  const features = v.features;
  if (features !== undefined && features !== 'post-activation' && features !== 'raw') {
    throw new NpadInputError(`--features: expected post-activation or raw, got '${features}'`);
  }
  if (b === 'resnet50-v2') {
    return { kind: 'resnet50-v2', ...(v['weights-dir'] ? { weightsDir: path.resolve(v['weights-dir']) } : {}), ...(features ? { features } : {}) };
  }
  const file = path.resolve(b);
  if (b.endsWith('.safetensors')) {
    const arch = v.arch;
    if (arch !== undefined && arch !== 'resnet18' && arch !== 'resnet50' && arch !== 'wide_resnet50_2') {
      throw new NpadInputError(`--arch: expected resnet18, resnet50 or wide_resnet50_2, got '${arch}'`);
    }
    return { kind: 'torchvision', file, ...(arch ? { arch: arch as TorchvisionArch } : {}) };
  }
  if (b.endsWith('.onnx')) {
    const outputs = (v['backbone-outputs'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (outputs.length !== 3) throw new NpadInputError(`--backbone-outputs: an .onnx backbone needs its three feature outputs, e.g. --backbone-outputs layer1,layer2,layer3`);
    return { kind: 'onnx', file, outputs: [outputs[0]!, outputs[1]!, outputs[2]!] };
  }
  throw new NpadInputError(`--backbone: expected resnet50-v2, a .safetensors file or an .onnx file, got '${b}'`);
}

/** Turns parsed flags into a configuration input (defaults fill the rest). */
export function configFromFlags(v: ConfigFlagValues): DetectorConfigInput {
  const options: Partial<NpadOptions> = {};
  if (v.dim !== undefined) options.dim = integer('dim', v.dim);
  for (const pair of v.set ?? []) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (eq < 1 || !(key in DEFAULT_NPAD_OPTIONS)) {
      throw new NpadInputError(`--set '${pair}': expected KEY=VALUE with KEY one of ${Object.keys(DEFAULT_NPAD_OPTIONS).join(', ')}`);
    }
    const k = key as keyof NpadOptions;
    (options as Record<string, unknown>)[k] = parseOptionValue(k, pair.slice(eq + 1));
  }
  if (v.preset !== undefined && !(v.preset in NPAD_PRESETS)) {
    throw new NpadInputError(`--preset: expected one of ${Object.keys(NPAD_PRESETS).join(', ')}, got '${v.preset}'`);
  }
  const preprocess: { resize?: number; crop?: number | null } = {};
  if (v.resize !== undefined) preprocess.resize = integer('resize', v.resize);
  if (v.crop !== undefined) preprocess.crop = v.crop === 'none' ? null : integer('crop', v.crop);
  if (v.upsample !== undefined && v.upsample !== 'nearest' && v.upsample !== 'bilinear') {
    throw new NpadInputError(`--upsample: expected nearest or bilinear, got '${v.upsample}'`);
  }
  return {
    ...(v.preset ? { preset: v.preset as NpadPreset } : {}),
    options,
    preprocess,
    backbone: backboneSpec(v),
    ...(v.upsample ? { featureGrid: { upsample: v.upsample as 'nearest' | 'bilinear' } } : {}),
    ...(v['batch-size'] ? { batchSize: integer('batch-size', v['batch-size']) } : {}),
  };
}

/**
 * The command-line flags that shape a detector, shared by `fit` and `eval`, turned into a DetectorConfigInput.
 */
import path from 'node:path';
import { DEFAULT_METHOD_OPTIONS, METHODS, isMethodName, type CommonConfigInput, type DetectorConfigInput, type MethodName } from '../detector/config.js';
import { NpadInputError } from '../errors.js';
import { DEFAULT_METHOD, METHOD_DEFINITIONS } from '../method/registry.js';
import type { BackboneSpec, TorchvisionArch } from '../backbone/types.js';
import type { PreprocessInput } from '../image/preprocess.js';

/** parseArgs option declarations of the configuration flags. */
export const CONFIG_FLAGS = {
  method: { type: 'string' },
  preset: { type: 'string' },
  dim: { type: 'string' },
  set: { type: 'string', multiple: true },
  input: { type: 'string' },
  'input-side': { type: 'string' },
  tile: { type: 'string' },
  'tile-overlap': { type: 'string' },
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
  --method M             npad (default) | padim | patchcore (the N-pad paper's baselines, on the same backbone)
  --preset NAME          N-pad only: paper (k-means bank, no position-free map), exper1 … exper5 and npad (the
                         paper's ablations and full method, on its bank) or fast (docs/speed.md)
  --dim N                channels kept, d (N-pad default ${DEFAULT_METHOD_OPTIONS.npad.dim}, PaDiM ${DEFAULT_METHOD_OPTIONS.padim.dim}; not PatchCore)
  --set KEY=VALUE        any option of the method, e.g. --set moduleD=false --set beta=0.5 (N-pad,
                         docs/method-choices.md), --set seed=7 (PaDiM), --set coresetRatio=0.01 (PatchCore,
                         default ${DEFAULT_METHOD_OPTIONS.patchcore.coresetRatio}); an unknown KEY lists the method's options
  --input whole|crop     whole (default): the whole image, its aspect ratio kept (the median of the training
                         images'), at the area of a 224² square; crop: the benchmark's preprocessing (MVTec AD
                         practice, the paper's): squashed to 256², centre crop 224² (the border is not inspected)
  --input-side N         whole image: side of the square of the network input's area (default 224, 32–1024)
  --tile N               whole image cut into square tiles of N px of the original, each resized to the input
                         side, so that a small defect on a large photo still covers several feature cells; all
                         tiles share one model, maps are put back together at the photo's size
  --tile-overlap N       pixels neighbouring tiles share, at least (default N/8 of the tile)
  --resize N             crop input: resize side (default 256)
  --crop N|none          crop input: centre-crop side (default 224)
  --backbone B           resnet50-v2 (default), a torchvision/timm .safetensors file, or an .onnx file
  --arch A               resnet18 | resnet50 | wide_resnet50_2 (for .safetensors; detected if omitted)
  --backbone-outputs a,b,c  the three feature outputs of an .onnx backbone, finest first
  --weights-dir DIR      ResNet50-v2 .npy folder (default $NPAD_WEIGHTS_DIR or ../shared/models/resnet50-v2-imagenet)
  --features F           post-activation (default) | raw stage sums (ResNet50-v2)
  --upsample U           nearest | bilinear (default nearest; PatchCore bilinear)
  --batch-size N         images per backbone batch while fitting (default 16)`;

export type ConfigFlagValues = { [K in keyof typeof CONFIG_FLAGS]?: (typeof CONFIG_FLAGS)[K] extends { multiple: true } ? string[] : string };

function integer(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new NpadInputError(`--${flag}: expected a positive integer, got '${value}'`);
  return n;
}

/** A `--set` value, typed like the option's default (number, boolean or string; the string is checked later). */
function parseOptionValue(method: MethodName, key: string, raw: string): unknown {
  const current: unknown = (DEFAULT_METHOD_OPTIONS[method] as Record<string, unknown>)[key];
  if (typeof current === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new NpadInputError(`--set ${key}: expected a number, got '${raw}'`);
    return n;
  }
  if (typeof current === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new NpadInputError(`--set ${key}: expected true or false, got '${raw}'`);
    return raw === 'true';
  }
  return raw;
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

/** The input flags: the whole image (default; --input-side, --tile, --tile-overlap) or the benchmark crop (--resize, --crop). */
function preprocessFromFlags(v: ConfigFlagValues): PreprocessInput {
  const crop = v.input === 'crop' || (v.input === undefined && (v.resize !== undefined || v.crop !== undefined));
  if (v.input !== undefined && v.input !== 'whole' && v.input !== 'crop') throw new NpadInputError(`--input: expected whole or crop, got '${v.input}'`);
  const wholeFlags = (['input-side', 'tile', 'tile-overlap'] as const).filter((f) => v[f] !== undefined);
  const cropFlags = (['resize', 'crop'] as const).filter((f) => v[f] !== undefined);
  if (crop) {
    if (wholeFlags.length) throw new NpadInputError(`--${wholeFlags[0]} is for the whole image; the crop input takes --resize and --crop`);
    return {
      mode: 'crop',
      ...(v.resize !== undefined ? { resize: integer('resize', v.resize) } : {}),
      ...(v.crop !== undefined ? { crop: v.crop === 'none' ? null : integer('crop', v.crop) } : {}),
    };
  }
  if (cropFlags.length) throw new NpadInputError(`--${cropFlags[0]} is for --input crop; the whole image takes --input-side and --tile`);
  if (v['tile-overlap'] !== undefined && v.tile === undefined) throw new NpadInputError('--tile-overlap needs --tile');
  const size = v.tile === undefined ? null : integer('tile', v.tile);
  const overlap = v['tile-overlap'] === undefined ? null : Number(v['tile-overlap']);
  if (overlap !== null && (!Number.isInteger(overlap) || overlap < 0)) throw new NpadInputError(`--tile-overlap: expected an integer ≥ 0, got '${v['tile-overlap']}'`);
  return {
    mode: 'whole',
    ...(v['input-side'] !== undefined ? { side: integer('input-side', v['input-side']) } : {}),
    tile: size === null ? null : { size, ...(overlap === null ? {} : { overlap }) },
  };
}

/** The `--method` flag (default N-pad). */
function methodOf(v: ConfigFlagValues): MethodName {
  const m = v.method ?? DEFAULT_METHOD;
  if (!isMethodName(m)) throw new NpadInputError(`--method: expected one of ${METHODS.join(', ')}, got '${m}'`);
  return m;
}

/** Turns parsed flags into a configuration input (defaults fill the rest). */
export function configFromFlags(v: ConfigFlagValues): DetectorConfigInput {
  const method = methodOf(v);
  const known = DEFAULT_METHOD_OPTIONS[method];
  const options: Record<string, unknown> = {};
  if (v.dim !== undefined) {
    if (!('dim' in known)) throw new NpadInputError(`--dim: method ${method} has no channel count d (its options: ${Object.keys(known).join(', ')})`);
    options.dim = integer('dim', v.dim);
  }
  for (const pair of v.set ?? []) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (eq < 1 || !(key in known)) {
      throw new NpadInputError(`--set '${pair}': expected KEY=VALUE with KEY one of ${Object.keys(known).join(', ')} (options of ${method})`);
    }
    options[key] = parseOptionValue(method, key, pair.slice(eq + 1));
  }
  if (v.preset !== undefined) {
    const presets = Object.keys(METHOD_DEFINITIONS[method].presets);
    if (presets.length === 0) throw new NpadInputError(`--preset: method ${method} has none (presets are N-pad's)`);
    if (!presets.includes(v.preset)) throw new NpadInputError(`--preset: expected one of ${presets.join(', ')}, got '${v.preset}'`);
  }
  const preprocess = preprocessFromFlags(v);
  if (v.upsample !== undefined && v.upsample !== 'nearest' && v.upsample !== 'bilinear') {
    throw new NpadInputError(`--upsample: expected nearest or bilinear, got '${v.upsample}'`);
  }
  const common: CommonConfigInput = {
    preprocess,
    backbone: backboneSpec(v),
    ...(v.upsample ? { featureGrid: { upsample: v.upsample as 'nearest' | 'bilinear' } } : {}),
    ...(v['batch-size'] ? { batchSize: integer('batch-size', v['batch-size']) } : {}),
  };
  // Option values are typed like the defaults here; their ranges and enumerations are checked by validateConfig.
  return { ...(v.method !== undefined ? { method } : {}), ...(v.preset ? { preset: v.preset } : {}), options, ...common } as DetectorConfigInput;
}

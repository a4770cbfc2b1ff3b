/**
 * Backbones: pretrained CNNs as ONNX graphs producing three feature maps at strides 4, 8 and 16 (the stages N-pad,
 * PaDiM and PatchCore read). {@link loadBackbone} turns a {@link BackboneSpec} into a {@link Backbone}; the
 * feature extractor (featureExtractor.ts) turns a backbone into one feature grid.
 */
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { NpadInputError } from '../errors.js';
import { fileError } from '../io/fileErrors.js';
import { packageRoot } from '../util/npadPackage.js';
import { loadOnnxFileBackbone } from './onnxFile.js';
import { loadResnetV2 } from './resnetV2.js';
import { loadTorchvisionResnet } from './torchvisionResnet.js';
import type { Backbone, BackboneSpec } from './types.js';
import { isRecord } from '../util/isRecord.js';

/** Loads the backbone `spec` describes (reading and validating its weights). */
export async function loadBackbone(spec: BackboneSpec): Promise<Backbone> {
  switch (spec.kind) {
    case 'resnet50-v2':
      return loadResnetV2(spec.weightsDir ?? defaultWeightsDir(), spec.features ?? 'post-activation');
    case 'torchvision':
      await checkWeightsFile(spec.file);
      return loadTorchvisionResnet(spec.file, spec.arch);
    case 'onnx':
      await checkWeightsFile(spec.file);
      return loadOnnxFileBackbone(spec.file, spec.outputs);
  }
}

/** Largest weights file read: ONNX files cannot exceed 2 GiB, and no ResNet's state dict comes near 4 GiB. */
const MAX_WEIGHTS_FILE_BYTES = 4 * 2 ** 30;

/**
 * Refuses a weights path that is not a regular file of a sane size before anything reads it: a spec (from a model
 * file, which anyone may have edited) naming /dev/zero or a FIFO would otherwise be read without end.
 * @throws NpadInputError naming the path
 */
async function checkWeightsFile(file: string): Promise<void> {
  const info = await stat(file).catch((e: unknown) => {
    throw fileError(e, file, 'read');
  });
  if (!info.isFile()) throw new NpadInputError(`${file}: not a regular file (a folder, device or FIFO); backbone weights are a .safetensors or .onnx file`, file);
  if (info.size > MAX_WEIGHTS_FILE_BYTES) throw new NpadInputError(`${file}: ${info.size} bytes, more than any backbone's weights (at most ${MAX_WEIGHTS_FILE_BYTES})`, file);
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
 * The backbone specification a model file stores: the kind and its options, the weights named by file name only
 * (a ResNet50-v2 folder not at all). A model file is input anyone may have edited, so npad never opens a path
 * read from one: loading finds the weights itself ({@link resolveStoredBackbone}) and the model's recorded
 * SHA-256 of the weights must match what it finds.
 */
export function storableBackbone(spec: BackboneSpec): BackboneSpec {
  switch (spec.kind) {
    case 'resnet50-v2':
      return { kind: spec.kind, ...(spec.features !== undefined ? { features: spec.features } : {}) };
    case 'torchvision':
    case 'onnx':
      return { ...spec, file: path.basename(spec.file) };
  }
}

/**
 * Where a loaded model's backbone weights are: for ResNet50-v2 the default folder ({@link defaultWeightsDir});
 * for a weights file, its stored file name (never a stored path) looked up next to the model file, then in
 * NPAD_WEIGHTS_DIR. The caller checks the weights' SHA-256 against the model's.
 * @throws NpadInputError naming the model file, the weights' file name and where to put them
 */
export async function resolveStoredBackbone(spec: BackboneSpec, modelFile: string): Promise<BackboneSpec> {
  if (spec.kind === 'resnet50-v2') return storableBackbone(spec);
  const name = path.basename(spec.file);
  const folders = [path.dirname(path.resolve(modelFile)), ...(process.env.NPAD_WEIGHTS_DIR ? [process.env.NPAD_WEIGHTS_DIR] : [])];
  for (const folder of folders) {
    const candidate = path.join(folder, name);
    if (await stat(candidate).then((s) => s.isFile(), () => false)) return { ...spec, file: candidate };
  }
  throw new NpadInputError(
    `${modelFile}: its backbone weights ${name} are not next to the model file${process.env.NPAD_WEIGHTS_DIR ? ' nor in NPAD_WEIGHTS_DIR' : ''}; ` +
      'npad does not open paths stored in a model file: put the weights there, or set NPAD_WEIGHTS_DIR to their folder',
    modelFile,
  );
}

/**
 * The backbone specification stored in a model file, checked field by field.
 * @param value the stored `detector.backbone`
 * @param file the model file, for messages
 * @throws NpadInputError naming the model file and the bad field
 */
export function parseStoredBackbone(value: unknown, file: string): BackboneSpec {
  const bad = (why: string): NpadInputError => new NpadInputError(`${file}: model file has an invalid backbone specification: ${why}`, file);
  if (!isRecord(value)) throw bad('not a JSON object');
  const optionalString = (key: string): void => {
    if (value[key] !== undefined && typeof value[key] !== 'string') throw bad(`${key} is not a string`);
  };
  switch (value.kind) {
    case 'resnet50-v2':
      optionalString('weightsDir');
      if (value.features !== undefined && value.features !== 'post-activation' && value.features !== 'raw') throw bad(`features ${JSON.stringify(value.features)}`);
      break;
    case 'torchvision':
      if (typeof value.file !== 'string' || value.file === '') throw bad('no file');
      if (value.arch !== undefined && value.arch !== 'resnet18' && value.arch !== 'resnet50' && value.arch !== 'wide_resnet50_2') throw bad(`arch ${JSON.stringify(value.arch)}`);
      break;
    case 'onnx':
      if (typeof value.file !== 'string' || value.file === '') throw bad('no file');
      if (!Array.isArray(value.outputs) || value.outputs.length !== 3 || !value.outputs.every((o) => typeof o === 'string' && o !== '')) {
        throw bad('outputs is not a list of three output names');
      }
      break;
    default:
      throw bad(`kind ${JSON.stringify(value.kind)} (expected resnet50-v2, torchvision or onnx)`);
  }
  return value as unknown as BackboneSpec;
}

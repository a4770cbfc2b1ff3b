/**
 * Backbones: pretrained CNNs as ONNX graphs producing three feature maps at strides 4, 8 and 16 (the stages N-pad,
 * PaDiM and PatchCore read). {@link loadBackbone} turns a {@link BackboneSpec} into a {@link Backbone}; the
 * feature extractor (featureExtractor.ts) turns a backbone into one feature grid.
 */
import path from 'node:path';
import { NpadInputError } from '../errors.js';
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

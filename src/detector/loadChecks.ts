/**
 * Checks that keep a damaged or hand-edited model file, or an absurd option, from passing Detector.load (or
 * validateConfig) and failing later with an internal error. The model file's tensors are checksummed but its
 * configuration JSON is not, so every value in it is untrusted input; these checks were added for cases the fuzz
 * test (test/robustness/fuzz.test.ts) found.
 */
import type { BackboneSpec } from '../backbone/index.js';
import type { FeatureExtractor } from '../backbone/featureExtractor.js';
import { NpadConfigError, NpadInputError } from '../errors.js';
import { PATCH_STAGES, patchStages } from '../method/parts/patchBank.js';
import type { FloatTensor } from '../onnx/session.js';
import type { DetectorConfig } from './config.js';
import type { FittedModel } from './methods.js';

/**
 * Upper bounds of options whose cost grows without limit (a Gaussian kernel of radius 4σ, (2r+1)² neighbours per
 * position, an unfolded patch of p² values per channel, pooled vectors, k-means passes). Far above any useful
 * value; past them a run would take hours or allocate more than any machine has.
 */
export const OPTION_LIMITS = {
  smoothingSigma: 64,
  radius: 8,
  kmeansIterations: 1000,
  patchSize: 15,
  vectorSize: 65536,
  startPoints: 10000,
} as const;

/**
 * Refuses option values beyond {@link OPTION_LIMITS} (and a non-finite smoothing σ), naming the option.
 * @throws NpadConfigError naming the option, its value and its limit
 */
export function checkOptionLimits(config: DetectorConfig): void {
  const atMost = (name: string, value: number, limit: number): void => {
    if (!(value <= limit)) throw new NpadConfigError(`option ${name} must be at most ${limit}, got ${String(value)}`);
  };
  atMost('smoothingSigma', config.options.smoothingSigma, OPTION_LIMITS.smoothingSigma);
  switch (config.method) {
    case 'npad':
      for (const name of ['trainRadius', 'aggregationRadius', 'inferenceRadius'] as const) atMost(name, config.options[name], OPTION_LIMITS.radius);
      atMost('kmeansIterations', config.options.kmeansIterations, OPTION_LIMITS.kmeansIterations);
      atMost('bankDim', config.options.bankDim, OPTION_LIMITS.vectorSize);
      break;
    case 'padim':
      break;
    case 'patchcore':
      atMost('patchSize', config.options.patchSize, OPTION_LIMITS.patchSize);
      atMost('stageDim', config.options.stageDim, OPTION_LIMITS.vectorSize);
      atMost('embedDim', config.options.embedDim, OPTION_LIMITS.vectorSize);
      atMost('projectionDim', config.options.projectionDim, OPTION_LIMITS.vectorSize);
      atMost('startPoints', config.options.startPoints, OPTION_LIMITS.startPoints);
      break;
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
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

/**
 * Refuses a loaded model whose feature grid differs from the one its backbone gives at its input size: the
 * configuration in the file (resize, crop, grid) does not belong to its tensors, and scoring would fail.
 * A patch bank's stage maps (PatchCore, N-pad's position-free bank) are measured with one run of the backbone on a
 * blank image.
 * @throws NpadInputError naming the model file and both grids
 */
export async function checkModelGrid(fitted: FittedModel, extractor: FeatureExtractor, file: string): Promise<void> {
  const mismatch = (what: string, stored: string, actual: string): NpadInputError =>
    new NpadInputError(
      `${file}: damaged model file: its ${what} ${what.endsWith('s') ? 'are' : 'is'} ${stored} but the backbone gives ${actual} at the input size ${extractor.inputSize} its configuration asks for`,
      file,
    );
  const grid = (height: number, width: number): void => {
    if (height !== extractor.gridHeight || width !== extractor.gridWidth) {
      throw mismatch('feature grid', `${height}×${width}`, `${extractor.gridHeight}×${extractor.gridWidth}`);
    }
  };
  /**
   * The stage maps a patch bank was fitted on must be the backbone's at this input size, measured on a blank image
   * through the graph the method scores with (so the check builds no session of its own).
   */
  const blank = new Float32Array(3 * extractor.inputSize * extractor.inputSize);
  const bankStages = (stored: readonly { channels: number; height: number; width: number }[], used: readonly FloatTensor[]): void => {
    const text = (s: readonly { channels: number; height: number; width: number }[]): string => s.map((x) => `${x.channels}×${x.height}×${x.width}`).join(' and ');
    const actual = used.map((t) => ({ channels: t.dims[1]!, height: t.dims[2]!, width: t.dims[3]! }));
    if (stored.length !== actual.length || stored.some((s, i) => s.channels !== actual[i]!.channels || s.height !== actual[i]!.height || s.width !== actual[i]!.width)) {
      throw mismatch('stage maps', text(stored), text(actual));
    }
  };
  switch (fitted.method) {
    case 'npad':
      grid(fitted.model.scoring.height, fitted.model.scoring.width);
      if (fitted.model.fusion) bankStages(fitted.model.fusion.shape.stages, (await extractor.extractWithStages(blank, 1, fitted.model.channels, PATCH_STAGES)).stages);
      return;
    case 'padim':
      grid(fitted.model.height, fitted.model.width);
      return;
    case 'patchcore':
      bankStages(fitted.model.shape.stages, await patchStages(extractor, blank, 1));
      return;
  }
}

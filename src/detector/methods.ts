/**
 * The three methods behind one face: a fitted model of any method, and fitting and scoring dispatched on the
 * configuration's `method`. The methods themselves live in src/method/ (npad.ts, padim.ts, patchcore.ts).
 */
import type { FeatureExtractor } from '../backbone/featureExtractor.js';
import type { ImageSource } from '../image/source.js';
import { fitNpad, scoreImages, type NpadModel } from '../method/npad/npad.js';
import { fitPadim, scorePadim, type PadimModel } from '../method/padim/padim.js';
import { fitPatchcore, scorePatchcore, type PatchcoreModel } from '../method/patchcore/patchcore.js';
import type { DetectorConfig } from './config.js';
import type { ProgressCallback, ScoredImageHandler } from '../method/types.js';

/** A fitted model, tagged with its method. */
export type FittedModel =
  | { method: 'npad'; model: NpadModel }
  | { method: 'padim'; model: PadimModel }
  | { method: 'patchcore'; model: PatchcoreModel };

/** Fits the configured method on nominal images. */
export async function fitMethod(
  config: DetectorConfig,
  paths: readonly string[],
  extractor: FeatureExtractor,
  progress?: ProgressCallback,
): Promise<FittedModel> {
  const { preprocess, batchSize } = config;
  switch (config.method) {
    case 'npad':
      return { method: 'npad', model: await fitNpad(paths, extractor, { options: config.options, preprocess, batchSize }, progress) };
    case 'padim':
      return { method: 'padim', model: await fitPadim(paths, extractor, { options: config.options, preprocess, batchSize }, progress) };
    case 'patchcore': {
      const settings = { options: config.options, preprocess, upsample: config.featureGrid.upsample, batchSize };
      return { method: 'patchcore', model: await fitPatchcore(paths, extractor, settings, progress) };
    }
  }
}

/** Scores images with a fitted model; `onImage` receives each result in order. */
export async function scoreMethod(
  fitted: FittedModel,
  extractor: FeatureExtractor,
  paths: readonly ImageSource[],
  onImage: ScoredImageHandler,
): Promise<void> {
  switch (fitted.method) {
    case 'npad':
      return scoreImages(fitted.model, extractor, paths, onImage);
    case 'padim':
      return scorePadim(fitted.model, extractor, paths, onImage);
    case 'patchcore':
      return scorePatchcore(fitted.model, extractor, paths, onImage);
  }
}

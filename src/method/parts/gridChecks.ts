/**
 * Checks that a loaded model's grids are the ones its backbone gives at its input size. The configuration in a
 * model file (resize, crop, grid) is not checksummed but its tensors are: when the two disagree the file is
 * damaged or hand-edited, and scoring would fail later with an internal error.
 */
import type { FeatureExtractor } from '../../backbone/featureExtractor.js';
import { NpadInputError } from '../../errors.js';
import type { FloatTensor } from '../../onnx/session.js';
import type { StageSize } from './modelTensors.js';

function mismatch(file: string, extractor: FeatureExtractor, what: string, stored: string, actual: string): NpadInputError {
  return new NpadInputError(
    `${file}: damaged model file: its ${what} ${what.endsWith('s') ? 'are' : 'is'} ${stored} but the backbone gives ${actual} at the input size ${extractor.input.width}×${extractor.input.height} its configuration asks for`,
    file,
  );
}

/**
 * Refuses a feature grid (stage 1's) other than the extractor's.
 * @throws NpadInputError naming the model file and both grids
 */
export function checkFeatureGrid(height: number, width: number, extractor: FeatureExtractor, file: string): void {
  if (height !== extractor.gridHeight || width !== extractor.gridWidth) {
    throw mismatch(file, extractor, 'feature grid', `${height}×${width}`, `${extractor.gridHeight}×${extractor.gridWidth}`);
  }
}

/**
 * Refuses a patch bank whose stage maps are not those of `used`, the backbone's outputs on a blank image through
 * the graph the method scores with (so the check builds no session of its own).
 * @throws NpadInputError naming the model file and both sets of stage maps
 */
export function checkStageMaps(stored: readonly StageSize[], used: readonly FloatTensor[], extractor: FeatureExtractor, file: string): void {
  const text = (s: readonly StageSize[]): string => s.map((x) => `${x.channels}×${x.height}×${x.width}`).join(' and ');
  const actual = used.map((t) => ({ channels: t.dims[1]!, height: t.dims[2]!, width: t.dims[3]! }));
  const same = stored.length === actual.length && stored.every((s, i) => s.channels === actual[i]!.channels && s.height === actual[i]!.height && s.width === actual[i]!.width);
  if (!same) throw mismatch(file, extractor, 'stage maps', text(stored), text(actual));
}

/** One blank network input [1, 3, H, W] to measure a backbone's grids with. */
export function blankInput(extractor: FeatureExtractor): Float32Array {
  return new Float32Array(3 * extractor.input.width * extractor.input.height);
}

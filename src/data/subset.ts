/** Few-shot fitting (the N-pad paper's §4.4): a reproducible random subset of the nominal training images. */
import { NpadInputError } from '../errors.js';
import { sampleWithoutReplacement, seededRandom } from '../util/random.js';

/** `count` of `paths` drawn at random with `seed`, in their original order. */
export function trainSubset(paths: readonly string[], count: number, seed = 0): string[] {
  if (!Number.isInteger(count) || count < 1) throw new NpadInputError(`training subset: expected a positive integer, got ${count}`);
  if (count > paths.length) throw new NpadInputError(`training subset ${count}: only ${paths.length} training images`);
  return Array.from(sampleWithoutReplacement(paths.length, count, seededRandom(seed)), (i) => paths[i]!);
}

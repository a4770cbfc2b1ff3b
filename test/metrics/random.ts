/**
 * Seeded pseudo-random numbers for the randomized metric tests, so a failure
 * reproduces exactly.
 */

export { seededRandom } from '../../src/util/random.js';

/**
 * Scores on a coarse grid (multiples of 1/levels) so that ties are frequent.
 * @param random - generator from {@link seededRandom}
 * @param count - how many scores
 * @param levels - number of distinct values to draw from
 */
export function tiedScores(random: () => number, count: number, levels: number): Float64Array {
  const scores = new Float64Array(count);
  for (let i = 0; i < count; i++) scores[i] = Math.floor(random() * levels) / levels;
  return scores;
}

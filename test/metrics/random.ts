/**
 * Seeded pseudo-random numbers for the randomized metric tests, so a failure
 * reproduces exactly.
 */

/**
 * Mulberry32: a tiny 32-bit generator, good enough to draw test data.
 * @param seed - any 32-bit integer
 * @returns a function yielding uniform numbers in [0, 1)
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

/**
 * Streaming down-sampling of a monotone curve (ROC, PRO) to a bounded number of
 * points for plotting.
 *
 * A pixel-level curve can have millions of vertices, so the vertices are never
 * stored: the sweep offers them one at a time and the sampler decides on the spot
 * which to keep. Points are spread evenly along the curve's length (in the L1
 * sense, which for a curve rising in both coordinates is just the sum of the two
 * normalised coordinates) rather than evenly by vertex index, because vertices
 * bunch up where scores are dense and index sampling would leave the
 * interesting steep start of the curve almost empty.
 */

import { assertIntegerAtLeast } from './validate.js';

/** Decides, vertex by vertex, which interior vertices of a curve to keep. */
export interface CurveSampler {
  /**
   * Whether to keep an interior vertex (not the first, not the last: those are always kept).
   * @param arcPosition - the vertex's position along the curve, 0 at the start, nondecreasing
   */
  keepInterior(arcPosition: number): boolean;
}

/**
 * Creates a sampler that keeps at most `maxPoints − 2` interior vertices, so that
 * together with the always-kept first and last vertex the curve has ≤ maxPoints.
 * If the curve has no more than `maxPoints` vertices in all, every vertex is kept.
 * @param maxPoints - the most points the sampled curve may have (≥ 2)
 * @param vertexCount - how many vertices the full curve has, first and last included
 * @param curveLength - the arc position of the last vertex (an upper bound is fine)
 */
export function createCurveSampler(maxPoints: number, vertexCount: number, curveLength: number): CurveSampler {
  assertIntegerAtLeast('maxPoints', maxPoints, 2);
  if (vertexCount <= maxPoints) return { keepInterior: () => true };
  const interiorBudget = maxPoints - 2;
  // Targets at k·spacing for k = 1..interiorBudget, all strictly inside the curve.
  const spacing = curveLength / (maxPoints - 1);
  let keptInterior = 0;
  let nextTarget = spacing;
  return {
    keepInterior(arcPosition: number): boolean {
      if (keptInterior >= interiorBudget || arcPosition < nextTarget) return false;
      keptInterior++;
      // Skip every target this vertex already passed, so one long jump costs one point.
      nextTarget = (Math.floor(arcPosition / spacing) + 1) * spacing;
      return true;
    },
  };
}

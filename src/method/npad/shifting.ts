/**
 * Module D (paper eq. 15): the test image is also scored with its crop window moved by 1 … S pixels, and
 * the maps and scores of all versions are aggregated. Moving the crop inside the larger resized image
 * shifts without padding; a shifted version's map is moved back onto the original crop before aggregating.
 */
import type { Shift } from '../../image/shiftedCrops.js';
import type { NpadOptions } from './options.js';


/** The versions to score: the unshifted crop first, then the shifts module D asks for. */
export function shiftsFor(opts: Pick<NpadOptions, 'moduleD' | 'shiftMax' | 'shiftSteps' | 'shiftDirections'>): Shift[] {
  const shifts: Shift[] = [{ dx: 0, dy: 0 }];
  if (!opts.moduleD || opts.shiftMax === 0) return shifts;
  const directions: Shift[] = [
    { dx: 1, dy: 0 },
    { dx: -1, dy: 0 },
    { dx: 0, dy: 1 },
    { dx: 0, dy: -1 },
  ];
  if (opts.shiftDirections === 8) directions.push({ dx: 1, dy: 1 }, { dx: 1, dy: -1 }, { dx: -1, dy: 1 }, { dx: -1, dy: -1 });
  const steps = opts.shiftSteps === 'all' ? Array.from({ length: opts.shiftMax }, (_, i) => i + 1) : [opts.shiftMax];
  for (const s of steps) for (const dir of directions) shifts.push({ dx: dir.dx * s, dy: dir.dy * s });
  return shifts;
}

/**
 * Aggregates S×S maps of the versions onto the original crop. Version v's pixel (x, y) shows the original
 * crop's pixel (x + dx, y + dy); where a version does not cover a pixel, only the others count.
 */
export function aggregateShiftedMaps(maps: readonly Float32Array[], shifts: readonly Shift[], size: number, how: 'mean' | 'min'): Float32Array {
  const out = new Float32Array(size * size);
  const counts = new Uint16Array(size * size);
  if (how === 'min') out.fill(Infinity);
  maps.forEach((map, v) => {
    const { dx, dy } = shifts[v]!;
    for (let y = 0; y < size; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= size) continue;
      for (let x = 0; x < size; x++) {
        const sx = x - dx;
        if (sx < 0 || sx >= size) continue;
        const value = map[sy * size + sx]!;
        const i = y * size + x;
        if (how === 'min') out[i] = Math.min(out[i]!, value);
        else out[i]! += value;
        counts[i]!++;
      }
    }
  });
  if (how === 'mean') for (let i = 0; i < out.length; i++) out[i]! /= counts[i]!;
  return out;
}

/** Aggregates the versions' image scores. */
export function aggregateShiftedScores(scores: ArrayLike<number>, how: 'mean' | 'min'): number {
  let acc = how === 'min' ? Infinity : 0;
  for (let i = 0; i < scores.length; i++) acc = how === 'min' ? Math.min(acc, scores[i]!) : acc + scores[i]!;
  return how === 'min' ? acc : acc / scores.length;
}

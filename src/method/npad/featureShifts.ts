/**
 * Module D in feature space (option shiftSpace = 'features'): an approximation of the paper's shifting that
 * runs the backbone once per image instead of once per shifted copy.
 *
 * Moving the crop window by s pixels, a multiple of the grid stride, moves the feature grid by σ = s / stride
 * cells: the shifted copy's cell p′ sees (approximately) the feature f(p′ + σ) of the unshifted image. Brought
 * back onto the original crop (as aggregateShiftedMaps does with the pixel maps), the copy's scores at cell p are
 *
 *   A (+ C):  a_σ(p) = min over o ∈ N(0) of D_A(f(p), G_{p − σ + o})
 *   B:        b_σ(p) = D_B(g(p), G^B_{p − σ})
 *
 * so every copy needs only distances of the unshifted features to Gaussians at a few offsets. Each distinct
 * offset δ = σ − o is computed once (21 offsets for the default 4 directions and a 3×3 neighbourhood, against
 * 5 × 9 = 45 when each copy is scored on its own), and the backbone runs once instead of five times.
 *
 * What it approximates: the features of a shifted crop are not exactly the shifted features (stages 2 and 3
 * have strides 8 and 16, and the network sees different content at the border), and content outside the
 * original crop is never seen. Cells a copy does not cover (p − σ off the grid) take the unshifted copy's value,
 * which is exact for shiftAggregate 'min' (only the covering copies count) and close for 'mean'. The AUROC
 * against image-space shifting is measured in docs/method-choices.md.
 */
import type { GaussianGrid } from '../parts/gaussians.js';
import { averageNeighbourhood } from '../parts/aggregate.js';
import type { NpadOptions } from './options.js';
import { combineModuleScores, imageScoresOf, type GridScores, type ScoringModel } from './gridScores.js';
import { NpadConfigError } from '../../errors.js';
import type { Shift } from '../../image/shiftedCrops.js';
import { scoreAgainstGrid } from '../parts/gaussianScores.js';

/** A displacement on the feature grid, in cells. */
interface CellOffset {
  dx: number;
  dy: number;
}

/** The inference neighbourhood N(0) as cell offsets (module C), or only the cell itself. */
export function inferenceOffsets(opts: Pick<NpadOptions, 'moduleC' | 'inferenceRadius' | 'neighbourhoodShape'>): CellOffset[] {
  if (!opts.moduleC) return [{ dx: 0, dy: 0 }];
  const r = opts.inferenceRadius;
  const out: CellOffset[] = [];
  for (let dy = -r; dy <= r; dy++) {
    for (let dx = -r; dx <= r; dx++) if (opts.neighbourhoodShape === 'square' || dx === 0 || dy === 0) out.push({ dx, dy });
  }
  return out;
}

/**
 * The pixel shifts as grid cells.
 * @throws NpadConfigError when a shift is not a multiple of the stride (the grid cannot move by part of a cell)
 */
export function shiftsInCells(shifts: readonly Shift[], stride: number): CellOffset[] {
  return shifts.map(({ dx, dy }) => {
    if (dx % stride !== 0 || dy % stride !== 0) {
      throw new NpadConfigError(`shiftSpace 'features' needs shifts in multiples of the grid stride (${stride} px); got (${dx}, ${dy}): set shiftMax to a multiple of ${stride} and shiftSteps to 'max'`);
    }
    return { dx: dx / stride, dy: dy / stride };
  });
}

/** Distinct offsets, in a fixed order, with a lookup from (dx, dy) to their index. */
class OffsetSet {
  readonly list: CellOffset[] = [];
  private readonly index = new Map<string, number>();
  add(o: CellOffset): number {
    const key = `${o.dx},${o.dy}`;
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(o);
      this.index.set(key, i);
    }
    return i;
  }
}

/**
 * Distances of the feature at every cell p to the Gaussian at p − δ, for each offset δ: [images, |δ|, P],
 * Infinity where p − δ is off the grid.
 */
async function distancesAtOffsets(
  grid: GaussianGrid,
  features: Float32Array,
  images: number,
  offsets: readonly CellOffset[],
  height: number,
  width: number,
): Promise<Float32Array> {
  const P = height * width;
  const K = offsets.length;
  const out = new Float32Array(images * K * P).fill(Infinity);
  // Scored from the Gaussian's side: Gaussian q meets the feature at q + δ.
  const featureAt = (q: number, k: number): number => {
    const x = (q % width) + offsets[k]!.dx;
    const y = Math.floor(q / width) + offsets[k]!.dy;
    return x >= 0 && x < width && y >= 0 && y < height ? y * width + x : -1;
  };
  await scoreAgainstGrid(
    grid,
    features,
    images,
    K,
    (q, k) => Math.max(0, featureAt(q, k)),
    (q, m, k, distance) => {
      const p = featureAt(q, k);
      if (p >= 0) out[(m * K + k) * P + p] = distance;
    },
  );
  return out;
}

/**
 * Scores of every shifted copy of M images, computed from the unshifted features (channel-major [M, d, P]):
 * [M · V, P] pixel scores and [M · V] image scores, copy v of image m at m · V + v, already aligned with the
 * original crop (so the maps need no moving back).
 */
export async function scoreShiftedFeatures(
  model: ScoringModel,
  features: Float32Array,
  images: number,
  opts: NpadOptions,
  shifts: readonly Shift[],
  stride: number,
): Promise<GridScores> {
  const { height: H, width: W, dim: d } = model;
  const P = H * W;
  const sigmas = shiftsInCells(shifts, stride);
  const V = sigmas.length;
  const hood = inferenceOffsets(opts);

  // Offsets δ = σ − o for module A (+ C), δ = σ for module B.
  const offsetsA = new OffsetSet();
  const pairsA = sigmas.map((s) => hood.map((o) => offsetsA.add({ dx: s.dx - o.dx, dy: s.dy - o.dy })));
  const offsetsB = new OffsetSet();
  const pairsB = sigmas.map((s) => offsetsB.add(s));

  const aggregated = model.aggregated ? await averageNeighbourhood(features, images, d, H, W, opts.aggregationRadius) : null;
  const distA = model.weighted ? await distancesAtOffsets(model.weighted, features, images, offsetsA.list, H, W) : null;
  const distB = model.aggregated && aggregated ? await distancesAtOffsets(model.aggregated, aggregated, images, offsetsB.list, H, W) : null;

  const KA = offsetsA.list.length;
  const KB = offsetsB.list.length;
  const a2 = distA ? new Float32Array(images * V * P) : null;
  const b2 = distB ? new Float32Array(images * V * P) : null;
  for (let m = 0; m < images; m++) {
    for (let v = 0; v < V; v++) {
      const row = (m * V + v) * P;
      const unshifted = m * V * P; // copy 0 is the unshifted crop, which covers every cell
      for (let p = 0; p < P; p++) {
        const x = (p % W) - sigmas[v]!.dx;
        const y = Math.floor(p / W) - sigmas[v]!.dy;
        const covered = x >= 0 && x < W && y >= 0 && y < H;
        if (a2 && distA) {
          let best = Infinity;
          if (covered) for (const k of pairsA[v]!) best = Math.min(best, distA[(m * KA + k) * P + p]!);
          a2[row + p] = covered ? best : a2[unshifted + p]!;
        }
        if (b2 && distB) b2[row + p] = covered ? distB[(m * KB + pairsB[v]!) * P + p]! : b2[unshifted + p]!;
      }
    }
  }
  const pixel = combineModuleScores(a2, b2, images * V * P);
  // Every copy's aggregated features are the unshifted image's (aligned), so copy m·V + v reads image m's.
  const image = await imageScoresOf(model, pixel, a2, b2, aggregated, images * V, P, opts, (copy) => Math.floor(copy / V));
  return { pixel, image };
}

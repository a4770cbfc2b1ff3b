/**
 * Squared Mahalanobis distances of feature maps against a grid of per-position Gaussians (parts/gaussians.ts): each
 * position's own vector (PaDiM, N-pad's module B), or, through scoreAgainstGrid, any vectors a method names per
 * position (N-pad's module C scores a position's neighbours against it).
 */
import { KERNEL_CHUNK_BYTES, mahalanobisOfRows } from '../../engine/kernels.js';
import type { GaussianGrid } from './gaussians.js';

/**
 * Squared Mahalanobis distance of K vectors per position against that position's Gaussian.
 * `offsetOf(q, k)` names the position whose vector (in `source`, channel-major [M, d, P]) is scored
 * against position q's Gaussian as its k-th entry; `consume` receives each result. The features are transposed
 * once into position rows and the kernel gathers the vectors by index, a kernel run of positions at a time
 * (all images per run unless one position's vectors for every image would not fit one).
 */
export async function scoreAgainstGrid(
  grid: GaussianGrid,
  source: Float32Array,
  images: number,
  perPosition: number,
  offsetOf: (q: number, k: number) => number,
  consume: (q: number, m: number, k: number, distance: number) => void,
): Promise<void> {
  const { dim: d, positions: P } = grid;
  const rows = toPositionRows(source, images, d, P);
  const bytesPerImage = 4 * perPosition * d;
  const group = Math.max(1, Math.min(images, Math.floor(KERNEL_CHUNK_BYTES / bytesPerImage)));
  const run = Math.max(1, Math.floor(KERNEL_CHUNK_BYTES / (bytesPerImage * group)));
  const indices = new Int32Array(Math.min(run, P) * group * perPosition);
  for (let chunkIndex = 0; chunkIndex < grid.precisions.length; chunkIndex++) {
    const c0 = chunkIndex * grid.chunkSize;
    const chunkEnd = Math.min(P, c0 + grid.chunkSize);
    const packed = grid.precisions[chunkIndex]!;
    for (let p0 = c0; p0 < chunkEnd; p0 += run) {
      const pc = Math.min(run, chunkEnd - p0);
      const means = grid.means.subarray(p0 * d, (p0 + pc) * d);
      const precision = { packed, count: chunkEnd - c0, first: p0 - c0 };
      for (let m0 = 0; m0 < images; m0 += group) {
        const mc = Math.min(group, images - m0);
        const perQ = mc * perPosition;
        for (let i = 0; i < pc; i++) {
          for (let k = 0; k < perPosition; k++) {
            const p = offsetOf(p0 + i, k);
            for (let m = 0; m < mc; m++) indices[(i * mc + m) * perPosition + k] = (m0 + m) * P + p;
          }
        }
        const dist = await mahalanobisOfRows(rows, indices.subarray(0, pc * perQ), means, precision, pc, perQ, d);
        for (let i = 0; i < pc; i++) {
          for (let m = 0; m < mc; m++) {
            for (let k = 0; k < perPosition; k++) consume(p0 + i, m0 + m, k, dist[(i * mc + m) * perPosition + k]!);
          }
        }
      }
    }
  }
}

/** Channel-major features [M, d, P] as position rows [M, P, d], transposed in tiles that stay in cache. */
function toPositionRows(source: Float32Array, images: number, dim: number, positions: number): Float32Array {
  const out = new Float32Array(images * positions * dim);
  const tile = 32;
  for (let m = 0; m < images; m++) {
    const base = m * dim * positions;
    for (let c0 = 0; c0 < dim; c0 += tile) {
      const c1 = Math.min(dim, c0 + tile);
      for (let p0 = 0; p0 < positions; p0 += tile) {
        const p1 = Math.min(positions, p0 + tile);
        for (let c = c0; c < c1; c++) {
          const from = base + c * positions;
          for (let p = p0; p < p1; p++) out[base + p * dim + c] = source[from + p]!;
        }
      }
    }
  }
  return out;
}

/** Squared distance of each position's vector (channel-major [M, d, P]) to that position's Gaussian, [M, P]. */
export async function positionDistances(grid: GaussianGrid, features: Float32Array, images: number): Promise<Float32Array> {
  const P = grid.positions;
  const out = new Float32Array(images * P);
  await scoreAgainstGrid(grid, features, images, 1, (q) => q, (q, m, _k, dist) => {
    out[m * P + q] = dist;
  });
  return out;
}

/**
 * Floating-point work of each heavy stage, counted from the shapes (one multiply-add = 2 FLOP). Element-wise
 * work (BatchNorm, ReLU, Sub, the ‖x‖² terms) is left out: it is memory-bound and small next to these.
 */
import { packedBlockBounds, packedMatrixSize } from '../src/engine/packedPrecision.js';

/** A convolution's FLOPs: 2 · Cin · Cout · k² · output pixels. */
export function convFlops(inChannels: number, outChannels: number, kernel: number, outSide: number): number {
  return 2 * inChannels * outChannels * kernel * kernel * outSide * outSide;
}

/**
 * ResNet-50 stem and stages 1–3 (bottlenecks of widths 64/128/256, 3/4/6 blocks; the stride on the 3×3
 * convolution, as ResNet50-v2 and torchvision's v1.5) for one square image of side `input`.
 * `widthFactor` 2 gives Wide-ResNet-50-2 (inner widths doubled).
 */
export function resnet50StagesFlops(input: number, widthFactor = 1): number {
  const stem = Math.ceil(input / 2);
  let flops = convFlops(3, 64, 7, stem);
  let inC = 64;
  let side = Math.ceil(stem / 2); // after the 3×3/2 max-pool
  const stages = [
    { out: 256, blocks: 3, stride: 1 },
    { out: 512, blocks: 4, stride: 2 },
    { out: 1024, blocks: 6, stride: 2 },
  ];
  for (const s of stages) {
    const width = (s.out / 4) * widthFactor;
    for (let b = 0; b < s.blocks; b++) {
      const stride = b === 0 ? s.stride : 1;
      const outSide = Math.ceil(side / stride);
      flops += convFlops(inC, width, 1, side); // 1×1 reduce at the input resolution
      flops += convFlops(width, width, 3, outSide); // 3×3 carries the stride
      flops += convFlops(width, s.out, 1, outSide); // 1×1 expand
      if (b === 0) flops += convFlops(inC, s.out, 1, outSide); // projection shortcut
      inC = s.out;
      side = outSide;
    }
  }
  return flops;
}

/** Centred Gram matrices of a batch: P positions × B vectors × d² (the per-position scatter). */
export function gramFlops(positions: number, batch: number, dim: number): number {
  return 2 * positions * batch * dim * dim;
}

/**
 * Squared Mahalanobis distances of K vectors at each of P positions: the precision matrix times (x − μ), 2 FLOP
 * per stored value of the matrix: d² below d = 384, the 0.625·d² of the packed strips from there on
 * (src/engine/packedPrecision.ts).
 */
export function mahalanobisFlops(positions: number, perPosition: number, dim: number): number {
  return 2 * positions * perPosition * packedMatrixSize(packedBlockBounds(dim), dim);
}

/** Distances of n vectors to k centroids via one MatMul: 2·n·k·d. */
export function nearestCentroidFlops(vectors: number, centroids: number, dim: number): number {
  return 2 * vectors * centroids * dim;
}

/** A plain MatMul [b, m, k] × [b, k, n]. */
export function matmulFlops(batch: number, m: number, k: number, n: number): number {
  return 2 * batch * m * k * n;
}

/** What decides the work of scoring one image. */
export interface ScoringShape {
  method: 'npad' | 'padim';
  dim: number;
  /** Side of the network input (224). */
  input: number;
  /** N-pad only: modules and shifting, as NpadOptions. */
  moduleA?: boolean;
  moduleB?: boolean;
  moduleC?: boolean;
  moduleD?: boolean;
  shiftSpace?: 'image' | 'features';
  /** Shifted copies besides the original (4: the axis directions). */
  shifts?: number;
}

/**
 * FLOP of scoring one image: the backbone once per crop it sees, and one Mahalanobis product per Gaussian a
 * feature meets (mahalanobisFlops). N-pad with module C meets the 9 Gaussians of its 3×3 neighbourhood in
 * module A; module D multiplies both modules by the copies in image space, while in feature space the copies
 * share the 21 distinct offsets of a 3×3 neighbourhood moved one cell in 4 directions (featureShifts.ts). Top-k
 * centroid distances and element-wise work are left out (under 1 %).
 */
export function scoringFlopsPerImage(s: ScoringShape): { backbone: number; mahalanobis: number; total: number } {
  const positions = (s.input / 4) ** 2;
  const perGaussian = mahalanobisFlops(positions, 1, s.dim);
  if (s.method === 'padim') {
    const backbone = resnet50StagesFlops(s.input);
    return { backbone, mahalanobis: perGaussian, total: backbone + perGaussian };
  }
  const copies = s.moduleD ? 1 + (s.shifts ?? 4) : 1;
  const hood = s.moduleC ? 9 : 1;
  const inFeatures = s.moduleD && s.shiftSpace === 'features';
  const crops = inFeatures ? 1 : copies;
  // Feature space: distinct offsets σ − o; for 4 unit shifts and a 3×3 hood that is the 5×5 square less its corners.
  const gaussiansA = !s.moduleA ? 0 : inFeatures ? (s.moduleC ? 21 : copies) : copies * hood;
  const gaussiansB = !s.moduleB ? 0 : copies;
  const backbone = crops * resnet50StagesFlops(s.input);
  const mahalanobis = (gaussiansA + gaussiansB) * perGaussian;
  return { backbone, mahalanobis, total: backbone + mahalanobis };
}

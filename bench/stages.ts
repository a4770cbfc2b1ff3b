/**
 * This machine's MatMul peak and each heavy stage's achieved GFLOP/s, measured at the shapes of a bottle fit
 * (224 crop → 56×56 = 3136 positions, batches of 16 images) with synthetic data, through the same engine code
 * the detector calls (src/engine, the feature extractor). Each stage is timed over repeated runs after one
 * warm-up run (onnxruntime optimises a graph on its first run) and the best run counts: the figures are what the
 * stage can do, the end-to-end timings in run.ts are what a fit or a scoring call does.
 */
import { FeatureExtractor } from '../src/backbone/featureExtractor.js';
import { blockedInverseFlops, blockedSpdInverse } from '../src/engine/blockedInverse.js';
import { mahalanobisOfRows } from '../src/engine/kernels.js';
import { assignToCentroids } from '../src/engine/kmeans.js';
import { packPrecisions } from '../src/engine/packedPrecision.js';
import { PositionStatistics, imagesPerGram } from '../src/engine/positionStatistics.js';
import { GraphBuilder } from '../src/onnx/graph.js';
import { cachedSession, runFloat } from '../src/onnx/session.js';
import { gramProductsAlone, inversionProductsAlone, kmeansProductAlone, mahalanobisProductsAlone, stageBytes } from './ceilings.js';
import { bestSeconds, randomFloats } from './timing.js';
import { gramFlops, mahalanobisFlops, matmulFlops, nearestCentroidFlops, resnet50StagesFlops } from './flops.js';
import { loadBackbone } from '../src/backbone/load.js';

/** One measured stage. */
export interface StageFigure {
  stage: string;
  /** What was run, e.g. `3136 positions × 16 images, d = 200`. */
  shape: string;
  flop: number;
  seconds: number;
  gflops: number;
  /** GFLOP/s of the stage's products alone at its shapes (bench/ceilings.ts); absent for the backbone and the peak. */
  productsAloneGflops?: number;
  /** Bytes the stage must move at least (bench/ceilings.ts stageBytes), for its memory ceiling. */
  bytes?: number;
}

/** What bounds a stage besides its own arrangement (bench/ceilings.ts). */
interface StageBounds {
  productsAlone: { flop: number; seconds: number };
  bytes: number;
}

function figure(stage: string, shape: string, flop: number, seconds: number, bounds?: StageBounds): StageFigure {
  const f: StageFigure = { stage, shape, flop, seconds, gflops: flop / seconds / 1e9 };
  if (bounds) {
    f.productsAloneGflops = bounds.productsAlone.flop / bounds.productsAlone.seconds / 1e9;
    f.bytes = bounds.bytes;
  }
  return f;
}

/** The largest batched MatMul rate this machine reaches through onnxruntime (square 1024 and 2048 products). */
export async function matmulPeak(): Promise<StageFigure> {
  let best: StageFigure | null = null;
  for (const [b, n] of [
    [8, 1024],
    [1, 2048],
  ] as const) {
    const session = await cachedSession(`bench-matmul:${b}:${n}`, () => {
      const g = new GraphBuilder('matmul');
      const a = g.input('a', 'float', [b, n, n]);
      const c = g.input('b', 'float', [b, n, n]);
      g.node('MatMul', [a, c], {}, 'y');
      g.output('y', 'float', [b, n, n]);
      return g.build();
    });
    const a = randomFloats(b * n * n, 3);
    const c = randomFloats(b * n * n, 5);
    const seconds = await bestSeconds(() => runFloat(session, { a: { data: a, dims: [b, n, n] }, b: { data: c, dims: [b, n, n] } }));
    const f = figure('MatMul peak', `${b} × ${n}×${n}·${n}×${n}`, matmulFlops(b, n, n, n), seconds);
    if (!best || f.gflops > best.gflops) best = f;
  }
  return best!;
}

/** Backbone (ResNet50-v2 stem + stages 1–3, with the feature grid and channel selection) on a batch of 16. */
export async function backboneStage(dim: number, batch = 16, size = 224): Promise<StageFigure> {
  const backbone = await loadBackbone({ kind: 'resnet50-v2' });
  const extractor = await FeatureExtractor.create(backbone, { upsample: 'nearest' }, { width: size, height: size });
  const images = randomFloats(batch * 3 * size * size, 7);
  const channels = Int32Array.from({ length: dim }, (_, i) => Math.floor((i * extractor.channels) / dim));
  const seconds = await bestSeconds(() => extractor.extract(images, batch, channels), 2);
  return figure('backbone', `${batch} images ${size}², stages 1–3`, batch * resnet50StagesFlops(size), seconds);
}

/**
 * Fitting's per-position statistics as a bottle fit accumulates them: 208 images (bottle has 209) added in
 * batches of 16 channel-major feature maps, transposed into the position-major gather buffer, Gram calls of up
 * to imagesPerGram images each, the Gram matrices summed into float64 packed triangles (all of it counted).
 */
export async function covarianceStage(dim: number, positions = 3136, batch = 16, images = 208): Promise<StageFigure> {
  const x = randomFloats(positions * batch * dim, 11);
  const gather = Math.min(imagesPerGram(positions, dim), images);
  const stats = new PositionStatistics(positions, dim, gather);
  const seconds = await bestSeconds(async () => {
    for (let i = 0; i < images; i += batch) await stats.add(x, batch);
    await stats.flush();
  }, 2);
  return figure('covariance', `${positions} positions × ${images} images (${gather} per Gram call), d = ${dim}`, gramFlops(positions, images, dim), seconds, {
    productsAlone: await gramProductsAlone(dim, positions, images),
    bytes: stageBytes.covariance(positions, images, dim),
  });
}

/** Symmetric, diagonally dominant test matrices (well conditioned, like a covariance + εI). */
function testMatrices(count: number, dim: number): Float32Array {
  const m = randomFloats(count * dim * dim, 13);
  for (let n = 0; n < count; n++) {
    const o = n * dim * dim;
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < i; j++) m[o + i * dim + j] = m[o + j * dim + i]!;
      m[o + i * dim + i] = dim;
    }
  }
  return m;
}

/**
 * Inverting a chunk of per-position covariance matrices (blockedSpdInverse, as the fit does). The FLOP count is
 * the algorithm's own (its MatMuls and leaf inverses, about the 2d³ of an LU inverse).
 */
export async function inversionStage(dim: number, count = 256): Promise<StageFigure> {
  const m = testMatrices(count, dim);
  const seconds = await bestSeconds(() => blockedSpdInverse(m, count, dim), 2);
  return figure('inversion', `${count} matrices, d = ${dim}`, blockedInverseFlops(count, dim), seconds, {
    productsAlone: await inversionProductsAlone(dim, count),
    bytes: stageBytes.inversion(count, dim),
  });
}

/**
 * The Mahalanobis shapes default scoring runs (shifting in feature space, src/method/npad/featureShifts.ts): per
 * position, module A scores its window's 21 offsets and module B the 5 shifts, PaDiM one vector, each times the
 * images scored together (1, or a batch of 16).
 */
export const SCORING_MAHALANOBIS_SHAPES: readonly { label: string; perPosition: number }[] = [
  { label: 'PaDiM, 1 image', perPosition: 1 },
  { label: 'N-pad module B, 1 image', perPosition: 5 },
  { label: 'N-pad module A, 1 image', perPosition: 21 },
  { label: 'PaDiM, 16 images', perPosition: 16 },
  { label: 'N-pad module B, 16 images', perPosition: 80 },
  { label: 'N-pad module A, 16 images', perPosition: 336 },
];

/** Scoring's Mahalanobis distances: a chunk of positions, K vectors each (a shape of SCORING_MAHALANOBIS_SHAPES). */
export async function mahalanobisStage(dim: number, perPosition: number, positions = 256, label = ''): Promise<StageFigure> {
  const x = randomFloats(positions * perPosition * dim, 17);
  const mu = randomFloats(positions * dim, 19);
  // Packed once beforehand, as a fitted or loaded model holds them; the vectors are rows gathered by index.
  const prec = { packed: packPrecisions(testMatrices(positions, dim), positions, dim), count: positions, first: 0 };
  const indices = Int32Array.from({ length: positions * perPosition }, (_, i) => i);
  const seconds = await bestSeconds(() => mahalanobisOfRows(x, indices, mu, prec, positions, perPosition, dim));
  const stage = `Mahalanobis (K = ${perPosition}${label ? `: ${label}` : ''})`;
  return figure(stage, `${positions} positions × ${perPosition} vectors, d = ${dim}`, mahalanobisFlops(positions, perPosition, dim), seconds, {
    productsAlone: await mahalanobisProductsAlone(dim, perPosition, positions),
    bytes: stageBytes.mahalanobis(positions, perPosition, dim),
  });
}

/** One k-means assignment step: sampled vectors against the centroid bank, in the detector's chunks (assignToCentroids). */
export async function kmeansStage(dim: number, vectors = 16384, centroids = 2048): Promise<StageFigure> {
  const x = randomFloats(vectors * dim, 23);
  const c = randomFloats(centroids * dim, 29);
  const seconds = await bestSeconds(() => assignToCentroids(x, vectors, c, centroids, dim));
  return figure('k-means assignment', `${vectors} vectors × ${centroids} centroids, d = ${dim}`, nearestCentroidFlops(vectors, centroids, dim), seconds, {
    productsAlone: await kmeansProductAlone(dim, vectors, centroids),
    bytes: stageBytes.kmeans(vectors, centroids, dim),
  });
}

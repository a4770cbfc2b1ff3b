/**
 * What bounds each heavy stage on this machine, measured in the same run as the stages (bench/stages.ts):
 *   - the memory bandwidth: a stage that must move B bytes for F FLOP cannot run faster than
 *     F / (B / bandwidth), its memory ceiling;
 *   - its products alone: the stage's MatMuls (and, for the inversion, its leaf inverses) at the stage's own
 *     shapes and run sizes, fed ready-made inputs, with none of the graph around them (gathers, centring,
 *     slices, concatenations, the float64 sums). No arrangement of the stage's graph in onnxruntime beats
 *     its products alone.
 * A stage whose ceilings are under half the MatMul peak cannot meet that target in this engine on this machine.
 */
import { blockedInverseFlops, blockedInverseWork, matricesPerRun } from '../src/engine/blockedInverse.js';
import { mahalanobisRunPositions } from '../src/engine/kernels.js';
import { vectorsPerAssignmentRun } from '../src/engine/kmeans.js';
import { packedBlockBounds, packedMatrixSize, packedStrips } from '../src/engine/packedPrecision.js';
import { imagesPerGram, packedSize, positionsPerGramRun } from '../src/engine/positionStatistics.js';
import { GraphBuilder } from '../src/onnx/graph.js';
import { cachedSession, floatTensor, runTensors } from '../src/onnx/session.js';
import type * as ort from 'onnxruntime-node';
import { gramFlops, mahalanobisFlops, nearestCentroidFlops } from './flops.js';
import { bestSeconds, randomFloats } from './timing.js';

/** Bytes read by onnxruntime per second: the best of a few ReduceSums over 512 MiB (2 threads). */
export async function memoryBandwidth(): Promise<number> {
  const rows = 64;
  const cols = 2 * 2 ** 20;
  const session = await cachedSession('bench-bandwidth', () => {
    const g = new GraphBuilder('bandwidth');
    const a = g.input('a', 'float', [rows, cols]);
    g.node('ReduceSum', [a, g.constInt64([1])], { keepdims: 0 }, 'y');
    g.output('y', 'float', [rows]);
    return g.build();
  });
  const data = randomFloats(rows * cols, 31);
  const seconds = await bestSeconds(() => runTensors(session, { a: floatTensor(data, [rows, cols]) }), 4);
  return data.byteLength / seconds;
}

/** Bytes each stage must move at least, for its memory ceiling. */
export const stageBytes = {
  /**
   * Per Gram call, the float64 packed sums read and written; per image, its features read, written into the
   * gather buffer and read by the Gram.
   */
  covariance(positions: number, images: number, dim: number): number {
    const calls = Math.ceil(images / Math.min(imagesPerGram(positions, dim), images));
    return calls * positions * (packedSize(dim) + dim) * 16 + images * positions * dim * 4 * 3;
  },
  /** Each stored precision value, each vector and each mean read once. */
  mahalanobis(positions: number, perPosition: number, dim: number): number {
    return 4 * positions * (packedMatrixSize(packedBlockBounds(dim), dim) + (perPosition + 1) * dim);
  },
  /** Each matrix read once and its inverse written once. */
  inversion(count: number, dim: number): number {
    return 8 * count * dim * dim;
  },
  /** The vectors and the centroid bank read once. */
  kmeans(vectors: number, centroids: number, dim: number): number {
    return 4 * (vectors + centroids) * dim;
  },
};

/** Best seconds of running `session` over `total` items, `perRun` at a time, items first … first+n−1 fed by `feeds`. */
async function timeRuns(
  session: ort.InferenceSession,
  total: number,
  perRun: number,
  feeds: (first: number, n: number) => Record<string, ort.Tensor>,
): Promise<number> {
  return bestSeconds(async () => {
    for (let first = 0; first < total; first += perRun) await runTensors(session, feeds(first, Math.min(perRun, total - first)));
  });
}

/**
 * Mahalanobis products alone: the strip MatMuls of the packed form (strip_i · tail_i, the vectors as columns),
 * or below d = 384 the one (x − μ)·Σ⁻¹, at the kernel's run size. Returns seconds for `positions` positions;
 * the FLOP are mahalanobisFlops.
 */
export async function mahalanobisProductsAlone(dim: number, perPosition: number, positions: number): Promise<{ flop: number; seconds: number }> {
  const bounds = packedBlockBounds(dim);
  const run = Math.min(positions, mahalanobisRunPositions(dim, perPosition));
  const K = perPosition;
  const strips = bounds.length === 2 ? [{ start: 0, end: dim }] : packedStrips(bounds, dim);
  const session = await cachedSession(`bench-mahalanobis-products:${dim}:${K}`, () => {
    const g = new GraphBuilder('mahalanobisProducts');
    strips.forEach(({ start, end }, i) => {
      const strip = g.input(`strip${i}`, 'float', ['p', end - start, dim - start]);
      if (bounds.length === 2) {
        const rows = g.input(`vectors${i}`, 'float', ['p', K, dim]);
        g.node('MatMul', [rows, strip], {}, `y${i}`);
        g.output(`y${i}`, 'float', ['p', K, dim]);
      } else {
        const tail = g.input(`vectors${i}`, 'float', ['p', dim - start, K]);
        g.node('MatMul', [strip, tail], {}, `y${i}`);
        g.output(`y${i}`, 'float', ['p', end - start, K]);
      }
    });
    return g.build();
  }, { arena: true });
  // The strips of every position (read from memory, as in scoring); one run's vectors, reused (they are made
  // in the graph and sit in cache there).
  const stripData = strips.map(({ start, end }, i) => randomFloats(positions * (end - start) * (dim - start), 41 + i));
  const vectorData = strips.map(({ start }, i) => randomFloats(run * (dim - start) * K, 51 + i));
  const seconds = await timeRuns(session, positions, run, (first, n) => {
    const feeds: Record<string, ort.Tensor> = {};
    strips.forEach(({ start, end }, i) => {
      const size = (end - start) * (dim - start);
      feeds[`strip${i}`] = floatTensor(stripData[i]!.subarray(first * size, (first + n) * size), [n, end - start, dim - start]);
      const vectorDims = bounds.length === 2 ? [n, K, dim] : [n, dim - start, K];
      feeds[`vectors${i}`] = floatTensor(vectorData[i]!.subarray(0, n * (dim - start) * K), vectorDims);
    });
    return feeds;
  });
  return { flop: mahalanobisFlops(positions, K, dim), seconds };
}

/** The covariance's Gram products alone: xcᵀ·xc per position, imagesPerGram images, in its runs of positions. */
export async function gramProductsAlone(dim: number, positions: number, images: number): Promise<{ flop: number; seconds: number }> {
  const batch = Math.min(imagesPerGram(positions, dim), images);
  const run = positionsPerGramRun(dim);
  const session = await cachedSession(`bench-gram-products:${dim}`, () => {
    const g = new GraphBuilder('gramProducts');
    const x = g.input('x', 'float', ['q', 'b', dim]);
    g.node('MatMul', [g.node('Transpose', [x], { perm: [0, 2, 1] }), x], {}, 'grams');
    g.output('grams', 'float', ['q', dim, dim]);
    return g.build();
  }, { arena: true });
  const x = randomFloats(positions * batch * dim, 61);
  const seconds = await timeRuns(session, positions, run, (first, n) => ({
    x: floatTensor(x.subarray(first * batch * dim, (first + n) * batch * dim), [n, batch, dim]),
  }));
  // One Gram call's products; the stage makes ⌈images / batch⌉ of them, at the same rate.
  return { flop: gramFlops(positions, batch, dim), seconds };
}

/** The inversion's MatMuls and leaf inverses alone (blockedInverseWork), on ready-made inputs, at its run size. */
export async function inversionProductsAlone(dim: number, count: number): Promise<{ flop: number; seconds: number }> {
  const work = blockedInverseWork(dim);
  const run = Math.min(count, matricesPerRun(dim));
  const session = await cachedSession(`bench-inversion-products:${dim}`, () => {
    const g = new GraphBuilder('inversionProducts');
    work.matmuls.forEach(([m, k, n], i) => {
      g.node('MatMul', [g.input(`a${i}`, 'float', ['n', m, k]), g.input(`b${i}`, 'float', ['n', k, n])], {}, `y${i}`);
      g.output(`y${i}`, 'float', ['n', m, n]);
    });
    work.leaves.forEach((s, i) => {
      g.node('Inverse', [g.input(`leaf${i}`, 'float', ['n', s, s])], {}, `inverse${i}`, 'com.microsoft');
      g.output(`inverse${i}`, 'float', ['n', s, s]);
    });
    return g.build();
  }, { arena: true });
  const feeds: Record<string, ort.Tensor> = {};
  work.matmuls.forEach(([m, k, n], i) => {
    feeds[`a${i}`] = floatTensor(randomFloats(run * m * k, 71 + i), [run, m, k]);
    feeds[`b${i}`] = floatTensor(randomFloats(run * k * n, 171 + i), [run, k, n]);
  });
  work.leaves.forEach((s, i) => {
    const leaf = randomFloats(run * s * s, 271 + i);
    for (let j = 0; j < run; j++) for (let r = 0; r < s; r++) leaf[(j * s + r) * s + r] = s; // well away from singular
    feeds[`leaf${i}`] = floatTensor(leaf, [run, s, s]);
  });
  // Every run gets the same inputs, whole runs only: the matrices of one run are a few MB, as in the
  // inversion's own runs.
  const matrices = Math.ceil(count / run) * run;
  const seconds = await timeRuns(session, matrices, run, () => feeds);
  return { flop: blockedInverseFlops(matrices, dim), seconds };
}

/** The k-means assignment's product alone: the Gemm x·cᵀ, in the detector's runs of vectors. */
export async function kmeansProductAlone(dim: number, vectors: number, centroids: number): Promise<{ flop: number; seconds: number }> {
  const run = vectorsPerAssignmentRun(centroids);
  const session = await cachedSession(`bench-kmeans-product:${dim}`, () => {
    const g = new GraphBuilder('kmeansProduct');
    g.node('Gemm', [g.input('x', 'float', ['n', dim]), g.input('c', 'float', ['k', dim])], { transB: 1 }, 'y');
    g.output('y', 'float', ['n', 'k']);
    return g.build();
  }, { arena: true });
  const x = randomFloats(vectors * dim, 81);
  const c = floatTensor(randomFloats(centroids * dim, 83), [centroids, dim]);
  const seconds = await timeRuns(session, vectors, run, (first, n) => ({ x: floatTensor(x.subarray(first * dim, (first + n) * dim), [n, dim]), c }));
  return { flop: nearestCentroidFlops(vectors, centroids, dim), seconds };
}

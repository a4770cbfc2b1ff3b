/**
 * What bounds each heavy stage on this machine, measured in the same run as the stages (bench/stages.ts):
 *   - the memory bandwidth: a stage that must move B bytes for F FLOP cannot run faster than
 *     F / (B / bandwidth), its memory ceiling;
 *   - its products alone: the time onnxruntime's profiler gives the stage's MatMuls (and, for the inversion, its
 *     leaf inverses) at the stage's own shapes and run sizes, fed ready-made inputs, without the rest of the
 *     graph (gathers, centring, slices, concatenations, the float64 sums). No arrangement of the stage's graph
 *     in onnxruntime beats its products alone.
 * A stage whose ceilings are under half the MatMul peak cannot meet that target in this engine on this machine.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { blockedInverseFlops, blockedInverseWork, matricesPerRun } from '../src/engine/blockedInverse.js';
import { mahalanobisProductForm, mahalanobisRunPositions } from '../src/engine/kernels.js';
import { vectorsPerAssignmentRun } from '../src/engine/kmeans.js';
import { packedBlockBounds, packedMatrixSize, packedStrips } from '../src/engine/packedPrecision.js';
import { imagesPerGram, packedSize, positionsPerGramRun } from '../src/engine/positionStatistics.js';
import { GraphBuilder } from '../src/onnx/graph.js';
import { cachedSession, floatTensor, runTensors, sessionOptions } from '../src/onnx/session.js';
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

/** Operators that do a stage's arithmetic; everything else in a graph is moving data. */
const PRODUCT_OPS = new Set(['MatMul', 'FusedMatMul', 'Gemm', 'Inverse']);

/** One profiled event of onnxruntime (the fields read here). */
interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/**
 * Seconds per pass that the product operators of `model` take, from onnxruntime's own profile: one pass runs the
 * model once per feed set in `runs`; after a warm-up pass, `passes` more are profiled and the fastest counts. The
 * graphs end in a small reduction, so the products are intermediates in the arena, as in the stages' own graphs.
 */
async function productSeconds(model: Uint8Array, runs: readonly Record<string, ort.Tensor>[], passes = 3): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-profile-'));
  try {
    const session = await ort.InferenceSession.create(model, {
      ...sessionOptions({ arena: true }),
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'profile'),
    });
    for (let pass = 0; pass <= passes; pass++) for (const feeds of runs) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const [file] = await readdir(dir);
    const events = JSON.parse(await readFile(path.join(dir, file!), 'utf8')) as ProfileEvent[];
    // Each session run is one model_run event; node events fall inside their run's span.
    const spans = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((x, y) => x.ts - y.ts);
    const passOf = (ts: number): number => Math.floor((spans.filter((r) => r.ts <= ts).length - 1) / runs.length);
    const perPass = new Array<number>(passes + 1).fill(0);
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !PRODUCT_OPS.has(e.args?.op_name ?? '')) continue;
      const pass = passOf(e.ts);
      if (pass >= 1) perPass[pass]! += e.dur / 1e6;
    }
    return Math.min(...perPass.slice(1));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Items first … first+n−1 of `total`, `perRun` at a time. */
function runsOf(total: number, perRun: number): { first: number; n: number }[] {
  const out: { first: number; n: number }[] = [];
  for (let first = 0; first < total; first += perRun) out.push({ first, n: Math.min(perRun, total - first) });
  return out;
}

/** Sums `value` over its last two axes into a small output named `name`, so the products stay intermediates. */
function smallOutput(g: GraphBuilder, value: string, name: string): void {
  g.node('ReduceSum', [value, g.constInt64([1, 2])], { keepdims: 0 }, name);
  g.output(name, 'float', ['p']);
}

/**
 * Mahalanobis products alone: the strip MatMuls of the packed form in the kernel's form for K vectors
 * (mahalanobisProductForm), or below d = 384 the one (x − μ)·Σ⁻¹, at the kernel's run size, for `positions` positions.
 */
export async function mahalanobisProductsAlone(dim: number, perPosition: number, positions: number): Promise<{ flop: number; seconds: number }> {
  const bounds = packedBlockBounds(dim);
  const K = perPosition;
  const asRows = mahalanobisProductForm(dim, K) === 'rows';
  const strips = bounds.length === 2 ? [{ start: 0, end: dim }] : packedStrips(bounds, dim);
  // The vectors' shape for a strip starting at channel `start`: rows [n, K, d − start] or columns [n, d − start, K].
  const vectorDims = (n: number, start: number): number[] => (asRows ? [n, K, dim - start] : [n, dim - start, K]);
  const g = new GraphBuilder('mahalanobisProducts');
  strips.forEach(({ start, end }, i) => {
    const strip = g.input(`strip${i}`, 'float', ['p', end - start, dim - start]);
    const vectors = g.input(`vectors${i}`, 'float', ['p', ...vectorDims(1, start).slice(1)]);
    const product =
      bounds.length === 2
        ? g.node('MatMul', [vectors, strip])
        : asRows
          ? g.node('MatMul', [vectors, g.node('Transpose', [strip], { perm: [0, 2, 1] })])
          : g.node('MatMul', [strip, vectors]);
    smallOutput(g, product, `y${i}`);
  });
  const run = Math.min(positions, mahalanobisRunPositions(dim, K));
  // The strips of every position (read from memory, as in scoring); one run's vectors, reused (in the stage they
  // are made in the graph and sit in cache).
  const stripData = strips.map(({ start, end }, i) => randomFloats(positions * (end - start) * (dim - start), 41 + i));
  const vectorData = strips.map(({ start }, i) => randomFloats(run * (dim - start) * K, 51 + i));
  const runs = runsOf(positions, run).map(({ first, n }) => {
    const feeds: Record<string, ort.Tensor> = {};
    strips.forEach(({ start, end }, i) => {
      const size = (end - start) * (dim - start);
      feeds[`strip${i}`] = floatTensor(stripData[i]!.subarray(first * size, (first + n) * size), [n, end - start, dim - start]);
      feeds[`vectors${i}`] = floatTensor(vectorData[i]!.subarray(0, n * (dim - start) * K), vectorDims(n, start));
    });
    return feeds;
  });
  return { flop: mahalanobisFlops(positions, K, dim), seconds: await productSeconds(g.build(), runs) };
}

/** One Gram call's products alone: xcᵀ·xc per position for imagesPerGram images, in its runs of positions. */
export async function gramProductsAlone(dim: number, positions: number, images: number): Promise<{ flop: number; seconds: number }> {
  const batch = Math.min(imagesPerGram(positions, dim), images);
  const g = new GraphBuilder('gramProducts');
  const x = g.input('x', 'float', ['p', 'b', dim]);
  smallOutput(g, g.node('MatMul', [g.node('Transpose', [x], { perm: [0, 2, 1] }), x]), 'y');
  const data = randomFloats(positions * batch * dim, 61);
  const runs = runsOf(positions, positionsPerGramRun(dim)).map(({ first, n }) => ({
    x: floatTensor(data.subarray(first * batch * dim, (first + n) * batch * dim), [n, batch, dim]),
  }));
  // The stage makes ⌈images / batch⌉ such calls, at the same rate.
  return { flop: gramFlops(positions, batch, dim), seconds: await productSeconds(g.build(), runs) };
}

/** The inversion's MatMuls and leaf inverses alone (blockedInverseWork), on ready-made inputs, at its run size. */
export async function inversionProductsAlone(dim: number, count: number): Promise<{ flop: number; seconds: number }> {
  const work = blockedInverseWork(dim);
  const run = Math.min(count, matricesPerRun(dim));
  const g = new GraphBuilder('inversionProducts');
  const feeds: Record<string, ort.Tensor> = {};
  work.matmuls.forEach(([m, k, n], i) => {
    smallOutput(g, g.node('MatMul', [g.input(`a${i}`, 'float', ['p', m, k]), g.input(`b${i}`, 'float', ['p', k, n])]), `y${i}`);
    feeds[`a${i}`] = floatTensor(randomFloats(run * m * k, 71 + i), [run, m, k]);
    feeds[`b${i}`] = floatTensor(randomFloats(run * k * n, 171 + i), [run, k, n]);
  });
  work.leaves.forEach((s, i) => {
    smallOutput(g, g.node('Inverse', [g.input(`leaf${i}`, 'float', ['p', s, s])], {}, undefined, 'com.microsoft'), `inverse${i}`);
    const leaf = randomFloats(run * s * s, 271 + i);
    for (let j = 0; j < run; j++) for (let r = 0; r < s; r++) leaf[(j * s + r) * s + r] = s; // well away from singular
    feeds[`leaf${i}`] = floatTensor(leaf, [run, s, s]);
  });
  // Whole runs, each on the same few MB of inputs, as the inversion's own runs are.
  const runs = runsOf(count, run).map(() => feeds);
  return { flop: blockedInverseFlops(runs.length * run, dim), seconds: await productSeconds(g.build(), runs) };
}

/** The k-means assignment's product alone: the Gemm x·cᵀ, in the detector's runs of vectors. */
export async function kmeansProductAlone(dim: number, vectors: number, centroids: number): Promise<{ flop: number; seconds: number }> {
  const g = new GraphBuilder('kmeansProduct');
  const product = g.node('Gemm', [g.input('x', 'float', ['n', dim]), g.input('c', 'float', ['k', dim])], { transB: 1 });
  g.node('ReduceSum', [product, g.constInt64([1])], { keepdims: 0 }, 'y');
  g.output('y', 'float', ['n']);
  const x = randomFloats(vectors * dim, 81);
  const c = floatTensor(randomFloats(centroids * dim, 83), [centroids, dim]);
  const runs = runsOf(vectors, vectorsPerAssignmentRun(centroids)).map(({ first, n }) => ({
    x: floatTensor(x.subarray(first * dim, (first + n) * dim), [n, dim]),
    c,
  }));
  return { flop: nearestCentroidFlops(vectors, centroids, dim), seconds: await productSeconds(g.build(), runs) };
}

/**
 * The numeric kernels as small ONNX graphs run by onnxruntime (batched MatMul, com.microsoft Inverse, ...).
 * Each function builds its graph once (cached by name and fixed sizes) and runs it on one chunk of
 * positions; the chunking itself lives with the callers, which know their memory budget.
 * Plain TypeScript equivalents for tests are in reference.ts.
 */
import { GraphBuilder } from '../onnx/graph.js';
import { cachedSession, runFloat } from '../onnx/session.js';

/**
 * Per-position centred sums and Gram matrices of one batch.
 * x: [P, B, d] (position-major features), reference: [P, d] (centring point per position).
 * Returns sums [P, d] of (x − ref) and grams [P, d, d] of Σ_b (x − ref)(x − ref)ᵀ, in float32; the batch is
 * short (≤ a few dozen images) and centred, so float32 is exact enough here; callers add the batches in float64.
 */
export async function centredGram(
  x: Float32Array,
  reference: Float32Array,
  positions: number,
  batch: number,
  dim: number,
): Promise<{ sums: Float32Array; grams: Float32Array }> {
  const session = await cachedSession(`centredGram:${dim}`, () => {
    const g = new GraphBuilder('centredGram');
    const xs = g.input('x', 'float', ['p', 'b', dim]);
    const ref = g.input('reference', 'float', ['p', dim]);
    const refB = g.node('Unsqueeze', [ref, g.constInt64([1])]);
    const xc = g.node('Sub', [xs, refB]);
    g.node('ReduceSum', [xc, g.constInt64([1])], { keepdims: 0 }, 'sums');
    const xt = g.node('Transpose', [xc], { perm: [0, 2, 1] });
    g.node('MatMul', [xt, xc], {}, 'grams');
    g.output('sums', 'float', ['p', dim]);
    g.output('grams', 'float', ['p', dim, dim]);
    return g.build();
  });
  const out = await runFloat(session, {
    x: { data: x, dims: [positions, batch, dim] },
    reference: { data: reference, dims: [positions, dim] },
  });
  return { sums: out.sums!.data, grams: out.grams!.data };
}

/** Batched matrix inverse: [n, d, d] → [n, d, d] (com.microsoft Inverse, LU with pivoting). */
export async function batchedInverse(matrices: Float32Array, count: number, dim: number): Promise<Float32Array> {
  const session = await cachedSession(`inverse:${dim}`, () => {
    const g = new GraphBuilder('inverse');
    const a = g.input('a', 'float', ['n', dim, dim]);
    g.node('Inverse', [a], {}, 'inverse', 'com.microsoft');
    g.output('inverse', 'float', ['n', dim, dim]);
    return g.build();
  });
  const out = await runFloat(session, { a: { data: matrices, dims: [count, dim, dim] } });
  return out.inverse!.data;
}

/**
 * Squared Mahalanobis distances of K vectors per position to that position's Gaussian.
 * vectors: [P, K, d], means: [P, d], precisions: [P, d, d] → [P, K] with (x − μ)ᵀ Σ⁻¹ (x − μ).
 */
export async function batchedMahalanobis(
  vectors: Float32Array,
  means: Float32Array,
  precisions: Float32Array,
  positions: number,
  perPosition: number,
  dim: number,
): Promise<Float32Array> {
  const session = await cachedSession(`mahalanobis:${dim}`, () => {
    const g = new GraphBuilder('mahalanobis');
    const x = g.input('x', 'float', ['p', 'k', dim]);
    const mu = g.input('mean', 'float', ['p', dim]);
    const prec = g.input('precision', 'float', ['p', dim, dim]);
    const diff = g.node('Sub', [x, g.node('Unsqueeze', [mu, g.constInt64([1])])]);
    const projected = g.node('MatMul', [diff, prec]);
    const product = g.node('Mul', [projected, diff]);
    g.node('ReduceSum', [product, g.constInt64([2])], { keepdims: 0 }, 'distance');
    g.output('distance', 'float', ['p', 'k']);
    return g.build();
  });
  const out = await runFloat(session, {
    x: { data: vectors, dims: [positions, perPosition, dim] },
    mean: { data: means, dims: [positions, dim] },
    precision: { data: precisions, dims: [positions, dim, dim] },
  });
  return out.distance!.data;
}

/**
 * Nearest centroid of each vector: vectors [n, d], centroids [k, d] → squared Euclidean distance and index.
 * Uses ‖x‖² − 2x·c + ‖c‖² so the work is one MatMul; distances are clamped at 0 against rounding.
 */
export async function nearestCentroid(
  vectors: Float32Array,
  count: number,
  centroids: Float32Array,
  centroidCount: number,
  dim: number,
): Promise<{ distances: Float32Array; indices: Int32Array }> {
  const session = await cachedSession(`nearest:${dim}`, () => {
    const g = new GraphBuilder('nearest');
    const x = g.input('x', 'float', ['n', dim]);
    const c = g.input('centroids', 'float', ['k', dim]);
    const axis1 = g.constInt64([1]);
    const xNorm = g.node('ReduceSum', [g.node('Mul', [x, x]), axis1], { keepdims: 1 });
    const cNorm = g.node('ReduceSum', [g.node('Mul', [c, c]), axis1], { keepdims: 0 });
    // Gemm reads the centroids transposed in place (no copy of the bank per call): ‖c‖² − 2·x·cᵀ. ‖x‖² is the
    // same for every centroid, so it is added after the minimum: the [n, k] product is written once and read
    // once (ArgMin), which matters because at d = 200 those passes cost as much as the product itself.
    const cross = g.node('Gemm', [x, c, cNorm], { transB: 1, alpha: { float: -2 }, beta: { float: 1 } });
    const nearest = g.node('ArgMin', [cross], { axis: 1, keepdims: 1 });
    const partial = g.node('GatherElements', [cross, nearest], { axis: 1 });
    const d2 = g.node('Add', [partial, xNorm]);
    g.node('Relu', [g.node('Squeeze', [d2, axis1])], {}, 'distance');
    g.node('Cast', [g.node('Squeeze', [nearest, axis1])], { to: 1 }, 'index');
    g.output('distance', 'float', ['n']);
    g.output('index', 'float', ['n']);
    return g.build();
  });
  const out = await runFloat(session, {
    x: { data: vectors, dims: [count, dim] },
    centroids: { data: centroids, dims: [centroidCount, dim] },
  });
  return { distances: out.distance!.data, indices: Int32Array.from(out.index!.data) };
}

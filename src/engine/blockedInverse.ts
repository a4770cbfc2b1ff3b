/**
 * Batched inverse of symmetric positive definite matrices by recursive 2×2 block (Schur complement) inversion,
 * as one ONNX graph per size. com.microsoft `Inverse` does one unblocked LU per matrix and reaches a fraction of
 * the MatMul rate; here all but the small leaf inverses are batched MatMuls.
 *
 * For A = [[P, Q], [Qᵀ, R]] (P m×m, R k×k, d = m + k):
 *   Pi = P⁻¹, W = Pi·Q, S = R − Qᵀ·W (the Schur complement, SPD when A is), Si = S⁻¹, V = W·Si,
 *   A⁻¹ = [[Pi + V·Wᵀ, −V], [−Vᵀ, Si]].
 * Two cheap steps keep it as accurate as LU on ill-conditioned covariances (without them, float32 errors
 * compound level by level: residuals ‖A·X − I‖ of 10 instead of 1e-5 at d = 200, garbage at d = 550):
 *   - W gets one step of iterative refinement, W ← W + Pi·(Q − P·W): an explicit Pi carries an error of order
 *     ε·κ(P), which the plain product W = Pi·Q would pass on to S;
 *   - S is symmetrised, S ← (S + Sᵀ)/2, before it is inverted.
 * The recursion is unrolled when the graph is built (the size is fixed per graph; the batch size is symbolic).
 */
import { GraphBuilder } from '../onnx/graph.js';
import { KERNEL_CHUNK_BYTES } from './kernels.js';
import { cachedSession, runFloat } from '../onnx/session.js';

/**
 * Default leaf size: blocks of at most this size are inverted by com.microsoft `Inverse`. On the 2-core bench
 * machine leaves of 48–64 were fastest at d = 100, 200 and 550 (32 adds too many small nodes; 96–128 leave
 * too much work to the slow LU), with under 10 % between 32 and 96.
 */
export const BLOCKED_INVERSE_LEAF = 64;

/**
 * Block sizes of one split are rounded to this multiple, for MatMul panels aligned to its SIMD kernels (no
 * measurable difference against plain halving on this machine, but it gives fewer, rounder blocks).
 */
const ALIGN = 16;

/** Tuning knobs of blockedSpdInverse. */
export interface BlockedInverseOptions {
  /** Blocks of at most this size are inverted by com.microsoft `Inverse`. */
  leaf?: number;
  /**
   * Input bytes per onnxruntime run (at least one matrix per run); default the kernels' run size,
   * KERNEL_CHUNK_BYTES. The graph makes about twenty intermediate tensors per level: run on a whole 256-matrix
   * batch they were hundreds of MB of fresh memory, 1.3–1.6× slower than small runs. With the session's arena,
   * 8 MiB runs measured as fast as 16 MiB and faster than 4 MiB (d = 550: 71 against 61 GFLOP/s).
   */
  chunkBytes?: number;
}

/**
 * Size m of the leading block when a d×d matrix is split, or null when d ≤ leaf and the matrix is a leaf.
 * m is the multiple of 16 nearest d/2 (kept within [1, d − 1]); if d is too small for that, ⌊d/2⌋.
 * Shared by the graph builder and blockedInverseFlops so that the two cannot diverge.
 */
export function blockSplit(dim: number, leaf: number = BLOCKED_INVERSE_LEAF): number | null {
  if (dim <= leaf) return null;
  const aligned = Math.round(dim / 2 / ALIGN) * ALIGN;
  return aligned >= 1 && aligned <= dim - 1 ? aligned : Math.floor(dim / 2);
}

/** FLOPs of one batched MatMul of an m×k by a k×n matrix: 2·m·k·n. */
function matmulFlops(m: number, k: number, n: number): number {
  return 2 * m * k * n;
}

/** The arithmetic of inverting one d×d matrix: its MatMuls (m×k by k×n) and its leaf inverses (sizes). */
export interface BlockedInverseWork {
  matmuls: [m: number, k: number, n: number][];
  leaves: number[];
}

/** The MatMuls and leaf inverses blockedSpdInverse does for one d×d matrix, in the graph's order of recursion. */
export function blockedInverseWork(dim: number, leaf: number = BLOCKED_INVERSE_LEAF): BlockedInverseWork {
  const work: BlockedInverseWork = { matmuls: [], leaves: [] };
  const visit = (d: number): void => {
    const m = blockSplit(d, leaf);
    if (m === null) {
      work.leaves.push(d);
      return;
    }
    const k = d - m;
    visit(m);
    // W = Pi·Q, then P·W and Pi·(Q − P·W) for its refinement; Qᵀ·W.
    work.matmuls.push([m, m, k], [m, m, k], [m, m, k], [k, m, k]);
    visit(k);
    work.matmuls.push([m, k, k], [m, k, m]); // V = W·Si, V·Wᵀ
  };
  visit(dim);
  return work;
}

/**
 * FLOPs this algorithm does for `count` d×d matrices: 2·m·k·n per MatMul (m×k by k×n) plus 2·s³ per leaf
 * `Inverse` of size s (the conventional LU-inverse count). Element-wise work (Sub, Add, Concat, ...) is left out.
 */
export function blockedInverseFlops(count: number, dim: number, leaf: number = BLOCKED_INVERSE_LEAF): number {
  const { matmuls, leaves } = blockedInverseWork(dim, leaf);
  const products = matmuls.reduce((sum, [m, k, n]) => sum + matmulFlops(m, k, n), 0);
  return count * (products + leaves.reduce((sum, s) => sum + 2 * s ** 3, 0));
}

/** Slices rows [r0, r1) and columns [c0, c1) of a batch of matrices [n, rows, cols]. */
function block(g: GraphBuilder, x: string, r0: number, r1: number, c0: number, c1: number): string {
  return g.node('Slice', [x, g.constInt64([r0, c0]), g.constInt64([r1, c1]), g.constInt64([1, 2])]);
}

/** Transposes each matrix of a batch; onnxruntime folds a Transpose that feeds a MatMul into the MatMul. */
function transpose(g: GraphBuilder, x: string): string {
  return g.node('Transpose', [x], { perm: [0, 2, 1] });
}

/** W = P⁻¹·Q with one refinement step, W₀ + Pi·(Q − P·W₀), against the error of the explicit inverse Pi. */
function refinedSolve(g: GraphBuilder, p: string, pi: string, q: string): string {
  const w0 = g.node('MatMul', [pi, q]);
  const correction = g.node('MatMul', [pi, g.node('Sub', [q, g.node('MatMul', [p, w0])])]);
  return g.node('Add', [w0, correction]);
}

/** (X + Xᵀ)/2 of each matrix of a batch. */
function symmetrise(g: GraphBuilder, x: string): string {
  return g.node('Mul', [g.node('Add', [x, transpose(g, x)]), g.constFloat([0.5], [])]);
}

/** Appends the nodes that invert `a` ([n, dim, dim], SPD) and returns the inverse's value name. */
function invertBlock(g: GraphBuilder, a: string, dim: number, leaf: number): string {
  const m = blockSplit(dim, leaf);
  if (m === null) return g.node('Inverse', [a], {}, undefined, 'com.microsoft');
  const p = block(g, a, 0, m, 0, m);
  const q = block(g, a, 0, m, m, dim);
  const r = block(g, a, m, dim, m, dim);
  const pi = invertBlock(g, p, m, leaf);
  const w = refinedSolve(g, p, pi, q);
  const s = symmetrise(g, g.node('Sub', [r, g.node('MatMul', [transpose(g, q), w])]));
  const si = invertBlock(g, s, dim - m, leaf);
  const negV = g.node('Neg', [g.node('MatMul', [w, si])]);
  // Pi + V·Wᵀ = Pi − (−V)·Wᵀ.
  const topLeft = g.node('Sub', [pi, g.node('MatMul', [negV, transpose(g, w)])]);
  const top = g.node('Concat', [topLeft, negV], { axis: 2 });
  const bottom = g.node('Concat', [transpose(g, negV), si], { axis: 2 });
  return g.node('Concat', [top, bottom], { axis: 1 });
}

/** The ONNX model inverting a batch [n, dim, dim] of SPD matrices. */
function blockedInverseModel(dim: number, leaf: number): Uint8Array {
  const g = new GraphBuilder('blockedInverse');
  const a = g.input('a', 'float', ['n', dim, dim]);
  g.node('Identity', [invertBlock(g, a, dim, leaf)], {}, 'inverse');
  g.output('inverse', 'float', ['n', dim, dim]);
  return g.build();
}

/** Matrices per onnxruntime run: as many as fit in `chunkBytes`, at least one. */
export function matricesPerRun(dim: number, chunkBytes: number = KERNEL_CHUNK_BYTES): number {
  return Math.max(1, Math.floor(chunkBytes / (4 * dim * dim)));
}

/**
 * Batched inverse of symmetric positive definite float32 matrices: [n, d, d] → [n, d, d], the same contract as
 * `batchedInverse` in kernels.ts (and as accurate on ill-conditioned covariances), with most of the work in
 * batched MatMuls. Only for SPD input (no pivoting; for an indefinite matrix a Schur complement can be
 * singular). The batch is run a few matrices at a time (options.chunkBytes), so intermediate tensors stay small.
 */
export async function blockedSpdInverse(
  matrices: Float32Array,
  count: number,
  dim: number,
  options: BlockedInverseOptions = {},
): Promise<Float32Array> {
  const leaf = options.leaf ?? BLOCKED_INVERSE_LEAF;
  const size = dim * dim;
  if (matrices.length !== count * size) throw new RangeError(`expected ${count}×${dim}×${dim} values, got ${matrices.length}`);
  const session = await cachedSession(`blockedInverse:${dim}:${leaf}`, () => blockedInverseModel(dim, leaf), { arena: true });
  const perRun = matricesPerRun(dim, options.chunkBytes);
  const out = new Float32Array(count * size);
  for (let first = 0; first < count; first += perRun) {
    const n = Math.min(perRun, count - first);
    const input = matrices.subarray(first * size, (first + n) * size);
    const result = await runFloat(session, { a: { data: input, dims: [n, dim, dim] } });
    out.set(result.inverse!.data, first * size);
  }
  return out;
}

/**
 * PatchCore's memory-bank subsampling (Roth et al., CVPR 2022, §3.2), as the authors' ApproximateGreedyCoresetSampler:
 * the vectors are mapped to a few dimensions by a random linear projection, the distance of every vector to the
 * (empty) coreset is initialised with its mean distance to a few random starting points, and the greedy k-center
 * rule then repeatedly takes the vector farthest from the coreset and lowers every distance by the new member.
 *
 * The distances run as ONNX graphs (a Gemm over all vectors), and the selection compares their squares. The greedy
 * rule is sequential, one distance row per selected vector, so one vector per graph call would be bound by the
 * per-call overhead; instead each call computes the rows of the current top-b candidates (the b vectors farthest
 * from the coreset), and the selection proceeds while the farthest vector is one of them (loweringKernel.ts lowers
 * the distances by each new member's row). That is exact: distances only decrease, so a vector outside the
 * candidates can only become the farthest by being the argmax over all n, which is checked at every step; then
 * the next call fetches new candidates. The selection order is the plain algorithm's, step by step.
 */
import { GraphBuilder } from '../onnx/graph.js';
import { cachedSession, floatTensor, releaseCachedSession, runTensors } from '../onnx/session.js';
import { sampleWithoutReplacement, seededRandom } from '../util/random.js';
import { NpadConfigError } from '../errors.js';
import { matMul } from './kernels.js';
import { LoweringKernel } from './loweringKernel.js';

/** How the coreset is drawn. */
export interface CoresetOptions {
  /** Fraction of the vectors kept: max(1, ⌊n · ratio⌋), the authors' `int(len(features) * percentage)`; 1 keeps all. */
  ratio: number;
  /** Dimension of the random projection the distances are computed in (authors 128); 0: the vectors as they are. */
  projectionDim: number;
  /** Random starting points whose mean distance initialises each vector's distance to the coreset (authors 10). */
  startPoints: number;
  /** Seed of the projection matrix and the starting points. */
  seed: number;
}

/** Reports progress: `done` of `total` coreset members chosen. */
export type CoresetProgress = (done: number, total: number) => void;

/**
 * Candidates per distance call (a [b, n] float32 block). On bottle's 163 856 patch features, 27 (1 % coreset) and
 * 44 (10 %) of the 48 rows of a call were used on average: the calls then compute barely more rows than the
 * plain algorithm, and their count (60 and 372) keeps the per-call overhead small.
 */
export const CORESET_CANDIDATES = 48;
/** Rows per projection call (a [rows, d] input block of ≤ 64 MB at d = 1024). */
const PROJECTION_ROWS = 16384;

/** Checks coreset options, naming the bad value. */
export function validateCoresetOptions(o: CoresetOptions): void {
  if (!(o.ratio > 0 && o.ratio <= 1)) throw new NpadConfigError(`option coresetRatio must be in (0, 1], got ${o.ratio}`);
  if (!Number.isInteger(o.projectionDim) || o.projectionDim < 0) {
    throw new NpadConfigError(`option projectionDim must be an integer ≥ 0, got ${o.projectionDim}`);
  }
  if (!Number.isInteger(o.startPoints) || o.startPoints < 1) throw new NpadConfigError(`option startPoints must be an integer ≥ 1, got ${o.startPoints}`);
  if (!Number.isInteger(o.seed)) throw new NpadConfigError(`option seed must be an integer, got ${o.seed}`);
}

/** Number of coreset members for n vectors. */
export function coresetSize(n: number, ratio: number): number {
  return ratio >= 1 ? n : Math.max(1, Math.floor(n * ratio));
}

/**
 * The random projection [dim, outDim] of torch.nn.Linear(dim, outDim, bias=False) as the authors' sampler makes it:
 * PyTorch's default initialisation draws each weight uniformly from (−1/√dim, 1/√dim).
 */
export function randomProjection(dim: number, outDim: number, random: () => number): Float32Array {
  const bound = 1 / Math.sqrt(dim);
  const w = new Float32Array(dim * outDim);
  for (let i = 0; i < w.length; i++) w[i] = (2 * random() - 1) * bound;
  return w;
}

/** Projects row blocks (each [n_i, dim], concatenated in order) to [Σ n_i, outDim]. */
export async function projectRows(blocks: readonly Float32Array[], dim: number, w: Float32Array, outDim: number): Promise<Float32Array> {
  const n = blocks.reduce((s, b) => s + b.length / dim, 0);
  const out = new Float32Array(n * outDim);
  let row = 0;
  for (const block of blocks) {
    const rows = block.length / dim;
    for (let r0 = 0; r0 < rows; r0 += PROJECTION_ROWS) {
      const m = Math.min(PROJECTION_ROWS, rows - r0);
      await matMul(block.subarray(r0 * dim, (r0 + m) * dim), m, dim, w, outDim, out.subarray((row + r0) * outDim, (row + r0 + m) * outDim));
    }
    row += rows;
  }
  return out;
}

/** Squared norms of the rows of x [n, k], summed in float64. */
export function rowSquaredNorms(x: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = i * k; c < (i + 1) * k; c++) s += x[c]! * x[c]!;
    out[i] = s;
  }
  return out;
}

/**
 * ‖x‖² − 2·c·x for b centres c [b, k] and n points x [n, k] → [b, n] (`pointNorms` = ‖x‖², [n]): the squared
 * distances less each centre's ‖c‖², which the caller adds in the one pass it makes over a row anyway. One Gemm per
 * call, x read transposed in place and the norms as its bias. Into `out` (≥ b·n values) where given: a fresh
 * [b, n] block per call would cost its page faults every time.
 */
export async function distancesLessCentreNorms(
  points: Float32Array,
  pointNorms: Float32Array,
  n: number,
  k: number,
  centres: Float32Array,
  b: number,
  out?: Float32Array,
): Promise<Float32Array> {
  const session = await cachedSession(`coresetDistances:${k}`, () => {
    const g = new GraphBuilder('coresetDistances');
    const x = g.input('points', 'float', ['n', k]);
    const xn = g.input('pointNorms', 'float', [1, 'n']);
    const c = g.input('centres', 'float', ['b', k]);
    g.node('Gemm', [c, x, xn], { transB: 1, alpha: { float: -2 }, beta: { float: 1 } }, 'partial');
    g.output('partial', 'float', ['b', 'n']);
    return g.build();
  }, { arena: true });
  const feeds = { points: floatTensor(points, [n, k]), pointNorms: floatTensor(pointNorms, [1, n]), centres: floatTensor(centres, [b, k]) };
  if (!out) return (await runTensors(session, feeds)).partial!.data;
  const rows = out.subarray(0, b * n);
  await session.run(feeds, { partial: floatTensor(rows, [b, n]) });
  return rows;
}

function gatherRows(x: Float32Array, rows: ArrayLike<number>, k: number): Float32Array {
  const out = new Float32Array(rows.length * k);
  for (let j = 0; j < rows.length; j++) out.set(x.subarray(rows[j]! * k, (rows[j]! + 1) * k), j * k);
  return out;
}

/** Index of the largest value, the first one on ties (torch.argmax's rule). */
function argmax(x: Float32Array): number {
  let best = 0;
  let value = x[0]!;
  for (let i = 1; i < x.length; i++) {
    if (x[i]! > value) {
      value = x[i]!;
      best = i;
    }
  }
  return best;
}

/** Indices of the `count` largest values, larger first, lower index first on ties. */
function largestIndices(x: Float32Array, count: number): number[] {
  const top: number[] = [];
  const before = (a: number, b: number): boolean => x[a]! > x[b]! || (x[a] === x[b] && a < b);
  for (let i = 0; i < x.length; i++) {
    if (top.length === count && !before(i, top[count - 1]!)) continue;
    if (top.length < count) top.push(i);
    let pos = top.length - 1;
    while (pos > 0 && before(i, top[pos - 1]!)) {
      top[pos] = top[pos - 1]!;
      pos--;
    }
    top[pos] = i;
  }
  return top;
}

/**
 * The greedy k-center selection of `count` of the n points [n, k], starting from each point's mean distance to the
 * points `starts` (the authors' approximation of the distance to the coreset before it has members). Returns the
 * chosen indices in selection order.
 */
export async function greedyKCenter(
  points: Float32Array,
  n: number,
  k: number,
  starts: ArrayLike<number>,
  count: number,
  progress?: CoresetProgress,
): Promise<Int32Array> {
  if (points.length !== n * k) throw new RangeError(`points: ${points.length} values, expected ${n}×${k}`);
  if (!Number.isInteger(count) || count < 1 || count > n) throw new RangeError(`coreset size ${count} must be an integer in [1, ${n}]`);
  if (starts.length < 1) throw new RangeError('the coreset needs at least one starting point');
  const norms = rowSquaredNorms(points, n, k);
  const startRows = await distancesLessCentreNorms(points, norms, n, k, gatherRows(points, starts, k), starts.length);
  // Each point's squared distance to the coreset so far (float32). The authors keep distances; their squares
  // order points the same, so the argmax and the minima pick the same points without a square root per value.
  // The start is the mean distance to the starting points, squared.
  const b = Math.min(CORESET_CANDIDATES, n);
  const kernel = new LoweringKernel(n, b * n);
  const distance = kernel.distance;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < starts.length; j++) s += Math.sqrt(Math.max(0, startRows[j * n + i]! + norms[starts[j]!]!));
    distance[i] = (s / starts.length) ** 2;
  }
  const chosen = new Int32Array(count);
  let done = 0;
  let next = argmax(distance);
  while (done < count) {
    // The candidates include the farthest point, `next`, since it is the largest distance.
    const candidates = largestIndices(distance, b);
    await distancesLessCentreNorms(points, norms, n, k, gatherRows(points, candidates, k), b, kernel.rows);
    const rowOf = new Map(candidates.map((c, j) => [c, j]));
    while (done < count) {
      const r = rowOf.get(next);
      if (r === undefined) break; // the farthest point is not a candidate: fetch the rows of new ones
      chosen[done++] = next;
      rowOf.delete(next);
      // Its own distance to 0: float32 rounding of the expansion leaves it about 1e-3, which on data with repeated
      // vectors could make it the farthest point again.
      distance[next] = 0;
      next = kernel.lower(r * n, norms[next]!);
    }
    progress?.(done, count);
  }
  // The arena holds a few [candidates, n] blocks: let them go with the selection.
  await releaseCachedSession(`coresetDistances:${k}`);
  return chosen;
}

/**
 * The authors' approximate greedy coreset of the vectors in `blocks` (each [n_i, dim], concatenated in order):
 * returns the chosen row indices into the concatenation, in selection order.
 */
export async function approximateGreedyCoreset(
  blocks: readonly Float32Array[],
  dim: number,
  opts: CoresetOptions,
  progress?: CoresetProgress,
): Promise<Int32Array> {
  validateCoresetOptions(opts);
  const n = blocks.reduce((s, b) => s + b.length / dim, 0);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`coreset input: ${n} vectors of dimension ${dim}`);
  const count = coresetSize(n, opts.ratio);
  if (count === n) return Int32Array.from({ length: n }, (_, i) => i);
  progress?.(0, count);
  const random = seededRandom(opts.seed);
  const project = opts.projectionDim > 0 && opts.projectionDim !== dim;
  const k = project ? opts.projectionDim : dim;
  const points = project ? await projectRows(blocks, dim, randomProjection(dim, k, random), k) : concat(blocks, n * dim);
  const starts = sampleWithoutReplacement(n, Math.min(opts.startPoints, n), random);
  return greedyKCenter(points, n, k, starts, count, progress);
}

function concat(blocks: readonly Float32Array[], length: number): Float32Array {
  if (blocks.length === 1) return blocks[0]!;
  const out = new Float32Array(length);
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

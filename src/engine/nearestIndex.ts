/**
 * Nearest-neighbour search over a fixed set of members (a patch bank), behind one small interface: build, search the
 * k nearest, save, load. The methods hold an index and never search members themselves, so the search can change
 * without touching them.
 *
 * Two exact indexes:
 * - 'flat' compares every query with every member (one Gemm per run of members), as faiss's IndexFlatL2 does;
 * - 'subspace' first bounds each distance from below in the members' leading principal directions: for an
 *   orthonormal basis P, ‖P(q − m)‖ ≤ ‖q − m‖, so a member whose bound exceeds the k-th nearest distance found so
 *   far cannot be among the k nearest. One Gemm at the basis's dimension gives every bound; the members of smallest
 *   bound are compared first, then every member the bound does not rule out. Distances are exact sums of squared
 *   differences in float64, not the float32 expansion ‖q‖² − 2q·m + ‖m‖² the flat index uses, so the two agree to
 *   that expansion's rounding.
 *
 * Rounding is allowed for where the bound is used: a bound must exceed the k-th best distance by BOUND_SLACK of it
 * plus BOUND_MARGIN of the query's and the farthest member's squared distances from the centre (the float32 rounding
 * of the projections and of the bound's own expansion, with room to spare), so a true nearest member is never
 * skipped.
 */
import { GraphBuilder, OnnxType } from '../onnx/graph.js';
import { cachedSession, floatTensor } from '../onnx/session.js';
import * as ort from 'onnxruntime-node';
import { float16BitsInto, halfTable } from '../tensorfile/safetensors.js';
import { KERNEL_CHUNK_BYTES, nearestMember } from './kernels.js';
import { principalBasis, type PrincipalBasis } from './principalBasis.js';

/** Members as the index reads them: float32, or binary16 bit patterns (a bank kept as a model file stores it). */
export type Members = Float32Array | Uint16Array;

/** The k nearest members of each query, nearest first (the lower index first among equal distances). */
export interface Neighbours {
  /** Squared Euclidean distances [count, k]. */
  distances: Float32Array;
  /** Member indices [count, k]. */
  indices: Int32Array;
}

/** How a bank is searched: every member ('flat'), or pruned by a bound in its principal subspace ('subspace'). */
export type IndexKind = 'flat' | 'subspace';
export const INDEX_KINDS: readonly IndexKind[] = ['flat', 'subspace'];

/**
 * Directions of the subspace index's bound: at 256 of a 1024-dimensional bank (a quarter of the full product) a
 * bottle test patch is compared in full with a mean of 18 members (median 3) of 14 739; at 128 with 70, at 64 with 193.
 */
export const SUBSPACE_DIM = 256;

/** What an index keeps in a model file beside the members (nothing for 'flat'). */
export type IndexTensors = Map<'directions' | 'centre', Float32Array>;

/** A nearest-neighbour index over `size` members of `dim` values. */
export interface NearestIndex {
  readonly kind: IndexKind;
  readonly size: number;
  readonly dim: number;
  /** The k (≥ 1, ≤ size) nearest members of each of `count` queries [count, dim]. */
  search(queries: Float32Array, count: number, k?: number): Promise<Neighbours>;
  /** The tensors to save (loadIndex takes them back). */
  tensors(): IndexTensors;
}

/** Builds an index of `kind` over the members [size, dim], ready to search. */
export async function buildIndex(kind: IndexKind, members: Members, size: number, dim: number): Promise<NearestIndex> {
  const index = loadIndex(kind, members, size, dim, new Map());
  if (index instanceof SubspaceIndex) await index.prepare();
  return index;
}

/**
 * An index of `kind` over the members, from what {@link NearestIndex.tensors} saved. It prepares itself on its first
 * search (a subspace index projects the members then, and computes its basis again where none was saved: a model
 * file from before indexes), so that loading a model stays quick.
 * @throws RangeError when the saved basis does not fit the members or its directions are not orthonormal
 */
export function loadIndex(kind: IndexKind, members: Members, size: number, dim: number, saved: IndexTensors): NearestIndex {
  checkMembers(members, size, dim);
  if (kind === 'flat' || size <= 1) return new FlatIndex(members, size, dim);
  const directions = saved.get('directions');
  const centre = saved.get('centre');
  if (!directions || !centre) return new SubspaceIndex(members, size, dim, null);
  const count = directions.length / dim;
  if (!Number.isInteger(count) || count < 1 || count > dim || centre.length !== dim) {
    throw new RangeError(`a subspace basis of ${directions.length} values and a centre of ${centre.length} do not fit members of dimension ${dim}`);
  }
  const off = orthonormalityError(directions, count, dim);
  if (!(off <= ORTHONORMAL_TOLERANCE)) throw new RangeError(`the subspace basis's directions are not orthonormal (largest error ${off})`);
  return new SubspaceIndex(members, size, dim, { directions, centre, count });
}

/** How far a saved basis may be from orthonormal: float32 rounding of orthonormal rows is about 1e-7. */
const ORTHONORMAL_TOLERANCE = 1e-5;

/** The largest |P·Pᵀ − I| of the rows P [k, dim]. */
export function orthonormalityError(rows: Float32Array, k: number, dim: number): number {
  let worst = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let dot = 0;
      for (let c = 0; c < dim; c++) dot += rows[i * dim + c]! * rows[j * dim + c]!;
      worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

function checkMembers(members: Members, size: number, dim: number): void {
  if (!(size >= 1 && Number.isInteger(size) && members.length === size * dim)) throw new RangeError(`${members.length} member values are not ${size} × ${dim}`);
}

function checkK(k: number, size: number): void {
  if (!(Number.isInteger(k) && k >= 1 && k <= size)) throw new RangeError(`k = ${k} nearest of ${size} members`);
}

/** Writes member i, as float32, into `out`. */
function memberRow(members: Members, dim: number): (i: number, out: Float32Array) => void {
  if (members instanceof Float32Array) return (i, out) => out.set(members.subarray(i * dim, (i + 1) * dim));
  return (i, out) => float16BitsInto(members.subarray(i * dim, (i + 1) * dim), out, 0);
}

/**
 * Queries per nearestMember call of the flat index: two 224² inputs' patches. The kernel reads the whole bank in runs
 * for each call, so fewer calls read it less often, but smaller [queries, run] products keep the run in cache
 * (bottle's bank against a batch of 16 images: 3.16 s at 1568 per call, 3.69 s at 4096).
 */
const FLAT_QUERIES_PER_SEARCH = 1568;

/** Every query against every member: kernels.ts nearestMember, the k nearest of each run of members merged in order. */
class FlatIndex implements NearestIndex {
  readonly kind = 'flat';
  constructor(
    private readonly members: Members,
    readonly size: number,
    readonly dim: number,
  ) {}

  async search(queries: Float32Array, count: number, k = 1): Promise<Neighbours> {
    checkK(k, this.size);
    const E = this.dim;
    const distances = new Float32Array(count * k);
    const indices = new Int32Array(count * k);
    for (let i0 = 0; i0 < count; i0 += FLAT_QUERIES_PER_SEARCH) {
      const n = Math.min(FLAT_QUERIES_PER_SEARCH, count - i0);
      const r = await nearestMember(queries.subarray(i0 * E, (i0 + n) * E), n, this.members, this.size, E, k);
      distances.set(r.distances, i0 * k);
      indices.set(r.indices, i0 * k);
    }
    return { distances, indices };
  }

  tensors(): IndexTensors {
    return new Map();
  }
}

/**
 * Members of smallest bound compared for every query (at least k): on bottle most patches' nearest member is among
 * them and certified by their bounds alone; the others read their whole row of bounds.
 */
const SUBSPACE_CANDIDATES = 8;
/** The bound must exceed the k-th best distance by this fraction of it … */
const BOUND_SLACK = 1e-3;
/** … plus this fraction of the query's and the farthest member's squared distances from the centre. */
const BOUND_MARGIN = 1e-3;
/** Bytes of one run's [queries, members] bound matrix. */
const BOUND_RUN_BYTES = 4 * KERNEL_CHUNK_BYTES;

/** x [n, dim] → its projections (x − centre)·Pᵀ [n, p] and their squared norms, and ‖x − centre‖² [n]. */
function projectionModel(dim: number, p: number, type: 'float' | 'float16'): Uint8Array {
  const g = new GraphBuilder('subspaceProjection');
  const input = g.input('x', type, ['n', dim]);
  const x = type === 'float' ? input : g.node('Cast', [input], { to: OnnxType.float });
  const centred = g.node('Sub', [x, g.input('centre', 'float', [dim])]);
  const projected = g.node('Gemm', [centred, g.input('directions', 'float', [p, dim])], { transB: 1 }, 'projected');
  const axis1 = g.constInt64([1]);
  g.node('ReduceSum', [g.node('Mul', [projected, projected]), axis1], { keepdims: 0 }, 'projectedNorm');
  g.node('ReduceSum', [g.node('Mul', [centred, centred]), axis1], { keepdims: 0 }, 'centredNorm');
  g.output('projected', 'float', ['n', p]);
  g.output('projectedNorm', 'float', ['n']);
  g.output('centredNorm', 'float', ['n']);
  return g.build();
}

/**
 * Queries' projections [n, p] against the members' [m, p] → every bound less ‖qp‖², [n, m], and the `candidates`
 * smallest of each row with their members, in order.
 */
function boundsModel(p: number): Uint8Array {
  const g = new GraphBuilder('subspaceBounds');
  const q = g.input('queries', 'float', ['n', p]);
  const m = g.input('members', 'float', ['m', p]);
  const mNorm = g.input('memberNorms', 'float', ['m']);
  const bound = g.node('Gemm', [q, m, mNorm], { transB: 1, alpha: { float: -2 }, beta: { float: 1 } }, 'bound');
  const [, members] = g.nodeN('TopK', [bound, g.input('candidates', 'int64', [1])], ['smallest', g.fresh('TopK')], { axis: 1, largest: 0, sorted: 1 });
  g.node('Cast', [members!], { to: OnnxType.int32 }, 'smallestMembers');
  g.output('bound', 'float', ['n', 'm']);
  g.output('smallest', 'float', ['n', 'k']);
  g.output('smallestMembers', 'int32', ['n', 'k']);
  return g.build();
}

interface Projections {
  projected: Float32Array;
  projectedNorm: Float32Array;
  centredNorm: Float32Array;
}

/** What a subspace index computes before its first search. */
interface Prepared {
  basis: PrincipalBasis;
  members: Projections;
  /** The largest squared distance of a member from the centre. */
  farthest: number;
}

/** Exact, pruned by a lower bound in a principal subspace (see the file comment). */
class SubspaceIndex implements NearestIndex {
  readonly kind = 'subspace';
  private readonly halfValues: Float32Array | null;
  private prepared: Promise<Prepared> | null = null;
  /** Bound rows of a run of queries, kept between searches: a fresh one per image would cost its page faults. */
  private rows = new Float32Array(0);

  constructor(
    private readonly members: Members,
    readonly size: number,
    readonly dim: number,
    private basis: PrincipalBasis | null,
  ) {
    this.halfValues = members instanceof Uint16Array ? new Float32Array(halfTable().buffer) : null;
  }

  /** Computes the basis (unless saved) and the members' projections, once. */
  prepare(): Promise<Prepared> {
    this.prepared ??= (async () => {
      const basis = this.basis ?? (await principalBasis(this.size, this.dim, Math.min(SUBSPACE_DIM, this.dim), memberRow(this.members, this.dim)));
      this.basis = basis;
      const members = await project(this.members, this.size, this.dim, basis);
      let farthest = 0;
      for (const v of members.centredNorm) farthest = Math.max(farthest, v);
      return { basis, members, farthest };
    })();
    return this.prepared;
  }

  tensors(): IndexTensors {
    if (!this.basis) return new Map();
    return new Map([
      ['directions', this.basis.directions],
      ['centre', this.basis.centre],
    ]);
  }

  async search(queries: Float32Array, count: number, k = 1): Promise<Neighbours> {
    checkK(k, this.size);
    const E = this.dim;
    const M = this.size;
    if (queries.length < count * E) throw new RangeError(`${queries.length} query values are fewer than ${count} × ${E}`);
    const { basis, members: projections, farthest } = await this.prepare();
    const p = basis.count;
    const distances = new Float32Array(count * k);
    const indices = new Int32Array(count * k);
    const q = await project(queries.subarray(0, count * E), count, E, basis);
    const session = await cachedSession(`subspaceBounds:${p}`, () => boundsModel(p), { arena: true });
    const members = floatTensor(projections.projected, [M, p]);
    const memberNorms = floatTensor(projections.projectedNorm, [M]);
    const run = Math.max(1, Math.min(count, Math.floor(BOUND_RUN_BYTES / (4 * M))));
    if (this.rows.length < run * M) this.rows = new Float32Array(run * M);
    const rows = this.rows;
    const best = new BestK(k);
    // The members of smallest bound are compared first; when the k-th best distance among them (with the rounding
    // allowance) is below the largest of their bounds, no other member can be nearer and the row is not read.
    const K = Math.min(M, Math.max(k, SUBSPACE_CANDIDATES));
    const candidates = new ort.Tensor('int64', BigInt64Array.of(BigInt(K)), [1]);
    for (let i0 = 0; i0 < count; i0 += run) {
      const n = Math.min(run, count - i0);
      const out = await session.run(
        { queries: floatTensor(q.projected.subarray(i0 * p, (i0 + n) * p), [n, p]), members, memberNorms, candidates },
        { bound: floatTensor(rows.subarray(0, n * M), [n, M]), smallest: null, smallestMembers: null },
      );
      const smallest = out.smallest!.data as Float32Array;
      const smallestMembers = out.smallestMembers!.data as Int32Array;
      for (let j = 0; j < n; j++) {
        const i = i0 + j;
        const query = queries.subarray(i * E, (i + 1) * E);
        best.reset();
        for (let r = 0; r < K; r++) {
          const m = smallestMembers[j * K + r]!;
          best.offer(this.distance(query, m), m);
        }
        // A member is compared in full unless its bound, less rounding, exceeds the k-th best distance.
        const margin = BOUND_MARGIN * (q.centredNorm[i]! + farthest) - q.projectedNorm[i]!;
        let limit = best.worst() * (1 + BOUND_SLACK) + margin;
        if (K < M && !(limit < smallest[j * K + K - 1]!)) {
          const row = rows.subarray(j * M, (j + 1) * M);
          const compared = smallestMembers.subarray(j * K, (j + 1) * K);
          for (let m = 0; m < M; m++) {
            if (row[m]! > limit || compared.includes(m)) continue;
            best.offer(this.distance(query, m), m);
            limit = best.worst() * (1 + BOUND_SLACK) + margin;
          }
        }
        best.write(distances, indices, i * k);
      }
    }
    return { distances, indices };
  }

  /** ‖query − member m‖², summed in float64 (two running sums, so consecutive terms do not wait on each other). */
  private distance(query: Float32Array, m: number): number {
    const E = this.dim;
    const even = E - (E % 2);
    const o = m * E;
    let s0 = 0;
    let s1 = 0;
    const table = this.halfValues;
    if (table) {
      const members = this.members as Uint16Array;
      for (let c = 0; c < even; c += 2) {
        const a = query[c]! - table[members[o + c]!]!;
        const b = query[c + 1]! - table[members[o + c + 1]!]!;
        s0 += a * a;
        s1 += b * b;
      }
      if (even < E) s0 += (query[even]! - table[members[o + even]!]!) ** 2;
    } else {
      const members = this.members as Float32Array;
      for (let c = 0; c < even; c += 2) {
        const a = query[c]! - members[o + c]!;
        const b = query[c + 1]! - members[o + c + 1]!;
        s0 += a * a;
        s1 += b * b;
      }
      if (even < E) s0 += (query[even]! - members[o + even]!) ** 2;
    }
    return s0 + s1;
  }
}

/** Rows [n, dim] (float32 or binary16) projected onto the basis, in runs whose outputs go into preallocated arrays. */
async function project(rows: Members, n: number, dim: number, basis: PrincipalBasis): Promise<Projections> {
  const p = basis.count;
  const type = rows instanceof Uint16Array ? 'float16' : 'float';
  const session = await cachedSession(`subspaceProjection:${dim}:${p}:${type}`, () => projectionModel(dim, p, type), { arena: true });
  const out: Projections = { projected: new Float32Array(n * p), projectedNorm: new Float32Array(n), centredNorm: new Float32Array(n) };
  const run = Math.max(1, Math.floor(KERNEL_CHUNK_BYTES / (4 * dim)));
  const directions = floatTensor(basis.directions, [p, dim]);
  const centre = floatTensor(basis.centre, [dim]);
  for (let i0 = 0; i0 < n; i0 += run) {
    const m = Math.min(run, n - i0);
    const x = rows.subarray(i0 * dim, (i0 + m) * dim);
    await session.run(
      { x: rows instanceof Uint16Array ? new ort.Tensor('float16', x, [m, dim]) : floatTensor(x as Float32Array, [m, dim]), centre, directions },
      {
        projected: floatTensor(out.projected.subarray(i0 * p, (i0 + m) * p), [m, p]),
        projectedNorm: floatTensor(out.projectedNorm.subarray(i0, i0 + m), [m]),
        centredNorm: floatTensor(out.centredNorm.subarray(i0, i0 + m), [m]),
      },
    );
  }
  return out;
}

/** The k smallest (distance, index) pairs offered, ordered by distance then index. */
class BestK {
  private readonly distance: Float64Array;
  private readonly index: Int32Array;
  private filled = 0;

  constructor(private readonly k: number) {
    this.distance = new Float64Array(k);
    this.index = new Int32Array(k);
  }

  reset(): void {
    this.filled = 0;
  }

  /** The k-th smallest distance so far (once k were offered). */
  worst(): number {
    return this.distance[this.k - 1]!;
  }

  offer(d: number, m: number): void {
    const k = this.k;
    if (this.filled === k && !(d < this.distance[k - 1]! || (d === this.distance[k - 1]! && m < this.index[k - 1]!))) return;
    let r = this.filled < k ? this.filled++ : k - 1;
    while (r > 0 && (d < this.distance[r - 1]! || (d === this.distance[r - 1]! && m < this.index[r - 1]!))) {
      this.distance[r] = this.distance[r - 1]!;
      this.index[r] = this.index[r - 1]!;
      r--;
    }
    this.distance[r] = d;
    this.index[r] = m;
  }

  write(distances: Float32Array, indices: Int32Array, at: number): void {
    for (let r = 0; r < this.k; r++) {
      distances[at + r] = this.distance[r]!;
      indices[at + r] = this.index[r]!;
    }
  }
}

/**
 * The bank's nearest-neighbour indexes against a plain brute force (float64 distances summed directly): both kinds
 * must give every query's k nearest members, nearest first, the lower index first on ties, on clustered and
 * uniform data, float32 and binary16 members, and a saved index must load back to the same answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildIndex, loadIndex, orthonormalityError, SUBSPACE_DIM, type IndexKind, type Members } from '../../src/engine/nearestIndex.js';
import { orthonormaliseRows, principalBasis } from '../../src/engine/principalBasis.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/tensorfile/safetensors.js';
import { seededRandom } from '../../src/util/random.js';

/** Rows around a few centres, with per-row spread, as patch features are (or uniform when `centres` is 0). */
function vectors(n: number, d: number, seed: number, centres = 8): Float32Array {
  const random = seededRandom(seed);
  const cs = Array.from({ length: Math.max(1, centres) }, () => Array.from({ length: d }, () => (centres ? 3 * random() : 0)));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = cs[Math.floor(random() * cs.length)]!;
    const spread = centres ? 0.2 + (i % 5) * 0.2 : 1;
    for (let j = 0; j < d; j++) x[i * d + j] = c[j]! + (random() - 0.5) * spread;
  }
  return x;
}

/** The k nearest of each query by float64 sums, ties to the lower index. */
function bruteForce(members: Float32Array, m: number, queries: Float32Array, n: number, d: number, k: number): { distances: number[][]; indices: number[][] } {
  const distances: number[][] = [];
  const indices: number[][] = [];
  for (let q = 0; q < n; q++) {
    const all = Array.from({ length: m }, (_, j) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += (queries[q * d + c]! - members[j * d + c]!) ** 2;
      return { j, s };
    });
    all.sort((a, b) => a.s - b.s || a.j - b.j);
    distances.push(all.slice(0, k).map((e) => e.s));
    indices.push(all.slice(0, k).map((e) => e.j));
  }
  return { distances, indices };
}

async function checkAgainstBruteForce(kind: IndexKind, members: Members, m: number, queries: Float32Array, n: number, d: number, k: number): Promise<void> {
  const index = await buildIndex(kind, members, m, d);
  const got = await index.search(queries, n, k);
  const plain = members instanceof Uint16Array ? float16BitsToFloat32(members) : members;
  const want = bruteForce(plain, m, queries, n, d, k);
  // The flat index's expansion ‖q‖² − 2q·m + ‖m‖² rounds in float32; the subspace index sums differences in float64.
  const tolerance = kind === 'flat' ? 1e-4 : 1e-6;
  for (let q = 0; q < n; q++) {
    for (let r = 0; r < k; r++) {
      const wd = want.distances[q]![r]!;
      const gd = got.distances[q * k + r]!;
      assert.ok(Math.abs(gd - wd) <= tolerance * (1 + wd), `${kind} query ${q} rank ${r}: distance ${gd}, expected ${wd}`);
      // Where the float32 expansion cannot tell two members apart, either may come first.
      if (got.indices[q * k + r] !== want.indices[q]![r]) {
        const j = got.indices[q * k + r]!;
        let s = 0;
        for (let c = 0; c < d; c++) s += (queries[q * d + c]! - plain[j * d + c]!) ** 2;
        assert.ok(kind === 'flat' && Math.abs(s - wd) <= tolerance * (1 + wd), `${kind} query ${q} rank ${r}: member ${j}, expected ${want.indices[q]![r]}`);
      }
    }
  }
}

describe('nearest-neighbour indexes', () => {
  for (const kind of ['flat', 'subspace'] as const) {
    it(`${kind}: the k nearest of clustered data, float32 members`, async () => {
      const d = 96;
      await checkAgainstBruteForce(kind, vectors(700, d, 1), 700, vectors(90, d, 2), 90, d, 1);
      await checkAgainstBruteForce(kind, vectors(700, d, 1), 700, vectors(40, d, 3), 40, d, 5);
    });

    it(`${kind}: uniform data (the bound prunes little), binary16 members, odd dimension`, async () => {
      const d = 71;
      const members = float32ToFloat16Bits(vectors(300, d, 4, 0));
      await checkAgainstBruteForce(kind, members, 300, vectors(50, d, 5, 0), 50, d, 3);
    });
  }

  it('subspace: ties go to the lower index; queries equal to members find them at distance 0', async () => {
    const d = 80;
    const base = vectors(200, d, 6);
    const members = new Float32Array(400 * d);
    members.set(base, 0);
    members.set(base, 200 * d); // every member twice: rows j and j + 200
    const index = await buildIndex('subspace', members, 400, d);
    const got = await index.search(base.subarray(0, 30 * d), 30, 2);
    for (let q = 0; q < 30; q++) {
      assert.deepEqual([got.indices[2 * q], got.indices[2 * q + 1]], [q, q + 200]);
      assert.equal(got.distances[2 * q], 0);
    }
  });

  it('subspace: a saved basis loads back to the same answers; a basis that is not orthonormal is refused', async () => {
    const d = 64;
    const members = vectors(500, d, 7);
    const queries = vectors(60, d, 8);
    const built = await buildIndex('subspace', members, 500, d);
    const saved = built.tensors();
    assert.equal(saved.get('directions')!.length, Math.min(SUBSPACE_DIM, d) * d);
    const loaded = loadIndex('subspace', members, 500, d, saved);
    assert.deepEqual(await loaded.search(queries, 60, 2), await built.search(queries, 60, 2));
    const scaled = Float32Array.from(saved.get('directions')!, (v) => 2 * v);
    assert.throws(() => loadIndex('subspace', members, 500, d, new Map([['directions', scaled], ['centre', saved.get('centre')!]])), /not orthonormal/);
    assert.throws(() => loadIndex('subspace', members, 500, d, new Map([['directions', scaled.subarray(1)], ['centre', saved.get('centre')!]])), /do not fit/);
  });

  it('k must be within the members', async () => {
    const index = await buildIndex('subspace', vectors(10, 8, 9), 10, 8);
    await assert.rejects(index.search(vectors(1, 8, 10), 1, 11), RangeError);
    await assert.rejects(index.search(vectors(1, 8, 10), 1, 0), RangeError);
  });
});

describe('principal basis', () => {
  it('orthonormal rows, spanning the directions the data vary along', async () => {
    const n = 2000;
    const d = 40;
    // Data in a 3-dimensional subspace plus tiny noise: the first 3 directions must span it.
    const random = seededRandom(11);
    const axes = new Float32Array(3 * d).map(() => random() - 0.5);
    orthonormaliseRows(axes, 3, d);
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const w = [random() * 10, random() * 5, random() * 2];
      for (let c = 0; c < d; c++) x[i * d + c] = 1 + w[0]! * axes[c]! + w[1]! * axes[d + c]! + w[2]! * axes[2 * d + c]! + (random() - 0.5) * 1e-3;
    }
    const basis = await principalBasis(n, d, 8, (i, out) => out.set(x.subarray(i * d, (i + 1) * d)));
    assert.ok(orthonormalityError(basis.directions, 8, d) < 1e-6);
    // Each true axis lies in the span of the first 3 directions found.
    for (let a = 0; a < 3; a++) {
      let inSpan = 0;
      for (let r = 0; r < 8; r++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += axes[a * d + c]! * basis.directions[r * d + c]!;
        inSpan += dot * dot;
      }
      assert.ok(inSpan > 0.999, `axis ${a}: ${inSpan} of it in the basis`);
    }
  });
});

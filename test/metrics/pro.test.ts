import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { labelConnectedComponents, perRegionOverlap, proCurve } from '../../src/metrics/pro.js';
import { seededRandom } from './random.js';

/** Regions of a mask as sorted lists of pixel indices, via union–find (independent of the flood fill). */
function regionsByUnionFind(mask: Uint8Array, width: number): number[][] {
  const parent = Array.from(mask, (_value, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 1) continue;
    if (i % width > 0 && mask[i - 1] === 1) parent[root(i)] = root(i - 1);
    if (i >= width && mask[i - width] === 1) parent[root(i)] = root(i - width);
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] === 1) groups.set(root(i), [...(groups.get(root(i)) ?? []), i]);
  }
  return [...groups.values()];
}

/** Regions as reported by labelConnectedComponents, in the same shape as {@link regionsByUnionFind}. */
function regionsByLabels(mask: Uint8Array, width: number, height: number): number[][] {
  const { labels, count } = labelConnectedComponents(mask, width, height);
  const regions: number[][] = Array.from({ length: count }, () => []);
  labels.forEach((label, i) => {
    if (label > 0) regions[label - 1]!.push(i);
  });
  return regions;
}

/**
 * Brute-force AU-PRO: evaluate FPR and mean region overlap from scratch at every
 * distinct score (O(thresholds · pixels)), then integrate the trapezoids up to maxFpr.
 */
function bruteForceAuPro(maps: Float32Array[], masks: Uint8Array[], width: number, maxFpr: number): number {
  const regions = masks.flatMap((mask, image) => regionsByUnionFind(mask, width).map((pixels) => ({ image, pixels })));
  const thresholds = [...new Set(maps.flatMap((map) => Array.from(map)))].sort((a, b) => b - a);
  const points: Array<[number, number]> = [[0, 0]];
  for (const threshold of thresholds) {
    let flaggedNominal = 0;
    let nominal = 0;
    maps.forEach((map, image) => map.forEach((score, i) => {
      if (masks[image]![i] === 0) {
        nominal++;
        if (score >= threshold) flaggedNominal++;
      }
    }));
    let overlapSum = 0;
    for (const { image, pixels } of regions) {
      overlapSum += pixels.filter((i) => maps[image]![i]! >= threshold).length / pixels.length;
    }
    points.push([flaggedNominal / nominal, overlapSum / regions.length]);
  }
  let area = 0;
  for (let k = 1; k < points.length; k++) {
    const [x0, y0] = points[k - 1]!;
    const [x1, y1] = points[k]!;
    if (x1 >= maxFpr) {
      const yCut = y0 + ((y1 - y0) * (maxFpr - x0)) / (x1 - x0);
      return (area + ((maxFpr - x0) * (y0 + yCut)) / 2) / maxFpr;
    }
    area += ((x1 - x0) * (y0 + y1)) / 2;
  }
  throw new Error('unreachable: the last point has FPR 1');
}

// Hand-computed example, width 3, height 2 (row-major):
//   image A scores  0.9 0.5 0.4   mask  1 1 0
//                   0.1 0.2 0.7         0 0 1
//   image B scores  0.3 0.6 0.0   mask  all 0
//                   0.0 0.2 0.1
// Regions (4-connectivity; (1,0) and (2,1) touch only diagonally): R1 = {0.9, 0.5}, R2 = {0.7}.
// Nominal pixels: 3 in A + 6 in B = 9.
// Vertices by decreasing threshold (FPR = flagged nominal / 9, PRO = mean of the two overlaps):
//   +∞ (0, 0); 0.9 (0, (1/2 + 0)/2 = 1/4); 0.7 (0, (1/2 + 1)/2 = 3/4); 0.6 (1/9, 3/4);
//   0.5 (1/9, 1); 0.4 (2/9, 1); 0.3 (3/9, 1); … (1, 1).
// Area up to 0.3: 3/4 · 1/9 + 1 · (0.3 − 1/9) = 1/12 + 3/10 − 1/9 = 49/180; ÷ 0.3 → 49/54.
// Area up to 1: 3/4 · 1/9 + 8/9 = 35/36.
const WIDTH = 3;
const HEIGHT = 2;
const handMaps = [Float32Array.of(0.9, 0.5, 0.4, 0.1, 0.2, 0.7), Float32Array.of(0.3, 0.6, 0, 0, 0.2, 0.1)];
const handMasks = [Uint8Array.of(1, 1, 0, 0, 0, 1), Uint8Array.of(0, 0, 0, 0, 0, 0)];

describe('labelConnectedComponents', () => {
  it('uses 4-connectivity: diagonal neighbours are separate regions', () => {
    // 1 1 0 0
    // 0 0 1 0    (0,0)-(1,0) joined; (2,1) touches (1,0) only diagonally → its own region;
    // 1 0 1 1    (2,1)-(2,2)-(3,2) joined; (0,2) alone.
    const mask = Uint8Array.of(1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1);
    const { labels, count } = labelConnectedComponents(mask, 4, 3);
    assert.equal(count, 3);
    // Numbered in row-major order of each component's first pixel.
    assert.deepEqual(Array.from(labels), [1, 1, 0, 0, 0, 0, 2, 0, 3, 0, 2, 2]);
  });

  it('follows a U-shaped region that a single scan would split', () => {
    // 1 0 1
    // 1 0 1
    // 1 1 1   → one region whose two arms only meet in the bottom row.
    const { labels, count } = labelConnectedComponents(Uint8Array.of(1, 0, 1, 1, 0, 1, 1, 1, 1), 3, 3);
    assert.equal(count, 1);
    assert.deepEqual(Array.from(labels), [1, 0, 1, 1, 0, 1, 1, 1, 1]);
  });

  it('handles a 1000×1000 mask without recursion, all foreground or checkerboard', () => {
    const side = 1000;
    assert.equal(labelConnectedComponents(new Uint8Array(side * side).fill(1), side, side).count, 1);
    const checkerboard = Uint8Array.from({ length: side * side }, (_v, i) => (Math.floor(i / side) + (i % side)) % 2);
    assert.equal(labelConnectedComponents(checkerboard, side, side).count, (side * side) / 2);
  });

  it('agrees with a union–find labelling on random masks', () => {
    const random = seededRandom(3);
    for (let trial = 0; trial < 20; trial++) {
      const mask = Uint8Array.from({ length: 9 * 7 }, () => (random() < 0.45 ? 1 : 0));
      const sortRegions = (regions: number[][]): string => JSON.stringify(regions.sort((a, b) => a[0]! - b[0]!));
      assert.equal(sortRegions(regionsByLabels(mask, 9, 7)), sortRegions(regionsByUnionFind(mask, 9)));
    }
  });

  it('rejects bad shapes and non-binary masks', () => {
    assert.throws(() => labelConnectedComponents(new Uint8Array(5), 2, 3), {
      name: 'RangeError',
      message: /length = 5 but width × height = 2 × 3 = 6/,
    });
    assert.throws(() => labelConnectedComponents(Uint8Array.of(0, 255), 2, 1), { name: 'RangeError', message: /mask\[1\] = 255/ });
    assert.throws(() => labelConnectedComponents(new Uint8Array(0), 0, 1), { name: 'RangeError', message: /width.*got 0/ });
  });
});

describe('perRegionOverlap', () => {
  it('matches the hand computation', () => {
    assert.ok(Math.abs(perRegionOverlap(handMaps, handMasks, WIDTH, HEIGHT) - 49 / 54) < 1e-12);
    assert.ok(Math.abs(perRegionOverlap(handMaps, handMasks, WIDTH, HEIGHT, 1) - 35 / 36) < 1e-12);
  });

  it('interpolates at maxFpr inside a diagonal tie step', () => {
    // Image B's 0.6 lowered to 0.5, tying with R1's 0.5 pixel: threshold 0.5 flags one nominal
    // pixel and one R1 pixel together → diagonal step (0, 3/4) → (1/9, 1).
    // maxFpr = 1/18 cuts it halfway: PRO there = 7/8; area = 1/18 · (3/4 + 7/8)/2; ÷ 1/18 → 13/16.
    // maxFpr = 0.3: area = 1/9 · (3/4 + 1)/2 + (0.3 − 1/9) · 1 = 3/10 − 1/72 = 103/360; ÷ 0.3 → 103/108.
    const tiedMaps = [handMaps[0]!, Float32Array.of(0.3, 0.5, 0, 0, 0.2, 0.1)];
    assert.ok(Math.abs(perRegionOverlap(tiedMaps, handMasks, WIDTH, HEIGHT, 1 / 18) - 13 / 16) < 1e-12);
    assert.ok(Math.abs(perRegionOverlap(tiedMaps, handMasks, WIDTH, HEIGHT) - 103 / 108) < 1e-12);
  });

  it('is 1 for a perfect detector, 0 when reversed, maxFpr/2 when all scores tie', () => {
    const perfect = handMasks.map((mask) => Float32Array.from(mask, (m) => m));
    assert.equal(perRegionOverlap(perfect, handMasks, WIDTH, HEIGHT), 1);
    const reversed = handMasks.map((mask) => Float32Array.from(mask, (m) => 1 - m));
    assert.equal(perRegionOverlap(reversed, handMasks, WIDTH, HEIGHT), 0);
    // One diagonal step (0, 0) → (1, 1): area up to 0.3 is 0.3²/2, ÷ 0.3 → 0.15.
    const tied = handMasks.map(() => new Float32Array(WIDTH * HEIGHT).fill(0.5));
    assert.ok(Math.abs(perRegionOverlap(tied, handMasks, WIDTH, HEIGHT) - 0.15) < 1e-15);
  });

  it('weights regions equally, not pixels', () => {
    // One 1-pixel region fully detected, one 4-pixel region missed (width 6, height 1):
    // PRO = (1 + 0)/2 = 1/2 at low FPR, though only 1 of 5 defect pixels is found.
    const mask = Uint8Array.of(1, 0, 1, 1, 1, 1);
    const map = Float32Array.of(0.9, 0.5, 0.1, 0.1, 0.1, 0.1);
    // Vertices: (0, 1/2) at 0.9, (1, 1/2) at 0.5, (1, 1) at 0.1 → mean PRO over [0, 0.3] = 1/2.
    assert.equal(perRegionOverlap([map], [mask], 6, 1), 0.5);
  });

  it('matches the threshold-by-threshold brute force on random maps with ties', () => {
    const width = 8;
    const height = 6;
    for (let seed = 1; seed <= 12; seed++) {
      const random = seededRandom(seed);
      const maps: Float32Array[] = [];
      const masks: Uint8Array[] = [];
      // Four 8×6 images (~200 pixels): random rectangles as defects, some images nominal.
      for (let image = 0; image < 4; image++) {
        const mask = new Uint8Array(width * height);
        const defects = Math.floor(random() * 3);
        for (let d = 0; d < defects; d++) {
          const x0 = Math.floor(random() * width);
          const y0 = Math.floor(random() * height);
          const x1 = Math.min(width, x0 + 1 + Math.floor(random() * 3));
          const y1 = Math.min(height, y0 + 1 + Math.floor(random() * 3));
          for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * width + x] = 1;
        }
        masks.push(mask);
        // Coarse scores (ties), defect pixels somewhat higher.
        maps.push(Float32Array.from(mask, (m) => Math.floor((random() + 0.4 * m) * 10) / 10));
      }
      if (!masks.some((mask) => mask.includes(1))) masks[0]![0] = 1;
      for (const maxFpr of [0.05, 0.3, 1]) {
        const expected = bruteForceAuPro(maps, masks, width, maxFpr);
        const actual = perRegionOverlap(maps, masks, width, height, maxFpr);
        assert.ok(Math.abs(actual - expected) < 1e-12, `seed ${seed}, maxFpr ${maxFpr}: ${actual} ≠ ${expected}`);
      }
    }
  });

  it('takes maps of different sizes (tiled photos): a map transposed to another shape changes nothing', () => {
    const random = seededRandom(11);
    const [w, h] = [5, 3];
    const mapA = Float32Array.from({ length: w * h }, () => random());
    const maskA = Uint8Array.from({ length: w * h }, (_, i) => (i % 7 === 1 || i === 2 ? 1 : 0));
    const mapB = Float32Array.from({ length: w * h }, () => random());
    const maskB = Uint8Array.from({ length: w * h }, (_, i) => (i === 4 || i === 9 ? 1 : 0));
    // B stored as 3 wide × 5 high: its transpose has the same 4-connected regions and the same scores.
    const transpose = <T extends Float32Array | Uint8Array>(a: T): T => {
      const out = a.slice() as T;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[x * h + y] = a[y * w + x]!;
      return out;
    };
    const same = perRegionOverlap([mapA, mapB], [maskA, maskB], w, h);
    assert.equal(perRegionOverlap([mapA, transpose(mapB)], [maskA, transpose(maskB)], [w, h], [h, w]), same);
    assert.throws(() => perRegionOverlap([mapA, mapB], [maskA, maskB], [w], h), /1 widths for 2 maps/);
  });

  it('rejects bad input with a message naming the problem', () => {
    const nominalOnly = [new Uint8Array(6), new Uint8Array(6)];
    assert.throws(() => perRegionOverlap(handMaps, nominalOnly, WIDTH, HEIGHT), { name: 'RangeError', message: /no defect region/ });
    const allDefect = [new Uint8Array(6).fill(1), new Uint8Array(6).fill(1)];
    assert.throws(() => perRegionOverlap(handMaps, allDefect, WIDTH, HEIGHT), { name: 'RangeError', message: /no nominal pixel/ });
    assert.throws(() => perRegionOverlap(handMaps, [handMasks[0]!], WIDTH, HEIGHT), { name: 'RangeError', message: /2 maps and 1 masks/ });
    assert.throws(() => perRegionOverlap([], [], WIDTH, HEIGHT), { name: 'RangeError', message: /empty/ });
    assert.throws(() => perRegionOverlap([handMaps[0]!, new Float32Array(5)], handMasks, WIDTH, HEIGHT), {
      name: 'RangeError',
      message: /maps\[1\]\.length = 5/,
    });
    assert.throws(() => perRegionOverlap([handMaps[0]!, Float32Array.of(0, 0, Number.NaN, 0, 0, 0)], handMasks, WIDTH, HEIGHT), {
      name: 'RangeError',
      message: /maps\[1\]\[2\] is NaN/,
    });
    assert.throws(() => perRegionOverlap(handMaps, [handMasks[0]!, Uint8Array.of(0, 0, 0, 255, 0, 0)], WIDTH, HEIGHT), {
      name: 'RangeError',
      message: /masks\[1\]\[3\] = 255/,
    });
    for (const maxFpr of [0, -0.1, 1.5, Number.NaN]) {
      assert.throws(() => perRegionOverlap(handMaps, handMasks, WIDTH, HEIGHT, maxFpr), {
        name: 'RangeError',
        message: /maxFpr must be in \(0, 1\]/,
      });
    }
  });
});

describe('proCurve', () => {
  it('matches the hand computation, ending exactly at maxFpr', () => {
    const curve = proCurve(handMaps, handMasks, WIDTH, HEIGHT);
    assert.deepEqual(Array.from(curve.fpr), [0, 0, 0, 1 / 9, 1 / 9, 2 / 9, 0.3]);
    assert.deepEqual(Array.from(curve.pro), [0, 0.25, 0.75, 0.75, 1, 1, 1]);
  });

  it('down-samples to at most maxPoints, keeping both ends, and stays monotone', () => {
    const random = seededRandom(5);
    const side = 64;
    const maps: Float32Array[] = [];
    const masks: Uint8Array[] = [];
    for (let image = 0; image < 6; image++) {
      const mask = new Uint8Array(side * side);
      for (let y = 10 + image; y < 30; y++) for (let x = 5; x < 20 + 3 * image; x++) mask[y * side + x] = 1;
      masks.push(mask);
      maps.push(Float32Array.from(mask, (m) => random() + 0.6 * m));
    }
    const exact = perRegionOverlap(maps, masks, side, side);
    for (const maxPoints of [2, 16, 512]) {
      const curve = proCurve(maps, masks, side, side, 0.3, maxPoints);
      const last = curve.fpr.length - 1;
      assert.ok(curve.fpr.length <= maxPoints);
      assert.deepEqual([curve.fpr[0], curve.pro[0], curve.fpr[last]], [0, 0, 0.3]);
      for (let i = 1; i <= last; i++) assert.ok(curve.fpr[i]! >= curve.fpr[i - 1]! && curve.pro[i]! >= curve.pro[i - 1]!);
      if (maxPoints === 512) {
        let area = 0;
        for (let i = 1; i <= last; i++) area += ((curve.fpr[i]! - curve.fpr[i - 1]!) * (curve.pro[i]! + curve.pro[i - 1]!)) / 2;
        assert.ok(Math.abs(area / 0.3 - exact) < 2e-3, `sampled area ${area / 0.3} vs exact ${exact}`);
      }
    }
  });
});

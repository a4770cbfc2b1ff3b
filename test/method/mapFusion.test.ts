import test from 'node:test';
import assert from 'node:assert/strict';
import { fuseStandardised, nominalMaxima } from '../../src/method/npad/mapFusion.js';
import { fusionSplit } from '../../src/method/npad/fit.js';

test('nominal maxima: mean and sample standard deviation, as the plain formulas', () => {
  const maxima = [4.2, 5.1, 3.9, 6.0, 4.4];
  const mean = maxima.reduce((s, x) => s + x, 0) / maxima.length;
  const sd = Math.sqrt(maxima.reduce((s, x) => s + (x - mean) ** 2, 0) / (maxima.length - 1));
  const stats = nominalMaxima(maxima);
  assert.ok(Math.abs(stats.mean - mean) < 1e-12);
  assert.ok(Math.abs(stats.sd - sd) < 1e-12);
});

test('nominal maxima: identical images keep a positive spread; too few or non-finite values are refused', () => {
  const same = nominalMaxima([2, 2, 2]);
  assert.equal(same.mean, 2);
  assert.ok(same.sd > 0 && same.sd <= 2e-3);
  assert.ok(nominalMaxima([0, 0]).sd > 0);
  assert.throws(() => nominalMaxima([1]), /at least 2 nominal images, got 1/);
  assert.throws(() => nominalMaxima([1, Number.NaN]), /not finite/);
});

test('fusion: the mean of the maps in units of their nominal maxima', () => {
  const a = Float32Array.from([1, 5, 9]);
  const b = Float32Array.from([0.2, 0.3, 0.9]);
  const sa = { mean: 5, sd: 2 };
  const sb = { mean: 0.3, sd: 0.05 };
  const fused = fuseStandardised([a, b], [sa, sb]);
  for (let i = 0; i < 3; i++) {
    const expected = ((a[i]! - sa.mean) / sa.sd + (b[i]! - sb.mean) / sb.sd) / 2;
    assert.ok(Math.abs(fused[i]! - expected) < 1e-5, `pixel ${i}: ${fused[i]} against ${expected}`);
  }
  // A pixel at both parts' typical nominal maximum reads 0.
  assert.ok(Math.abs(fused[1]!) < 1e-6);
  // Scaling one part's map and its statistics together changes nothing: each part counts in its own units.
  const scaled = fuseStandardised([a.map((x) => 10 * x), b], [{ mean: 50, sd: 20 }, sb]);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(scaled[i]! - fused[i]!) < 1e-5);
  assert.throws(() => fuseStandardised([a], [sa, sb]), /one statistic per map/);
  assert.throws(() => fuseStandardised([a, b.subarray(0, 2)], [sa, sb]), /same size/);
});

test('fusion split: ⌈fraction · n⌉ images (at least 2) held out, spread through the list, none lost', () => {
  const names = Array.from({ length: 209 }, (_, i) => `img-${i}`);
  const { fit, heldOut } = fusionSplit(names, 0.1);
  assert.equal(heldOut.length, 21);
  assert.equal(fit.length + heldOut.length, names.length);
  assert.deepEqual([...fit, ...heldOut].sort(), [...names].sort());
  // Spread: one held-out image in each tenth of the list (roughly), not a block at one end.
  const positions = heldOut.map((h) => names.indexOf(h));
  assert.ok(positions[0]! < 10 && positions[positions.length - 1]! > 199);
  assert.deepEqual(fusionSplit(names, 0.1), { fit, heldOut }, 'deterministic');
  assert.equal(fusionSplit(['a', 'b', 'c'], 0.1).heldOut.length, 2);
  assert.equal(fusionSplit(['a', 'b', 'c'], 0.1).fit.length, 1);
  assert.throws(() => fusionSplit(['a', 'b'], 0.1), /needs at least 3 \(got 2\).*bank to kmeans/);
});

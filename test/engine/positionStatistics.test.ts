import test from 'node:test';
import assert from 'node:assert/strict';
import { PositionStatistics, covarianceFromPacked, packedSize } from '../../src/engine/positionStatistics.js';
import { covarianceReference } from './reference.js';
import { seededRandom } from '../../src/util/random.js';

// 40 positions × 35 channels cross the 32 × 32 tiles of the transposition into the gather buffer.
for (const [gather, P, d] of [[undefined, 3, 4], [4, 3, 4], [7, 3, 4], [7, 40, 35]] as const) test(`streamed covariance equals the two-pass float64 covariance, even with a large mean (${gather ?? 'default'} images per Gram call, ${P} positions, d = ${d})`, async () => {
  const random = seededRandom(5);
  const N = 23;
  // Large offset against a small spread: raw float32 sums of squares would cancel catastrophically.
  const samples = Float32Array.from({ length: N * P * d }, () => 1000 + random());
  const stats = new PositionStatistics(P, d, gather);
  // Channel-major batches [B, d, P] as the backbone gives them, in uneven batch sizes.
  for (const [start, size] of [[0, 10], [10, 7], [17, 6]] as const) {
    const batch = new Float32Array(size * d * P);
    for (let b = 0; b < size; b++) for (let p = 0; p < P; p++) for (let c = 0; c < d; c++) batch[(b * d + c) * P + p] = samples[((start + b) * P + p) * d + c]!;
    await stats.add(batch, size);
  }
  // Batches are gathered before their Gram call; reading before flush() would miss them.
  assert.throws(() => stats.meanInto(0, new Float64Array(d)), /flush/);
  await stats.flush();
  assert.equal(stats.count, N);
  for (let p = 0; p < P; p++) {
    const own = new Float32Array(N * d);
    for (let n = 0; n < N; n++) own.set(samples.subarray((n * P + p) * d, (n * P + p + 1) * d), n * d);
    const ref = covarianceReference(own, N, d);
    const mean = stats.meanInto(p, new Float64Array(d));
    for (let c = 0; c < d; c++) assert.ok(Math.abs(mean[c]! - ref.mean[c]!) < 1e-9 * 1000);
    const packed = new Float64Array(packedSize(d));
    stats.addScatterAbout(p, mean, 1, packed);
    const cov = new Float32Array(d * d);
    covarianceFromPacked(packed, d, N - 1, 0, cov);
    for (let k = 0; k < d * d; k++) assert.ok(Math.abs(cov[k]! - ref.cov[k]!) < 1e-6, `p ${p} entry ${k}: ${cov[k]} vs ${ref.cov[k]}`);
  }
});

test('statistics of shards merged in order equal the two-pass float64 statistics of all images; one part merges to itself, bit for bit', async () => {
  const random = seededRandom(6);
  const [P, d, N] = [5, 6, 29];
  // Shards whose centring points differ: the merge must re-centre them.
  const samples = Float32Array.from({ length: N * P * d }, (_, i) => 1000 + (Math.floor(i / (P * d)) > 15 ? 3 : 0) + random());
  const channelMajor = (start: number, size: number): Float32Array => {
    const batch = new Float32Array(size * d * P);
    for (let b = 0; b < size; b++) for (let p = 0; p < P; p++) for (let c = 0; c < d; c++) batch[(b * d + c) * P + p] = samples[((start + b) * P + p) * d + c]!;
    return batch;
  };
  const shard = async (start: number, size: number): Promise<PositionStatistics> => {
    const stats = new PositionStatistics(P, d, 4);
    await stats.add(channelMajor(start, size), size);
    await stats.flush();
    return stats;
  };
  const parts = [await shard(0, 10), await shard(10, 9), await shard(19, 10)];
  const merged = PositionStatistics.merge(parts.map((s) => s.state()));
  assert.equal(merged.count, N);
  for (let p = 0; p < P; p++) {
    const own = new Float32Array(N * d);
    for (let n = 0; n < N; n++) own.set(samples.subarray((n * P + p) * d, (n * P + p + 1) * d), n * d);
    const ref = covarianceReference(own, N, d);
    const mean = merged.meanInto(p, new Float64Array(d));
    for (let c = 0; c < d; c++) assert.ok(Math.abs(mean[c]! - ref.mean[c]!) < 1e-9 * 1000);
    const packed = new Float64Array(packedSize(d));
    merged.addScatterAbout(p, mean, 1, packed);
    const cov = new Float32Array(d * d);
    covarianceFromPacked(packed, d, N - 1, 0, cov);
    for (let k = 0; k < d * d; k++) assert.ok(Math.abs(cov[k]! - ref.cov[k]!) < 1e-6, `p ${p} entry ${k}: ${cov[k]} vs ${ref.cov[k]}`);
  }
  const alone = await shard(0, 10);
  const before = alone.state();
  const copy = { sums: Float64Array.from(before.sums), scatter: Float64Array.from(before.scatter) };
  const one = PositionStatistics.merge([before]).state();
  assert.deepEqual(one.sums, copy.sums);
  assert.deepEqual(one.scatter, copy.scatter);
  assert.throws(() => PositionStatistics.merge([parts[0]!.state(), { ...parts[1]!.state(), dim: 5 }]), /merging statistics of 5×5 into 5×6/);
});

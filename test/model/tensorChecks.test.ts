import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTensors, checkTensorsOffThread, tensorsSha256 } from '../../src/model/tensorChecks.js';
import type { TensorEntry } from '../../src/tensorfile/safetensors.js';

/** A tensor owning its buffer, as openSafetensorsFile reads them. */
function own(dtype: TensorEntry['dtype'], values: Float32Array | Uint16Array | Int32Array): TensorEntry {
  return { dtype, shape: [values.length], data: new Uint8Array(values.buffer.slice(0)) };
}

test('the checks find the first non-finite float of F32 and F16 tensors (bit patterns 0x7c00 and up), not of integer ones', () => {
  const finite = new Map([['a', own('F32', Float32Array.from([1, -2, 3e38]))], ['b', own('I32', Int32Array.from([-1, 0x7fc00000]))]]);
  assert.equal(checkTensors(finite).nonFinite, null);
  assert.equal(checkTensors(finite).sha256, tensorsSha256(finite));
  assert.deepEqual(checkTensors(new Map([['x', own('F32', Float32Array.from([0, 1, Number.NaN]))]])).nonFinite, { name: 'x', at: 2 });
  assert.deepEqual(checkTensors(new Map([['h', own('F16', Uint16Array.from([0x3c00, 0x7bff, 0xfc00]))]])).nonFinite, { name: 'h', at: 2 });
});

test('off the main thread: the same checks, the tensors moved to a worker and back without a copy', async () => {
  const tensors = new Map([
    ['bank', own('F16', Uint16Array.from({ length: 4096 }, (_, i) => i % 0x7c00))],
    ['mean', own('F32', Float32Array.from({ length: 1000 }, (_, i) => i / 7))],
    ['bad', own('F32', Float32Array.from([1, Number.POSITIVE_INFINITY]))],
  ]);
  const want = checkTensors(tensors);
  const copies = new Map([...tensors].map(([name, t]) => [name, t.data.slice()]));
  const given = [...tensors.values()].map((t) => t.data);
  const { tensors: back, checks } = await checkTensorsOffThread(tensors, 0);
  assert.deepEqual(checks, want);
  assert.deepEqual(checks.nonFinite, { name: 'bad', at: 1 });
  // The buffers went to the worker (the arrays given are detached) and came back whole.
  assert.ok(given.every((data) => data.byteLength === 0), 'the given arrays were moved, not copied');
  for (const [name, t] of back) assert.deepEqual(t.data, copies.get(name), name);
  assert.deepEqual([...back.keys()], ['bank', 'mean', 'bad']);
  // Views into a shared buffer cannot be moved one by one: they are checked here, and stay usable.
  const shared = new Uint8Array(8);
  const views = new Map<string, TensorEntry>([['p', { dtype: 'F32', shape: [1], data: shared.subarray(0, 4) }], ['q', { dtype: 'F32', shape: [1], data: shared.subarray(4) }]]);
  const inline = await checkTensorsOffThread(views, 0);
  assert.equal(inline.tensors, views);
  assert.equal(inline.checks.sha256, tensorsSha256(views));
  assert.equal(shared.byteLength, 8);
  // Below OFF_THREAD_CHECK_BYTES (the default) starting a worker costs more than the checks: they run here.
  const small = new Map([['m', own('F32', Float32Array.from([1, 2]))]]);
  const here = await checkTensorsOffThread(small);
  assert.equal(here.tensors, small);
  assert.equal(small.get('m')!.data.byteLength, 8);
  assert.equal(here.checks.sha256, tensorsSha256(small));
});

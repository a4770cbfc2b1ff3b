import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NpadInputError } from '../../src/errors.js';
import {
  encodeSafetensors,
  readSafetensors,
  readSafetensorsFile,
  toFloat32,
  type DType,
  type TensorEntry,
} from '../../src/tensorfile/safetensors.js';

const FILE = '/models/example.safetensors';
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-st-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function concat(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

/** A file: u64 header length, the header text (unpadded), then `data`. */
function handBuilt(header: string, data: number[] | Uint8Array): Uint8Array {
  const json = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Asserts that parsing `bytes` throws an NpadInputError naming FILE and matching `pattern`. */
function assertRefused(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => readSafetensors(bytes, FILE),
    (err: unknown) => {
      assert.ok(err instanceof NpadInputError, `expected NpadInputError, got ${String(err)}`);
      assert.ok(err.message.startsWith(`${FILE}: `), err.message);
      assert.match(err.message, pattern);
      assert.equal(err.file, FILE);
      return true;
    },
  );
}

const SAMPLES: Record<DType, { data: Uint8Array; values: number[] }> = {
  F32: { data: bytesOf(new Float32Array([1.5, -2, 3.25, 0, 1e-3, 7])), values: [1.5, -2, 3.25, 0, Math.fround(1e-3), 7] },
  F64: { data: bytesOf(new Float64Array([1.5, -2, 3.25, 0, 0.1, 7])), values: [1.5, -2, 3.25, 0, Math.fround(0.1), 7] },
  F16: { data: bytesOf(new Uint16Array([0x3e00, 0xc000, 0x4280, 0, 0x3c00, 0x4700])), values: [1.5, -2, 3.25, 0, 1, 7] },
  BF16: { data: bytesOf(new Uint16Array([0x3fc0, 0xc000, 0x4050, 0, 0x3f80, 0x40e0])), values: [1.5, -2, 3.25, 0, 1, 7] },
  I64: { data: bytesOf(new BigInt64Array([1n, -2n, 3n, 0n, 1n << 40n, 7n])), values: [1, -2, 3, 0, 2 ** 40, 7] },
  I32: { data: bytesOf(new Int32Array([1, -2, 3, 0, 100000, 7])), values: [1, -2, 3, 0, 100000, 7] },
  U8: { data: new Uint8Array([1, 2, 3, 0, 255, 7]), values: [1, 2, 3, 0, 255, 7] },
  I8: { data: bytesOf(new Int8Array([1, -2, 3, 0, -128, 127])), values: [1, -2, 3, 0, -128, 127] },
};

test('round trip of every dtype, in memory and through a file', async () => {
  const tensors = new Map<string, TensorEntry>();
  for (const [dtype, s] of Object.entries(SAMPLES) as Array<[DType, (typeof SAMPLES)[DType]]>) {
    tensors.set(`t.${dtype}`, { dtype, shape: [2, 3], data: s.data });
  }
  tensors.set('scalar', { dtype: 'F32', shape: [], data: bytesOf(new Float32Array([42])) });
  tensors.set('empty', { dtype: 'F16', shape: [0, 4], data: new Uint8Array(0) });
  const metadata = { framework: 'npad', '0': 'integer-like key', __proto__x: 'y' };
  const chunks = encodeSafetensors(tensors, metadata);
  const bytes = concat(chunks);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0, 'header padded to 8 bytes');

  const file = join(dir, 'all.safetensors');
  await writeFile(file, bytes);
  for (const parsed of [readSafetensors(bytes, FILE), await readSafetensorsFile(file)]) {
    assert.deepEqual(parsed.metadata, metadata);
    assert.deepEqual(new Set(parsed.tensors.keys()), new Set(tensors.keys()));
    for (const [name, t] of tensors) {
      const got = parsed.tensors.get(name);
      assert.ok(got);
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual(got.shape, t.shape);
      assert.deepEqual(Buffer.from(got.data), Buffer.from(t.data), name);
    }
    for (const [dtype, s] of Object.entries(SAMPLES)) {
      const got = parsed.tensors.get(`t.${dtype}`);
      assert.ok(got);
      assert.deepEqual([...toFloat32(got)], s.values, dtype);
    }
    assert.deepEqual([...toFloat32(parsed.tensors.get('scalar') as TensorEntry)], [42]);
  }
});

test('tensors are laid out aligned, largest itemsize first', () => {
  const tensors = new Map<string, TensorEntry>([
    ['a', { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) }],
    ['b', { dtype: 'F64', shape: [1], data: bytesOf(new Float64Array([1])) }],
    ['c', { dtype: 'F16', shape: [1], data: bytesOf(new Uint16Array([1])) }],
    ['d', { dtype: 'F32', shape: [1], data: bytesOf(new Float32Array([1])) }],
  ]);
  const bytes = concat(encodeSafetensors(tensors, {}));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<
    string,
    { data_offsets: [number, number] }
  >;
  assert.deepEqual(header['b']?.data_offsets, [0, 8]);
  assert.deepEqual(header['d']?.data_offsets, [8, 12]);
  assert.deepEqual(header['c']?.data_offsets, [12, 14]);
  assert.deepEqual(header['a']?.data_offsets, [14, 17]);
});

test('encoding matches the reference implementation byte for byte', () => {
  // Expected bytes from the tests of huggingface/safetensors (safetensors/src/tensor.rs).
  const data = bytesOf(new Float32Array([0, 1, 2, 3, 4, 5]));
  const one = concat(encodeSafetensors(new Map([['attn.0', { dtype: 'F32', shape: [1, 2, 3], data }]]), {}));
  assert.deepEqual(
    [...one],
    [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
      111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0,
      64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ],
  );
  const padded = concat(encodeSafetensors(new Map([['attn0', { dtype: 'F32', shape: [1, 1, 2, 3], data }]]), {}));
  assert.deepEqual(
    [...padded],
    [
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70,
      51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97,
      95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, 0, 0,
      0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ],
  );
  // (The stored copy of this last vector lacks the 34 = '"' closing "pt"; 40 header bytes need it.)
  assert.deepEqual([...concat(encodeSafetensors(new Map(), {}))], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  assert.deepEqual(
    [...concat(encodeSafetensors(new Map(), { framework: 'pt' }))],
    [
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114,
      97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ],
  );
});

test('a hand-built file from the reference docs parses (unpadded header, unaligned data)', () => {
  // The example in the safetensors docs: a 60-byte header and 16 bytes of I32.
  const bytes = handBuilt('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', [
    1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
  ]);
  assert.equal(bytes[0], 60);
  const { tensors, metadata } = readSafetensors(bytes, FILE);
  assert.deepEqual(metadata, {});
  const t = tensors.get('test');
  assert.ok(t);
  assert.equal(t.dtype, 'I32');
  assert.deepEqual(t.shape, [2, 2]);
  assert.equal(t.data.byteOffset % 4, 0, 'offset 68 is 4-aligned');
  assert.deepEqual([...toFloat32(t)], [1, 2, 3, -1]);

  // Header of 61 bytes: F32 data starts unaligned, so toFloat32 must copy.
  const odd = handBuilt('{"x": {"dtype":"F32","shape":[2],"data_offsets":[0,8]}, "__metadata__":{"k":"v"}} ', [
    ...bytesOf(new Float32Array([0.5, -8])),
  ]);
  const parsed = readSafetensors(odd, FILE);
  const x = parsed.tensors.get('x');
  assert.ok(x);
  assert.notEqual(x.data.byteOffset % 4, 0);
  assert.deepEqual([...toFloat32(x)], [0.5, -8]);
  assert.deepEqual(parsed.metadata, { k: 'v' });
});

test('tensors may be listed in any order in the header', () => {
  const bytes = handBuilt(
    '{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}',
    [1, 2, 3, 4],
  );
  const { tensors } = readSafetensors(bytes, FILE);
  assert.deepEqual([...(tensors.get('a')?.data ?? [])], [1, 2]);
  assert.deepEqual([...(tensors.get('b')?.data ?? [])], [3, 4]);
});

test('damaged or foreign files are refused with the file path in the message', () => {
  const u8 = (name: string, begin: number, end: number, shape = [end - begin]): string =>
    `"${name}":{"dtype":"U8","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;
  assertRefused(new Uint8Array([1, 2, 3]), /not a safetensors file: it is only 3 bytes/);
  assertRefused(new Uint8Array(Buffer.from('\x89PNG\r\n\x1a\nrest of a png file')), /not a safetensors file: .*limit/);
  const beyond = handBuilt('{}', []);
  new DataView(beyond.buffer).setBigUint64(0, 1000n, true);
  assertRefused(beyond, /the header is 1000 bytes but the file has only 2 bytes/);
  assertRefused(handBuilt('{"a":', []), /not valid JSON/);
  assertRefused(handBuilt('[1,2]', []), /not a JSON object/);
  assertRefused(handBuilt('{"a":1}', []), /tensor "a" is not described by a JSON object/);
  assertRefused(handBuilt(`{${u8('a', 0, 2)}}`, [1, 2, 3, 4]), /header says 2 bytes of tensors but the file has 4/);
  assertRefused(handBuilt(`{${u8('a', 0, 4)}}`, [1, 2]), /damaged safetensors file: header says 4 bytes of tensors but the file has 2/);
  assertRefused(handBuilt(`{${u8('a', 0, 2)},${u8('b', 1, 3)}}`, [1, 2, 3]), /"a" and "b" overlap/);
  assertRefused(handBuilt(`{${u8('a', 0, 2)},${u8('b', 3, 4)}}`, [1, 2, 3, 4]), /bytes 2 to 3 .* belong to no tensor/);
  assertRefused(handBuilt(`{${u8('a', 1, 3)}}`, [1, 2, 3]), /bytes 0 to 1/);
  assertRefused(handBuilt(`{${u8('a', 3, 1, [2])}}`, [1, 2, 3]), /ends \(1\) before it begins \(3\)/);
  assertRefused(handBuilt(`{${u8('a', 0, 4, [2, 3])}}`, [1, 2, 3, 4]), /shape \[2, 3\] of U8 \(6 bytes\) but its data_offsets span 4/);
  assertRefused(
    handBuilt('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)),
    /\(12 bytes\) but its data_offsets span 8/,
  );
  assertRefused(handBuilt('{"a":{"dtype":"I16","shape":[1],"data_offsets":[0,2]}}', [1, 2]), /dtype "I16", which npad does not support/);
  assertRefused(handBuilt('{"a":{"shape":[1],"data_offsets":[0,2]}}', [1, 2]), /no "dtype"/);
  assertRefused(handBuilt('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,2]}}', [1, 2]), /"shape" that is not/);
  assertRefused(handBuilt('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0]}}', [1, 2]), /"data_offsets" that are not/);
  assertRefused(
    handBuilt('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,1e300]}}', [1, 2]),
    /"data_offsets" that are not/,
  );
  assertRefused(
    handBuilt('{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,2]}}', [1, 2]),
    /too large/,
  );
  assertRefused(handBuilt('{"__metadata__":{"k":1}}', []), /"__metadata__" entry "k" is not a string/);
  assertRefused(handBuilt('{"__metadata__":[]}', []), /"__metadata__" is not a JSON object/);
  assertRefused(new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0x7b, 0x7d]), /not valid UTF-8/);
  // Duplicate keys: JSON.parse keeps the last, and the dropped range shows as a gap.
  assertRefused(handBuilt(`{${u8('a', 0, 2)},${u8('a', 2, 4)}}`, [1, 2, 3, 4]), /bytes 0 to 2 .* belong to no tensor/);
});

test('readSafetensorsFile refuses missing, unreadable and truncated files', async () => {
  const missing = join(dir, 'missing.safetensors');
  await assert.rejects(readSafetensorsFile(missing), (err: unknown) => {
    assert.ok(err instanceof NpadInputError);
    assert.equal(err.message, `${missing}: cannot read: no such file`);
    return true;
  });
  await assert.rejects(readSafetensorsFile(dir), (err: unknown) => {
    assert.ok(err instanceof NpadInputError);
    assert.match(err.message, /cannot read: it is a folder/);
    return true;
  });
  const whole = concat(
    encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [1000], data: new Uint8Array(4000) }]]), {}),
  );
  const truncated = join(dir, 'truncated.safetensors');
  await writeFile(truncated, whole.subarray(0, whole.length - 10));
  await assert.rejects(readSafetensorsFile(truncated), (err: unknown) => {
    assert.ok(err instanceof NpadInputError);
    assert.ok(err.message.startsWith(`${truncated}: `));
    assert.match(err.message, /header says 4000 bytes of tensors but the file has 3990/);
    return true;
  });
});

test('encodeSafetensors refuses tensors whose bytes disagree with their shape', () => {
  assert.throws(
    () => encodeSafetensors(new Map([['a', { dtype: 'F32', shape: [3], data: new Uint8Array(8) }]]), {}),
    RangeError,
  );
  assert.throws(
    () => encodeSafetensors(new Map([['__metadata__', { dtype: 'U8', shape: [1], data: new Uint8Array(1) }]]), {}),
    RangeError,
  );
});

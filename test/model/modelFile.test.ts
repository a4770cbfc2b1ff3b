import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NpadInputError } from '../../src/errors.js';
import {
  encodeModel,
  loadModel,
  MODEL_FORMAT_VERSION,
  saveModel,
  type ModelHeader,
  type ModelTensor,
} from '../../src/model/modelFile.js';
import { tensorsSha256 } from '../../src/model/tensorChecks.js';
import { encodeSafetensors, readSafetensors, type TensorEntry } from '../../src/tensorfile/safetensors.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-model-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SHA_A = 'a'.repeat(64);
const SHA_B = '0123456789abcdef'.repeat(4);

const HEADER: ModelHeader = {
  method: 'patchcore',
  config: { coreset: 0.1, layers: ['layer2', 'layer3'], nested: { k: 9 } },
  backbone: { id: 'wide_resnet50_2', weightsSha256: SHA_A },
};

function sampleTensors(): Map<string, ModelTensor> {
  return new Map<string, ModelTensor>([
    ['memory', { dtype: 'F32', shape: [3, 2], data: new Float32Array([1, 2, 3, 4.5, -5, 6e-8]) }],
    ['memory16', { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0x7bff]) }],
    ['index', { dtype: 'I32', shape: [4], data: new Int32Array([0, -1, 2 ** 31 - 1, 7]) }],
    ['mask', { dtype: 'U8', shape: [2, 2], data: new Uint8Array([0, 1, 255, 3]) }],
    ['quantised', { dtype: 'I8', shape: [3], data: new Int8Array([-127, 0, 127]) }],
    ['stats', { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) }],
    ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([0.25]) }],
  ]);
}

const bytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Asserts that loading `path` fails with an NpadInputError starting with the path and matching `pattern`. */
async function assertRefused(
  path: string,
  pattern: RegExp,
  expect?: { backboneId?: string; weightsSha256?: string },
): Promise<void> {
  await assert.rejects(loadModel(path, expect), (err: unknown) => {
    assert.ok(err instanceof NpadInputError, `expected NpadInputError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${path}: `), err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

/** Writes a safetensors file with a hand-made `npad` metadata object. */
async function writeWithMeta(name: string, meta: unknown, tensors = new Map<string, TensorEntry>()): Promise<string> {
  const path = join(dir, name);
  const metadata: Record<string, string> =
    meta === undefined ? {} : { npad: typeof meta === 'string' ? meta : JSON.stringify(meta) };
  await writeFile(path, Buffer.concat(encodeSafetensors(tensors, metadata)));
  return path;
}

function validMeta(tensors: Map<string, TensorEntry>): Record<string, unknown> {
  return {
    format: 'npad-model',
    formatVersion: 1,
    method: 'm',
    config: {},
    backbone: { id: 'b', weightsSha256: SHA_A },
    tensorsSha256: tensorsSha256(tensors),
    createdAt: '2024-01-01T00:00:00.000Z',
    npadVersion: '0.1.0',
  };
}

test('round trip of every model dtype with header and metadata', async () => {
  const path = join(dir, 'roundtrip.safetensors');
  const tensors = sampleTensors();
  const beforeSave = Date.now();
  await saveModel(path, HEADER, tensors);
  const loaded = await loadModel(path, { backboneId: 'wide_resnet50_2', weightsSha256: SHA_A.toUpperCase() });
  assert.equal(MODEL_FORMAT_VERSION, 4);
  // A file records the oldest version that reads it: 1 unless the header asks for more.
  assert.equal(loaded.header.formatVersion, 1);
  const packed = join(dir, 'version2.safetensors');
  await saveModel(packed, { ...HEADER, formatVersion: 2 }, tensors);
  assert.equal((await loadModel(packed)).header.formatVersion, 2);
  await assert.rejects(saveModel(packed, { ...HEADER, formatVersion: 5 }, tensors), /formatVersion 5 must be an integer from 1 to 4/);
  assert.equal(loaded.header.method, HEADER.method);
  assert.deepEqual(loaded.header.config, HEADER.config);
  assert.deepEqual(loaded.header.backbone, HEADER.backbone);
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(loaded.header.npadVersion, pkg.version);
  const created = Date.parse(loaded.header.createdAt);
  assert.ok(created >= beforeSave - 1000 && created <= Date.now());
  assert.equal(new Date(created).toISOString(), loaded.header.createdAt);
  assert.deepEqual(new Set(loaded.tensors.keys()), new Set(tensors.keys()));
  for (const [name, t] of tensors) {
    const got = loaded.tensors.get(name);
    assert.ok(got, name);
    assert.equal(got.dtype, t.dtype);
    assert.deepEqual(got.shape, t.shape);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual([...got.data], [...t.data], name);
  }
  assert.deepEqual(await readdir(dir).then((f) => f.filter((n) => n.endsWith('.tmp'))), []);
});

test('the file is plain safetensors with the documented npad metadata and checksum', async () => {
  const tensors = sampleTensors();
  const created = new Date('2024-05-06T07:08:09.010Z');
  const file = readSafetensors(new Uint8Array(Buffer.concat(encodeModel(HEADER, tensors, created))), 'mem');
  assert.deepEqual(Object.keys(file.metadata), ['npad']);
  const meta = JSON.parse(file.metadata['npad'] ?? '') as Record<string, unknown>;
  assert.deepEqual(Object.keys(meta).sort(), [
    'backbone',
    'config',
    'createdAt',
    'format',
    'formatVersion',
    'headerSha256',
    'method',
    'npadVersion',
    'tensorsSha256',
  ]);
  assert.equal(meta['format'], 'npad-model');
  assert.equal(meta['createdAt'], '2024-05-06T07:08:09.010Z');

  // Recompute the checksum straight from its documented definition.
  const u64 = (n: number): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  const hash = createHash('sha256');
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name) as ModelTensor;
    const parts = [Buffer.from(name), Buffer.from(t.dtype)];
    for (const p of parts) hash.update(u64(p.length)).update(p);
    hash.update(u64(t.shape.length));
    for (const d of t.shape) hash.update(u64(d));
    hash.update(u64(t.data.byteLength)).update(bytes(t.data));
  }
  assert.equal(meta['tensorsSha256'], hash.digest('hex'));
  // The header checksum from its documented definition: canonical JSON (sorted keys, no spaces) of method, config, backbone.
  const canonical = `{"backbone":{"id":"wide_resnet50_2","weightsSha256":"${SHA_A}"},"config":{"coreset":0.1,"layers":["layer2","layer3"],"nested":{"k":9}},"method":"patchcore"}`;
  assert.equal(meta['headerSha256'], createHash('sha256').update(canonical).digest('hex'));
});

test('a hand-edited configuration fails the header checksum; a file from before it existed still loads', async () => {
  const path = join(dir, 'edited.safetensors');
  await saveModel(path, HEADER, sampleTensors());
  const data = await readFile(path);
  const at = data.indexOf('\\"k\\":9');
  assert.ok(at > 0, 'the metadata JSON sits inside the safetensors header, its quotes escaped');
  data.write('\\"k\\":8', at, 'latin1'); // the same length: the file stays valid safetensors
  await writeFile(path, data);
  await assertRefused(path, /: its configuration does not match its checksum: the file is damaged or was edited by hand$/);

  // A file written before header checksums: the field is absent, and it loads as before.
  const old = join(dir, 'before-header-checksum.safetensors');
  const file = readSafetensors(new Uint8Array(Buffer.concat(encodeModel(HEADER, sampleTensors()))), 'mem');
  const meta = JSON.parse(file.metadata['npad'] ?? '') as Record<string, unknown>;
  delete meta['headerSha256'];
  await writeFile(old, Buffer.concat(encodeSafetensors(file.tensors, { npad: JSON.stringify(meta) })));
  assert.deepEqual((await loadModel(old)).header.config, HEADER.config);
});

test('the checksum orders names by code point, not UTF-16 unit', () => {
  const t = (): TensorEntry => ({ dtype: 'U8', shape: [1], data: new Uint8Array([1]) });
  // U+FF21 sorts before U+1F600 by code point, after it by UTF-16 code unit.
  const a = tensorsSha256(new Map([['\uff21', t()], ['\u{1f600}', t()]]));
  const b = tensorsSha256(new Map([['\u{1f600}', t()], ['\uff21', t()]]));
  assert.equal(a, b);
});

test('a truncated model is refused as damaged', async () => {
  const path = join(dir, 'truncated.safetensors');
  await saveModel(path, HEADER, new Map([['m', { dtype: 'F32', shape: [1000], data: new Float32Array(1000) }]]));
  const whole = await readFile(path);
  await writeFile(path, whole.subarray(0, whole.length - 3000));
  await assertRefused(path, /: damaged model file: header says 4000 bytes of tensors but the file has 1000$/);
  await writeFile(path, whole.subarray(0, 20));
  await assertRefused(path, /damaged model file \(or not a safetensors file\)/);
});

test('a file that is not safetensors is refused', async () => {
  const path = join(dir, 'photo.png');
  await writeFile(path, Buffer.from('\x89PNG\r\n\x1a\n\0\0\0\rIHDR and so on', 'latin1'));
  await assertRefused(path, /not a safetensors file/);
  const text = join(dir, 'notes.txt');
  await writeFile(text, 'hi');
  await assertRefused(text, /not a safetensors file: it is only 2 bytes long/);
});

test('a safetensors file without npad metadata is not an npad model', async () => {
  await assertRefused(await writeWithMeta('plain.safetensors', undefined), /not an npad model/);
  await assertRefused(await writeWithMeta('other.safetensors', { format: 'something-else' }), /not an npad model/);
});

test('a model from a newer npad is refused with both format versions', async () => {
  const meta = { ...validMeta(new Map()), formatVersion: 5, method: 42, whatever: 'new fields' };
  const path = await writeWithMeta('newer.safetensors', meta);
  await assertRefused(path, /: made by a newer npad \(format 5\); this npad reads format 4$/);
  await assertRefused(await writeWithMeta('v0.safetensors', { ...meta, formatVersion: 0 }), /unknown model format version 0/);
  await assertRefused(await writeWithMeta('vx.safetensors', { ...meta, formatVersion: '1' }), /unknown model format version "1"/);
});

test('malformed npad metadata is refused as damaged', async () => {
  const good = validMeta(new Map());
  await assertRefused(await writeWithMeta('badjson.safetensors', '{"format":'), /damaged model file: .*not valid JSON/);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...good, method: '' }, /"method"/],
    [{ ...good, config: [1] }, /"config"/],
    [{ ...good, backbone: { id: 'b' } }, /"backbone"/],
    [{ ...good, tensorsSha256: 'abc' }, /"tensorsSha256"/],
    [{ ...good, createdAt: 'yesterday' }, /"createdAt"/],
    [{ ...good, npadVersion: 1 }, /"npadVersion"/],
  ];
  for (const [i, [meta, pattern]] of cases.entries()) {
    await assertRefused(await writeWithMeta(`bad${i}.safetensors`, meta), pattern);
  }
  const bf16 = new Map<string, TensorEntry>([['w', { dtype: 'BF16', shape: [1], data: new Uint8Array(2) }]]);
  await assertRefused(await writeWithMeta('bf16.safetensors', validMeta(bf16), bf16), /dtype BF16, which npad models do not use/);
});

test('a flipped bit in the tensor data fails the checksum', async () => {
  const path = join(dir, 'flipped.safetensors');
  await saveModel(path, HEADER, sampleTensors());
  const data = await readFile(path);
  data[data.length - 5] = (data[data.length - 5] ?? 0) ^ 0x10;
  await writeFile(path, data);
  await assertRefused(path, /: tensor data does not match its checksum: the file is damaged$/);
});

test('a model fitted with another backbone is refused', async () => {
  const path = join(dir, 'backbone.safetensors');
  await saveModel(path, HEADER, sampleTensors());
  await assertRefused(
    path,
    /: fitted with backbone wide_resnet50_2 \(weights sha256 aaaaaaaaaaaa…\) but the current backbone is resnet18 \(weights sha256 0123456789ab…\)/,
    { backboneId: 'resnet18', weightsSha256: SHA_B },
  );
  await assertRefused(path, /but the current backbone is wide_resnet50_2 \(weights sha256 0123456789ab…\)/, {
    weightsSha256: SHA_B,
  });
  await assertRefused(path, /but the current backbone is resnet18/, { backboneId: 'resnet18' });
  await loadModel(path, { backboneId: 'wide_resnet50_2' });
  await loadModel(path, {});
});

test('a missing model file is refused', async () => {
  await assertRefused(join(dir, 'nothing-here.safetensors'), /cannot read: no such file/);
});

test('saveModel refuses malformed input before touching the file', async () => {
  const path = join(dir, 'refused.safetensors');
  await writeFile(path, 'previous');
  const wrongArray = new Map<string, ModelTensor>([['x', { dtype: 'F32', shape: [2], data: new Float64Array(2) }]]);
  await assert.rejects(saveModel(path, HEADER, wrongArray), RangeError);
  const wrongShape = new Map<string, ModelTensor>([['x', { dtype: 'F32', shape: [3], data: new Float32Array(2) }]]);
  await assert.rejects(saveModel(path, HEADER, wrongShape), RangeError);
  const badSha = { ...HEADER, backbone: { id: 'b', weightsSha256: 'xyz' } };
  await assert.rejects(saveModel(path, badSha, new Map()), RangeError);
  assert.equal(await readFile(path, 'utf8'), 'previous');
});

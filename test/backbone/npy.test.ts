import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, parseNpy, readNpy } from '../../src/backbone/npy.js';
import { NpadInputError } from '../../src/errors.js';
import { inputError } from './helpers.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-npy-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A .npy file written byte by byte: magic, version, header length (2 or 4 bytes), header, data. */
function handWritten(major: number, header: string, data: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(header);
  const lenBytes = major === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lenBytes + head.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, head.length, true);
  else view.setUint32(8, head.length, true);
  out.set(head, 8 + lenBytes);
  out.set(data, 8 + lenBytes + head.length);
  return out;
}

function le32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** Pads a header like numpy: spaces then a newline, data at a multiple of 64 (or 16 for old files). */
function padded(dict: string, prefix: number, align = 64): string {
  const n = prefix + dict.length + 1;
  return dict + ' '.repeat((align - (n % align)) % align) + '\n';
}

async function write(name: string, bytes: Uint8Array): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, bytes);
  return file;
}

/** A header dict for a little-endian float32 array of `shape` (Python tuple syntax). */
function dict(shape: string, descr = '<f4', fortran = 'False'): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;
}

describe('readNpy', () => {
  it('reads a version 1.0 file with a 2-D shape', async () => {
    const header = padded("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 10);
    const file = await write('v1.npy', handWritten(1, header, le32([1, 2, 3, 4.5, -5, 6e-8])));
    const arr = await readNpy(file);
    assert.deepEqual(arr.shape, [2, 3]);
    assert.deepEqual([...arr.data], [...new Float32Array([1, 2, 3, 4.5, -5, 6e-8])]);
  });

  it('reads version 2.0 and 3.0 headers (4-byte length; 3.0 is UTF-8)', async () => {
    const v2 = handWritten(2, padded("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 12), le32([7, 8, 9]));
    assert.deepEqual(await readNpy(await write('v2.npy', v2)), { shape: [3], data: new Float32Array([7, 8, 9]) });
    const v3 = handWritten(3, padded("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", 12), le32([0.25, -1]));
    assert.deepEqual(await readNpy(await write('v3.npy', v3)), { shape: [1, 1, 2], data: new Float32Array([0.25, -1]) });
  });

  it('reads a scalar, an empty array and an unaligned data offset', () => {
    const scalar = handWritten(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", le32([3.5]));
    assert.deepEqual(parseNpy(scalar), { shape: [], data: new Float32Array([3.5]) });
    const empty = handWritten(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }\n", new Uint8Array(0));
    assert.deepEqual(parseNpy(empty).shape, [0, 4]);
    // Header of odd length: the data starts at an offset that is not a multiple of 4.
    const odd = handWritten(1, "{'descr':'<f4','fortran_order':False,'shape':(2,)}\n", le32([1, 2]));
    assert.deepEqual([...parseNpy(odd).data], [1, 2]);
  });

  it('round-trips encodeNpy, data 64-byte aligned as numpy writes it', () => {
    const data = new Float32Array([1, -2, 3, 4, 5, 6]);
    const bytes = encodeNpy([3, 2], data);
    assert.equal((bytes[8]! | (bytes[9]! << 8)) + 10, bytes.length - data.byteLength);
    assert.equal((bytes.length - data.byteLength) % 64, 0);
    assert.deepEqual(parseNpy(bytes), { shape: [3, 2], data });
    assert.deepEqual(parseNpy(encodeNpy([4], new Float32Array(4))).shape, [4]);
  });

  it('rejects other dtypes, Fortran order, bad magic, wrong sizes and missing files, naming the file', async () => {
    const f8 = await write('f8.npy', handWritten(1, dict('(1,)', '<f8'), new Uint8Array(8)));
    await assert.rejects(readNpy(f8), inputError(f8, "'<f8'"));
    const parse = (major: number, header: string, bytes: number) => () =>
      parseNpy(handWritten(major, header, new Uint8Array(bytes)), 'x.npy');
    assert.throws(parse(1, dict('(1,)', '>f4'), 4), inputError('x.npy', "'>f4'"));
    assert.throws(parse(1, dict('(2, 2)', '<f4', 'True'), 16), inputError('x.npy', 'Fortran'));
    assert.throws(parse(1, dict('(2, 2)'), 12), inputError('x.npy', '16 data bytes', 'has 12'));
    assert.throws(parse(4, '{}', 0), inputError('x.npy', 'version 4'));
    assert.throws(parse(1, "{'descr': '<f4'}\n", 0), inputError('x.npy', 'malformed'));
    assert.throws(() => parseNpy(new TextEncoder().encode('PK\u0003\u0004 not numpy'), 'x.npz'), inputError('x.npz', 'magic'));
    const missing = join(dir, 'missing.npy');
    await assert.rejects(readNpy(missing), inputError(missing));
    await assert.rejects(readNpy(missing), (e: unknown) => e instanceof NpadInputError && e.file === missing);
  });
});

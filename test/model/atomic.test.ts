import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NpadInputError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/io/atomic.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npad-atomic-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh empty folder inside the test folder. */
async function folder(name: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d);
  return d;
}

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

test('writes a new file and replaces an existing one, leaving no temp file', async () => {
  const d = await folder('replace');
  const path = join(d, 'model.safetensors');
  await writeFileAtomic(path, [bytes('hello '), bytes('world')]);
  assert.equal(await readFile(path, 'utf8'), 'hello world');
  await writeFileAtomic(path, [bytes('second')]);
  assert.equal(await readFile(path, 'utf8'), 'second');
  await writeFileAtomic(path, []);
  assert.equal((await readFile(path)).length, 0);
  assert.deepEqual(await readdir(d), ['model.safetensors']);
});

test('a chunk source that throws midway leaves the previous file byte-identical and no temp file', async () => {
  const d = await folder('throws');
  const path = join(d, 'model.safetensors');
  const previous = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
  await writeFile(path, previous);
  const boom = new Error('feature extraction failed');
  function* chunks(): Generator<Uint8Array> {
    yield new Uint8Array(50_000).fill(1);
    yield new Uint8Array(50_000).fill(2);
    throw boom;
  }
  await assert.rejects(writeFileAtomic(path, chunks()), (err: unknown) => err === boom);
  assert.deepEqual(await readFile(path), Buffer.from(previous));
  assert.deepEqual(await readdir(d), ['model.safetensors']);
});

test('a missing folder is an NpadInputError naming the path', async () => {
  const path = join(dir, 'no-such-folder', 'model.safetensors');
  await assert.rejects(writeFileAtomic(path, [bytes('x')]), (err: unknown) => {
    assert.ok(err instanceof NpadInputError);
    assert.equal(err.file, path);
    assert.ok(err.message.startsWith(`${path}: cannot write: `), err.message);
    assert.match(err.message, /does not exist/);
    return true;
  });
});

test('a folder in the way of the target is refused and the temp file removed', async () => {
  const d = await folder('isdir');
  const path = join(d, 'model.safetensors');
  await mkdir(path);
  await writeFile(join(path, 'inside'), 'x');
  await assert.rejects(writeFileAtomic(path, [bytes('x')]), (err: unknown) => {
    assert.ok(err instanceof NpadInputError);
    assert.ok(err.message.startsWith(`${path}: cannot write: `), err.message);
    return true;
  });
  assert.deepEqual(await readdir(d), ['model.safetensors']);
  assert.ok((await stat(path)).isDirectory());
});

test('a read-only folder is an NpadInputError (permission denied)', async (t) => {
  if (process.getuid?.() === 0) {
    t.skip('root ignores permissions');
    return;
  }
  const d = await folder('readonly');
  await chmod(d, 0o555);
  const path = join(d, 'model.safetensors');
  try {
    await assert.rejects(writeFileAtomic(path, [bytes('x')]), (err: unknown) => {
      assert.ok(err instanceof NpadInputError);
      assert.match(err.message, /permission denied/);
      return true;
    });
  } finally {
    await chmod(d, 0o755);
  }
});

test('the replaced file keeps its permission bits', async () => {
  const d = await folder('mode');
  const path = join(d, 'model.safetensors');
  await writeFile(path, 'old');
  await chmod(path, 0o640);
  await writeFileAtomic(path, [bytes('new')]);
  assert.equal((await stat(path)).mode & 0o777, 0o640);
  assert.equal(await readFile(path, 'utf8'), 'new');
});

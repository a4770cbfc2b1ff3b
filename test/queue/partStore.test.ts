/**
 * Where a sharded fit's parts travel (src/queue/partStore.ts): folder paths and s3:// locations, and a round trip
 * through a real S3-compatible server (s3rver, in this process) reached through the AWS SDK.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { NpadInputError } from '../../src/errors.js';
import { parseS3Location, partLocation, readPart, removePart, writePart } from '../../src/queue/partStore.js';

describe('part locations', () => {
  it('splits s3:// locations and places parts under a prefix or a folder', () => {
    assert.deepEqual(parseS3Location('s3://npad-parts/fits/a.part'), { bucket: 'npad-parts', key: 'fits/a.part' });
    assert.equal(parseS3Location('/shared/parts'), null);
    assert.equal(partLocation('s3://npad-parts/fits/', 'x.part'), 's3://npad-parts/fits/x.part');
    assert.equal(partLocation('s3://npad-parts', 'x.part'), 's3://npad-parts/x.part');
    assert.equal(partLocation('/shared/parts', 'x.part'), '/shared/parts/x.part');
    assert.equal(partLocation('rel', 'x.part'), path.resolve('rel', 'x.part'));
  });

  it('refuses a bucket name S3 would refuse, naming the location', () => {
    for (const bad of ['s3://b/x', 's3://Upper/x', 's3://', 's3://-dash/x']) {
      assert.throws(() => parseS3Location(bad), (e: unknown) => e instanceof NpadInputError && e.message.startsWith(`${bad}: not an S3 location`), bad);
    }
  });
});

describe('parts in an S3 bucket (s3rver)', () => {
  let s3: S3rver;
  let folder = '';
  let work = '';
  const saved = { ...process.env };
  before(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'npad-s3-'));
    work = await mkdtemp(path.join(os.tmpdir(), 'npad-parts-'));
    s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: folder, configureBuckets: [{ name: 'npad-parts', configs: [] }] });
    const { port } = await s3.run();
    Object.assign(process.env, { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  });
  after(async () => {
    process.env = saved;
    await s3.close();
    await rm(folder, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('writes a part, reads the same bytes back and removes it, leaving no temporary file', async () => {
    const bytes = Buffer.from(Array.from({ length: 11 << 20 }, (_, i) => (i * 31) & 255)); // three multipart-upload parts of 5 MiB
    const location = partLocation('s3://npad-parts/fits', 'one.part');
    const tmpBefore = await readdir(os.tmpdir());
    assert.equal(await writePart(location, (file) => writeFile(file, bytes)), bytes.length);
    const back = await readPart(location, (file) => readFile(file));
    assert.ok(back.equals(bytes));
    await removePart(location);
    await removePart(location); // already gone: not an error
    await assert.rejects(readPart(location, (file) => readFile(file)), (e: unknown) => e instanceof NpadInputError && /^s3:\/\/npad-parts\/fits\/one\.part: NoSuchKey \(HTTP 404\)/.test(e.message));
    assert.deepEqual((await readdir(os.tmpdir())).filter((f) => f.startsWith('npad-part-') && !tmpBefore.includes(f)), []);
  });

  it('a bucket that does not exist is an input error naming the location', async () => {
    const location = 's3://no-such-bucket/x.part';
    await assert.rejects(writePart(location, (file) => writeFile(file, 'x')), (e: unknown) => e instanceof NpadInputError && /^s3:\/\/no-such-bucket\/x\.part: NoSuchBucket \(HTTP 404\)/.test(e.message));
  });

  it('a folder location is the file itself', async () => {
    const location = partLocation(work, 'local.part');
    assert.equal(await writePart(location, (file) => writeFile(file, 'abc')), 3);
    assert.equal(await readPart(location, (file) => readFile(file, 'utf8')), 'abc');
    await removePart(location);
    assert.deepEqual(await readdir(work), []);
  });
});

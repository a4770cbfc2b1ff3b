/**
 * Jobs over a real Redis (BullMQ): a redis-server started on a free local port, worker processes started as a user
 * starts them (`npad worker --queue`), and the coordinators (`npad predict --queue`, `npad fit --queue`) checked
 * against local runs: the same output to the byte. Sharded fits leave their parts in a folder or in an S3 bucket
 * (s3rver, an S3-compatible server in this process, reached through the AWS SDK as a real bucket would be). Then the
 * failures: a worker killed mid-job, a worker told to stop, Redis restarted without its data, Redis not there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { loadModel } from '../../src/model/modelFile.js';
import { bottle, haveData, repo, runNpad } from '../cli/helpers.js';

const redisServer = process.env.NPAD_REDIS_SERVER ?? '/usr/bin/redis-server';
const haveRedis = process.env.NPAD_SKIP_REDIS !== '1' && existsSync(redisServer);
const skip = !haveData ? 'shared bottle data not found' : !haveRedis ? `no redis-server at ${redisServer} (npm test installs it; NPAD_SKIP_REDIS=1 skips)` : false;
/** A tiny N-pad: the transport is under test, not accuracy. */
const TINY = ['--input', 'crop', '--dim', '12', '--set', 'moduleD=false', '--batch-size', '4'];

let tmp = '';
let url = '';
let port = 0;
let redis: ChildProcess | null = null;
let s3: S3rver | null = null;
/** The bucket s3rver serves, and the folder it keeps its objects in. */
const BUCKET = 'npad-parts';
let s3Folder = '';
const workers: { process: ChildProcess; log: string[] }[] = [];

/** A free local TCP port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address() as { port: number };
      server.close(() => resolve(p));
    });
    server.on('error', reject);
  });
}

async function startRedis(): Promise<void> {
  redis = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let waited = 0; spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG'; waited += 100) {
    assert.ok(waited < 10_000, 'redis-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopRedis(): Promise<void> {
  const r = redis;
  redis = null;
  if (!r || r.exitCode !== null) return;
  const gone = new Promise((resolve) => r.once('exit', resolve));
  r.kill('SIGKILL'); // no save: its data is gone
  await gone;
}

/** Starts `npad worker` and resolves once it waits for jobs. */
async function startWorker(): Promise<{ process: ChildProcess; log: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src', 'cli', 'main.ts'), 'worker', '--queue', url, '--lock-s', '5'], {
    cwd: repo,
    env: { ...process.env, NPAD_THREADS: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const worker = { process: child, log: [] as string[] };
  child.stderr!.on('data', (chunk: Buffer) => worker.log.push(...chunk.toString().split('\n').filter(Boolean)));
  await until(() => worker.log.some((l) => l.includes('waiting for jobs')), 20_000, () => `the worker did not start: ${worker.log.join('\n')}`);
  workers.push(worker);
  return worker;
}

async function until(condition: () => boolean, ms: number, what: () => string): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    assert.ok(waited < ms, what());
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `npad ARGS` without blocking this process (so that it can kill a worker meanwhile). */
function npadAsync(args: string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  // tsx by URL: the command runs in the temporary folder, where a bare 'tsx' would not resolve.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(repo, 'src', 'cli', 'main.ts'), ...args], { cwd: tmp, env: { ...process.env, NPAD_THREADS: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return { done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))) };
}

/** Every file under `dir`, relative, with its bytes. */
async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.set(path.relative(dir, path.join(e.parentPath, e.name)), await readFile(path.join(e.parentPath, e.name)));
  }
  return out;
}

async function copyImages(from: string, to: string, first: number, count: number): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const f of (await readdir(from)).sort().slice(first, first + count)) await copyFile(path.join(from, f), path.join(to, f));
}

describe('jobs over Redis: npad worker, npad fit --queue and npad predict --queue', { skip }, () => {
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'npad-queue-'));
    port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    await startRedis();
    await copyImages(path.join(bottle, 'train', 'good'), path.join(tmp, 'a'), 0, 8);
    await copyImages(path.join(bottle, 'train', 'good'), path.join(tmp, 'b'), 8, 8);
    await copyImages(path.join(bottle, 'test', 'broken_large'), path.join(tmp, 'images'), 0, 12);
    await copyImages(path.join(bottle, 'test', 'good'), path.join(tmp, 'images', 'good'), 0, 12);
    await writeFile(path.join(tmp, 'images', 'bad.png'), 'not an image'); // skipped as a local run skips it
    // The workers and coordinators started below inherit these: the AWS SDK's own settings.
    s3Folder = await mkdtemp(path.join(os.tmpdir(), 'npad-s3-'));
    s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3Folder, configureBuckets: [{ name: BUCKET, configs: [] }] });
    const { port: s3Port } = await s3.run();
    Object.assign(process.env, { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${s3Port}`, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
    const fit = runNpad(['fit', path.join(tmp, 'a'), '--out', path.join(tmp, 'local-a.npad'), ...TINY]);
    assert.equal(fit.code, 0, fit.stderr);
    await startWorker();
    await startWorker();
  });
  after(async () => {
    for (const w of workers) w.process.kill('SIGKILL');
    await stopRedis();
    await s3?.close();
    await rm(tmp, { recursive: true, force: true });
    if (s3Folder) await rm(s3Folder, { recursive: true, force: true });
  });

  it('predicts through two workers exactly as locally: the same lines, predictions.jsonl and pictures, in order', async () => {
    const model = path.join(tmp, 'local-a.npad');
    const local = runNpad(['predict', model, path.join(tmp, 'images'), '--out', path.join(tmp, 'out-local'), '--json']);
    const queued = await npadAsync(['predict', model, 'images', '--out', 'out-queue', '--json', '--queue', url]).done;
    assert.equal(local.code, 3, local.stderr); // the bad file is skipped and named
    assert.equal(queued.code, 3, queued.stderr);
    // The files named as given (here relative to another folder), the rest to the byte.
    assert.equal(queued.stdout, local.stdout.split(`${tmp}/`).join(''));
    assert.match(queued.stderr, /skipped images\/bad\.png: not a decodable image/);
    const [l, q] = [await filesUnder(path.join(tmp, 'out-local')), await filesUnder(path.join(tmp, 'out-queue'))];
    assert.deepEqual([...q.keys()].sort(), [...l.keys()].sort());
    for (const [name, bytes] of l) {
      if (name === 'predictions.jsonl') assert.equal(q.get(name)!.toString(), bytes.toString().split(`${tmp}/`).join(''));
      else assert.ok(bytes.equals(q.get(name)!), name);
    }
    const ran = workers.map((w) => w.log.filter((line) => /\(predict\) done/.test(line)).length);
    assert.ok(ran.every((n) => n > 0), `both workers took jobs: ${ran.join(', ')}`);
  });

  it('fits a list of folders, one job each, into models whose tensors equal local fits', async () => {
    const r = await npadAsync(['fit', 'a', 'b', '--queue', url, '--out', 'models', ...TINY]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^a: fitted on 7 images/m);
    assert.match(r.stdout, /^b: fitted on 7 images/m);
    const local = runNpad(['fit', path.join(tmp, 'b'), '--out', path.join(tmp, 'local-b.npad'), ...TINY]);
    assert.equal(local.code, 0);
    for (const [queued, alone] of [['models/a.npad', 'local-a.npad'], ['models/b.npad', 'local-b.npad']] as const) {
      const [q, l] = [await loadModel(path.join(tmp, queued)), await loadModel(path.join(tmp, alone))];
      assert.deepEqual([...q.tensors.keys()], [...l.tensors.keys()]);
      for (const [name, t] of l.tensors) assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(q.tensors.get(name)!.data.buffer, q.tensors.get(name)!.data.byteOffset, q.tensors.get(name)!.data.byteLength)), `${queued} ${name}`);
      const settings = (h: typeof q.header): unknown => ({ ...h.config, calibration: { ...(h.config.calibration as object), createdAt: 'when it was fitted' } });
      assert.deepEqual(settings(q.header), settings(l.header));
    }
  });

  it('a sharded fit (PaDiM) gives the same model bytes on the workers as in one process with the same shards; one shard is the plain fit', async () => {
    const PADIM = ['--method', 'padim', '--dim', '12', '--input', 'crop', '--batch-size', '4'];
    const tensorsOf = async (file: string): Promise<Map<string, Buffer>> =>
      new Map([...(await loadModel(path.join(tmp, file))).tensors].map(([n, t]) => [n, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
    const queued = await npadAsync(['fit', 'a', '--out', 'sharded-queue.npad', '--shards', '3', '--queue', url, ...PADIM]).done;
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stderr, /shard 3 of 3: 2 images, part [\d.]+ MB/);
    for (const [args, file] of [[['--shards', '3'], 'sharded-local.npad'], [['--shards', '1'], 'one-shard.npad'], [[], 'plain.npad']] as const) {
      const r = runNpad(['fit', path.join(tmp, 'a'), '--out', path.join(tmp, file), ...args, ...PADIM]);
      assert.equal(r.code, 0, r.stderr);
    }
    const same = (x: Map<string, Buffer>, y: Map<string, Buffer>): boolean => x.size === y.size && [...x].every(([n, b]) => y.get(n)?.equals(b) === true);
    assert.ok(same(await tensorsOf('sharded-queue.npad'), await tensorsOf('sharded-local.npad')), 'queue and one process, 3 shards: the same bytes');
    assert.ok(same(await tensorsOf('one-shard.npad'), await tensorsOf('plain.npad')), 'one shard is the plain fit');
    assert.equal(readdirSync(tmp).filter((f) => f.endsWith('.part')).length, 0, 'the parts are deleted');
    // The same parts through an S3 bucket: the same bytes, and nothing left in the bucket.
    const viaS3 = await npadAsync(['fit', 'a', '--out', 'sharded-s3.npad', '--shards', '3', '--queue', url, '--parts', `s3://${BUCKET}/fits`, ...PADIM]).done;
    assert.equal(viaS3.code, 0, viaS3.stderr);
    assert.ok(same(await tensorsOf('sharded-s3.npad'), await tensorsOf('sharded-local.npad')), 'S3 and one process, 3 shards: the same bytes');
    const left = (await readdir(s3Folder, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.') && e.parentPath.includes('fits'));
    assert.deepEqual(left.map((e) => e.name), [], 'the parts are deleted from the bucket');
    const noBucket = await npadAsync(['fit', 'a', '--out', 'x.npad', '--shards', '2', '--queue', url, '--parts', 's3://no-such-bucket/fits', ...PADIM]).done;
    assert.equal(noBucket.code, 2, noBucket.stderr);
    assert.match(noBucket.stderr, /shard 1 of 2.*s3:\/\/no-such-bucket\/fits\/[\w-]+\.part: NoSuchBucket \(HTTP 404\)/);
    assert.doesNotMatch(noBucket.stderr, /\n\s+at /);
    const badFlag = runNpad(['fit', path.join(tmp, 'a'), '--out', path.join(tmp, 'x.npad'), '--parts', 's3://b', ...PADIM]);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /--parts is where the workers of a --queue fit with --shards leave their parts/);
    const paper = runNpad(['fit', path.join(tmp, 'a'), '--out', path.join(tmp, 'x.npad'), '--shards', '2', '--preset', 'paper', ...TINY]);
    assert.equal(paper.code, 2);
    assert.match(paper.stderr, /a sharded N-pad fit needs option bank patch-coreset/);
    const patchcore = runNpad(['fit', path.join(tmp, 'a'), '--out', path.join(tmp, 'x.npad'), '--shards', '2', '--method', 'patchcore']);
    assert.equal(patchcore.code, 2);
    assert.match(patchcore.stderr, /patchcore has no sharded fit/);
  });

  it('a sharded N-pad fit (channel survey, two grids, the position-free bank) gives the same bytes on the workers as in one process; one shard is the plain fit', async () => {
    const tensorsOf = async (file: string): Promise<Map<string, Buffer>> =>
      new Map([...(await loadModel(path.join(tmp, file))).tensors].map(([n, t]) => [n, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
    const queued = await npadAsync(['fit', 'b', '--out', 'npad-queue.npad', '--shards', '2', '--queue', url, ...TINY]).done;
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stderr, /shard 2 of 2: \d+ images, part/);
    for (const [args, file] of [[['--shards', '2'], 'npad-local.npad'], [['--shards', '1'], 'npad-one.npad']] as const) {
      const r = runNpad(['fit', path.join(tmp, 'b'), '--out', path.join(tmp, file), ...args, ...TINY]);
      assert.equal(r.code, 0, r.stderr);
    }
    const same = (x: Map<string, Buffer>, y: Map<string, Buffer>): boolean => x.size === y.size && [...x].every(([n, b]) => y.get(n)?.equals(b) === true);
    assert.ok(same(await tensorsOf('npad-queue.npad'), await tensorsOf('npad-local.npad')), 'queue and one process, 2 shards: the same bytes');
    assert.ok(same(await tensorsOf('npad-one.npad'), await tensorsOf('local-b.npad')), 'one shard is the plain fit');
  });

  it('loses nothing when a worker is killed mid-job (SIGKILL): its job is run again by another', async () => {
    const seen = new Map(workers.map((w) => [w, w.log.length]));
    const run = npadAsync(['predict', 'local-a.npad', 'images', '--out', 'out-killed', '--json', '--queue', url]);
    let victim: { process: ChildProcess; log: string[] } | undefined;
    await until(() => (victim = workers.find((w) => w.log.slice(seen.get(w)).some((l) => /\(predict\) started/.test(l)))) !== undefined, 30_000, () => 'no job started');
    victim!.process.kill('SIGKILL');
    const r = await run.done;
    assert.equal(r.code, 3, r.stderr);
    const local = await readFile(path.join(tmp, 'out-local', 'predictions.jsonl'), 'utf8');
    assert.equal(await readFile(path.join(tmp, 'out-killed', 'predictions.jsonl'), 'utf8'), local.split(`${tmp}/`).join(''));
    workers.splice(workers.indexOf(victim!), 1);
    await startWorker();
  });

  it('a worker told to stop (SIGTERM) gives its job back and exits 0; the run finishes on the others', async () => {
    const run = npadAsync(['predict', 'local-a.npad', 'images', '--json', '--queue', url]);
    let holder: { process: ChildProcess; log: string[] } | undefined;
    const seen = new Map(workers.map((w) => [w, w.log.length]));
    await until(() => (holder = workers.find((w) => w.log.slice(seen.get(w)).some((l) => /\(predict\) started/.test(l)))) !== undefined, 30_000, () => 'no job started');
    const exited = new Promise<number | null>((resolve) => holder!.process.once('exit', (code) => resolve(code)));
    holder!.process.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(holder!.log.some((l) => /given back to the queue|SIGTERM: stopping/.test(l)), holder!.log.join('\n'));
    const r = await run.done;
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 25, 'every image answered once');
    workers.splice(workers.indexOf(holder!), 1);
    await startWorker();
  });

  it('a coordinator stopped with Ctrl-C takes its waiting jobs off the queue', async () => {
    const seen = new Map(workers.map((w) => [w, w.log.length]));
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(repo, 'src', 'cli', 'main.ts'), 'predict', 'local-a.npad', 'images', '--queue', url], { cwd: tmp, stdio: 'ignore' });
    const ended = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await until(() => workers.some((w) => w.log.slice(seen.get(w)).some((l) => /\(predict\) started/.test(l))), 30_000, () => 'no job started');
    child.kill('SIGINT');
    assert.equal(await ended, 'SIGINT');
    const waiting = spawnSync('redis-cli', ['-p', String(port), 'LLEN', 'bull:npad:wait'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(waiting, '0', 'no job left waiting');
    // Let the workers finish what they held before the next test.
    await until(() => workers.every((w) => { const log = w.log.slice(seen.get(w)); return log.filter((l) => /started/.test(l)).length === log.filter((l) => /done|failed/.test(l)).length; }), 30_000, () => 'workers still busy');
  });

  it('Redis restarted without its data mid-run: the run stops with a clear message and writes nothing', async () => {
    const run = npadAsync(['predict', 'local-a.npad', 'images', '--out', 'out-lost', '--queue', url]);
    await until(() => workers.some((w) => w.log.length > 0 && /\(predict\) started/.test(w.log[w.log.length - 1]!)), 30_000, () => 'no job started');
    await stopRedis();
    await startRedis();
    const r = await run.done;
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is gone from Redis \(restarted without its data, or flushed\).*run the command again/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    await assert.rejects(stat(path.join(tmp, 'out-lost', 'predictions.jsonl')));
  });

  it('no Redis at the URL: exit 2 naming it', async () => {
    const r = await npadAsync(['predict', 'local-a.npad', 'images', '--queue', `redis://127.0.0.1:${await freePort()}`]).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Redis does not answer \(waited 10 s\): is redis-server running there\?/);
    const bad = runNpad(['predict', 'x.npad', 'images', '--queue', 'http://example']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected a redis:\/\/ URL/);
  });
});

/**
 * Server memory after a burst of hostile uploads (issue 17): starts `npad serve MODEL` (built dist/), reads its
 * resident memory when ready, sends CLIENTS concurrent uploads of SIZE MiB of random bytes (not an image) to the
 * predict endpoint, and reads the memory at the burst's peak and again after the answers, once the server has
 * been idle for a few seconds, BURSTS times in a row (memory that stays after one burst but does not grow with
 * more is the allocator keeping freed pages, not a leak). Prints the figures and the status codes the clients got.
 *
 *   npm run build && node --import tsx bench/serverBurst.ts MODEL [--clients 60] [--mib 31] [--settle-s 10] [--bursts 3] [--png-start] [--dist DIR]
 *
 * The memory is the resident size of the started process and its children (on glibc `npad serve` runs in a child
 * started with its allocator setting: src/cli/serverAllocator.ts; NPAD_MALLOC_TUNING=0 measures without it).
 * `--dist` runs another build than dist/ (e.g. `npx tsc -p . --outDir dist-new` while dist/ is in use).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/npadPackage.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { clients: { type: 'string' }, mib: { type: 'string' }, 'settle-s': { type: 'string' }, bursts: { type: 'string' }, 'png-start': { type: 'boolean' }, dist: { type: 'string' } } });
const [model] = positionals;
if (!model) throw new Error('usage: bench/serverBurst.ts MODEL [--clients 60] [--mib 31] [--settle-s 10]');
const clients = Number(values.clients ?? 60);
const mib = Number(values.mib ?? 31);
const settleMs = Number(values['settle-s'] ?? 10) * 1000;
const bursts = Number(values.bursts ?? 3);

/** Resident memory of a process and its descendants, MiB (Linux). */
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return Number(line.split(/\s+/)[1]) / 1024 + children.reduce((sum, c) => sum + rssMiB(Number(c)), 0);
}

const server = spawn(process.execPath, [path.join(path.resolve(values.dist ?? path.join(packageRoot(), 'dist')), 'src', 'cli', 'main.js'), 'serve', model, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
const url = await new Promise<URL>((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    const m = /listening on (\S+)/.exec(out);
    if (m) resolve(new URL(m[1]!));
  });
  server.on('exit', (code) => reject(new Error(`npad serve exited ${String(code)}`)));
});
const modelName = path.basename(model).replace(/\.npad$/, '');
// Ready when the model answers /readyz.
for (;;) {
  const ok = await new Promise<boolean>((resolve) => {
    const r = request(new URL('/readyz', url), (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    r.on('error', () => resolve(false));
    r.end();
  });
  if (ok) break;
  await new Promise((r) => setTimeout(r, 200));
}
await new Promise((r) => setTimeout(r, 2000));
const before = rssMiB(server.pid!);
console.log(`server resident memory when ready: ${before.toFixed(0)} MiB`);
const body = randomBytes(mib * 2 ** 20);
// --png-start: the bytes start as a PNG, so the server keeps them until the whole body is in (then refuses it);
// without it the server refuses them at their first bytes.
if (values['png-start']) Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(body);
for (let b = 1; b <= bursts; b++) {
  let peak = rssMiB(server.pid!);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server.pid!))), 50);
  const t0 = performance.now();
  const codes = await Promise.all(
    Array.from({ length: clients }, () =>
      new Promise<string>((resolve) => {
        const r = request(new URL(`/v1/models/${encodeURIComponent(modelName)}/predict`, url), { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
        });
        r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        r.end(body);
      }),
    ),
  );
  const burstS = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, settleMs));
  clearInterval(sampler);
  const after = rssMiB(server.pid!);
  const tally = new Map<string, number>();
  for (const c of codes) tally.set(c, (tally.get(c) ?? 0) + 1);
  console.log(
    `burst ${b}: ${clients} uploads of ${mib} MiB (${values['png-start'] ? 'a PNG signature, then random bytes' : 'random bytes'}) answered in ${burstS.toFixed(1)} s (${[...tally].map(([c, n]) => `${n} × ${c}`).join(', ')}); ` +
      `peak ${peak.toFixed(0)} MiB, ${settleMs / 1000} s after ${after.toFixed(0)} MiB (${(after - before).toFixed(0)} MiB over the level when ready)`,
  );
}
server.kill('SIGTERM');

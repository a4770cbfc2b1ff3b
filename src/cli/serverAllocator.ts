/**
 * `npad serve`'s setting of glibc's allocator. Node reads each request's body from the socket in 64 KiB blocks
 * that glibc's malloc carves out of its heap; a burst of large uploads (kept, or read and dropped after a 413, 415
 * or 503) leaves that heap fragmented, and glibc returns freed memory only from the heap's top. Measured
 * (docs/security.md: bench/serverBurst.ts, 3 bursts of 60 × 31 MiB PNG-looking uploads to the bottle model): the
 * server kept 303–425 MiB over its level when ready, 10 s after each burst. With MALLOC_MMAP_THRESHOLD_ at
 * 32 KiB, blocks of 32 KiB or more are mapped on their own and handed back to the system when freed: 40–140 MiB,
 * the rest being buffers the garbage collector had not freed yet (30–33 MiB once the server collects them), with
 * no measurable change in the time per image.
 * glibc reads the variable when a process starts, so `npad serve` starts itself again with it (as the huge-pages
 * restart does: hugePages.ts rerunWith; the restarted server dies with its parent, launcherWatch.ts), unless it is
 * set already or NPAD_MALLOC_TUNING=0. The restarted server also gets Node's `--expose-gc` (in NODE_OPTIONS),
 * with which it collects the bodies' garbage once uploads stop (src/server/server.ts).
 */
import { RESTARTED_ENV, observed } from './launcherWatch.js';

/** glibc's mmap threshold for the server, bytes: below Node's 64 KiB socket reads. */
export const SERVER_MMAP_THRESHOLD = '32768';

/** True when this process runs on glibc (whose malloc reads MALLOC_MMAP_THRESHOLD_). */
export function runsOnGlibc(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const header = report?.header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/**
 * `env` with the server's allocator setting, to start the command again with, or null when this one will do: not
 * `npad serve`, not glibc, turned off (NPAD_MALLOC_TUNING=0), MALLOC_MMAP_THRESHOLD_ set already (by the user, or
 * by this restart), or a debugger or profiler asked for in `execArgv` (it should see the process that does the work).
 */
export function serverAllocatorEnvironment(
  env: NodeJS.ProcessEnv,
  args: readonly string[],
  glibc: () => boolean = runsOnGlibc,
  execArgv: readonly string[] = process.execArgv,
): NodeJS.ProcessEnv | null {
  if (args[0] !== 'serve' || env.NPAD_MALLOC_TUNING === '0' || env.MALLOC_MMAP_THRESHOLD_ !== undefined) return null;
  if (observed(execArgv) || !glibc()) return null;
  const nodeOptions = [env.NODE_OPTIONS, '--expose-gc'].filter((o) => o !== undefined && o !== '').join(' ');
  return { ...env, MALLOC_MMAP_THRESHOLD_: SERVER_MMAP_THRESHOLD, NODE_OPTIONS: nodeOptions, [RESTARTED_ENV]: '1' };
}

/**
 * Transparent huge pages for the `npad` command. On Linux machines whose transparent huge pages are in
 * 'madvise' mode (the common default), memory is handed out in 4 KiB pages, and touching fresh memory costs a
 * page fault per page: on this project's virtual machine 256 MiB took 650–780 ms to touch the first time and
 * 10 ms the second (docs/speed.md). npad allocates hundreds of MB per fit (feature buffers, covariance and
 * precision grids) and onnxruntime allocates its outputs afresh, so those faults were a third of a fit.
 *
 * glibc's tunable `glibc.malloc.hugetlb=1` makes malloc ask for huge pages (madvise MADV_HUGEPAGE) on its large
 * blocks, and the same 256 MiB then took 21–29 ms (stop 11). Tunables are read when a process starts, so with
 * NPAD_HUGE_PAGES=1 the command starts itself again with the tunable set when it is missing; a GLIBC_TUNABLES that
 * already names glibc.malloc.hugetlb is left as it is.
 *
 * It is opt-in since stop 22: what a huge page costs depends on the host having 2 MiB of contiguous memory free,
 * and on the same machine, later, huge pages made every command slower (a fresh 256 MiB fill 37–877 ms against
 * 165 ms without; `npad predict` of one bottle image 6.2–8.6 s against 3.9–4.2 s, of 20 images 18.5–20.0 s
 * against 12.8–13.1 s; a bottle fit 112 s against 107 s; docs/speed.md). Measure on the machine before turning
 * it on.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { RESTARTED_ENV, observed } from './launcherWatch.js';
import { serverAllocatorEnvironment } from './serverAllocator.js';

/** The glibc tunable that asks malloc for transparent huge pages. */
export const HUGE_PAGE_TUNABLE = 'glibc.malloc.hugetlb=1';

/** Linux's transparent-huge-page mode (the bracketed word of /sys/kernel/mm/transparent_hugepage/enabled), or null. */
export function transparentHugePageMode(file = '/sys/kernel/mm/transparent_hugepage/enabled'): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync(file, 'utf8'))?.[1] ?? null;
  } catch {
    return null; // not Linux, or no transparent huge pages
  }
}


/**
 * The environment to start the command again with, or null when this one will do: not asked for
 * (NPAD_HUGE_PAGES=1), not Linux, huge pages not in 'madvise' mode ('always' needs no asking, 'never' cannot be asked),
 * the tunable already chosen (which also stops the restarted command from restarting again), or a debugger or
 * profiler asked for in `execArgv` (it should see the process that does the work).
 */
export function hugePageEnvironment(
  env: NodeJS.ProcessEnv,
  mode: string | null,
  platform: NodeJS.Platform = process.platform,
  execArgv: readonly string[] = process.execArgv,
): NodeJS.ProcessEnv | null {
  if (env.NPAD_HUGE_PAGES !== '1' || platform !== 'linux' || mode !== 'madvise') return null;
  if (observed(execArgv)) return null;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (tunables.split(':').some((t) => t.startsWith('glibc.malloc.hugetlb='))) return null;
  // RESTARTED_ENV: the restarted process dies with this one even when this one is killed by SIGKILL (launcherWatch.ts).
  return { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${HUGE_PAGE_TUNABLE}` : HUGE_PAGE_TUNABLE, [RESTARTED_ENV]: '1' };
}

/**
 * Runs this same command (same Node flags, script and arguments) with `env` as a child sharing the terminal,
 * and resolves with its exit code, or with null when it could not be started. A signal that ended the child
 * is passed on to the caller to re-raise. SIGTERM and SIGHUP sent to this process alone (a supervisor
 * stopping it) are passed to the child; SIGINT is not, because Ctrl-C already reaches the whole process group
 * and `npad serve` takes a second SIGINT as "exit at once". SIGKILL cannot be passed on; the child, marked
 * RESTARTED_ENV, notices it lost its parent and stops as on SIGTERM within a second (launcherWatch.ts).
 */
export function rerunWith(env: NodeJS.ProcessEnv): Promise<{ code: number } | { signal: NodeJS.Signals } | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers: [NodeJS.Signals, () => void][] = [
      ['SIGTERM', forward('SIGTERM')],
      ['SIGHUP', forward('SIGHUP')],
      ['SIGINT', () => {}],
    ];
    for (const [s, h] of handlers) process.on(s, h);
    const done = (result: { code: number } | { signal: NodeJS.Signals } | null): void => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(result);
    };
    child.on('error', () => done(null));
    child.on('exit', (code, signal) => done(signal ? { signal } : { code: code ?? 1 }));
  });
}

/** The shell's exit code for a process ended by `signal` (128 + its number). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Reruns this process when its memory settings need a new process and waits for it: huge pages when they are
 * wanted and must be asked for (hugePageEnvironment), and `npad serve`'s allocator setting (serverAllocator.ts).
 * Returns true when the rerun ran, with its exit code set on this process (a signal that ended it is raised
 * here again); false when the caller should go on in this process.
 */
export async function rerunWithMemorySettings(args: readonly string[] = process.argv.slice(2)): Promise<boolean> {
  const hugePages = hugePageEnvironment(process.env, transparentHugePageMode());
  const env = serverAllocatorEnvironment(hugePages ?? process.env, args) ?? hugePages;
  const result = env ? await rerunWith(env) : null;
  if (result === null) return false;
  if ('signal' in result) {
    process.exitCode = signalExitCode(result.signal);
    process.kill(process.pid, result.signal);
  } else {
    process.exitCode = result.code;
  }
  return true;
}

/**
 * The process doing npad's work must not outlive the process that started it:
 * - `npx npad …` runs npad under `npm exec` and a shell. A SIGTERM sent to npx (a supervisor, `kill`, a container
 *   stop aimed at the first process) ends npm and the shell without passing the signal on (npm 11), which left
 *   `npx npad serve` running, orphaned.
 * - The huge-pages restart (hugePages.ts) runs the work in a child of the command the user started; `kill -9` of
 *   that command (which cannot be caught and passed on) left the child serving, or finishing a fit and replacing
 *   the model.
 * So a process started by npm exec (env npm_command=exec) or restarted by npad (env NPAD_RESTARTED=1) takes losing
 * its parent as a SIGTERM. A plain `npad` is not watched: `nohup npad serve &` outliving its shell is intended.
 */

/** How often the parent is checked, ms (the timer does not keep the process alive). */
const CHECK_MS = 1000;

/** Set by npad's restarts (huge pages, the server's allocator) in the restarted process's environment. */
export const RESTARTED_ENV = 'NPAD_RESTARTED';

/** Node flags that attach a debugger or profiler to the process: a restart would leave them on the idle parent. */
const OBSERVING_FLAGS = ['--inspect', '--cpu-prof', '--heap-prof', '--prof'];

/** True when `execArgv` attaches a debugger or profiler, which should see this process: no restart then. */
export function observed(execArgv: readonly string[]): boolean {
  return execArgv.some((flag) => OBSERVING_FLAGS.some((f) => flag.startsWith(f)));
}

/**
 * Calls `onOrphaned` once when this process's parent changes (it died and the process was re-parented), when
 * `env` says npm exec or npad's own restart started it. Returns a function that stops watching.
 */
export function watchLauncher(onOrphaned: () => void, env: NodeJS.ProcessEnv = process.env, parent: () => number = () => process.ppid): () => void {
  if (env.npm_command !== 'exec' && env[RESTARTED_ENV] !== '1') return () => {};
  const first = parent();
  const timer = setInterval(() => {
    if (parent() === first) return;
    clearInterval(timer);
    onOrphaned();
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

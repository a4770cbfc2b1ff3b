/**
 * `npx npad …` runs npad under `npm exec` and a shell. A SIGTERM sent to npx (a supervisor, `kill`, a container
 * stop aimed at the first process) ends npm and the shell without passing the signal on (npm 11), which left
 * `npx npad serve` running, orphaned. So when npm exec started npad (env npm_command=exec), npad takes losing the
 * process that started it as a SIGTERM. A plain `npad` is not watched: `nohup npad serve &` outliving its shell
 * is intended.
 */

/** How often the parent is checked, ms (the timer does not keep the process alive). */
const CHECK_MS = 1000;

/**
 * Calls `onOrphaned` once when this process's parent changes (it died and the process was re-parented), when
 * `env` says npm exec started it. Returns a function that stops watching.
 */
export function watchLauncher(onOrphaned: () => void, env: NodeJS.ProcessEnv = process.env, parent: () => number = () => process.ppid): () => void {
  if (env.npm_command !== 'exec') return () => {};
  const first = parent();
  const timer = setInterval(() => {
    if (parent() === first) return;
    clearInterval(timer);
    onOrphaned();
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

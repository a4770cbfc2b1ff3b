import type { ProgressCallback } from '../method/types.js';
/**
 * Progress on the terminal: one line per step, redrawn in place, with counts and time left. Silent when
 * stderr is not a terminal, so logs and pipes stay clean.
 */

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): ProgressCallback {
  if (!stream.isTTY) return () => {};
  let step = '';
  let started = 0;
  let last = 0;
  return (name, done, total) => {
    const now = performance.now();
    if (name !== step) {
      if (step) stream.write('\n');
      step = name;
      started = now;
      last = 0;
    }
    if (done < total && now - last < 200) return;
    last = now;
    const elapsed = (now - started) / 1000;
    const left = done > 0 ? (elapsed * (total - done)) / done : NaN;
    const width = 24;
    const filled = Math.round((width * done) / Math.max(1, total));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const eta = done >= total ? `${elapsed.toFixed(1)} s` : Number.isFinite(left) ? `${left.toFixed(0)} s left` : '';
    stream.write(`\r${name.padEnd(22)} ${bar} ${done}/${total} ${eta}\x1b[K`);
    if (done >= total) {
      stream.write('\n');
      step = '';
    }
  };
}

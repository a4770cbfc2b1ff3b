/** What commands write: JSON files atomically (an interrupted run never leaves half a file), and lines naming what they skipped. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import type { SkippedEntry } from '../data/mvtec.js';

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, [new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n')]);
}

/** Peak resident memory of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Names on stderr what a folder walk left out (data/mvtec.ts imagesUnder). */
export function reportSkippedEntry(entry: SkippedEntry): void {
  process.stderr.write(`npad: skipped ${printable(entry.path)}: ${entry.reason}\n`);
}

/**
 * `text` for one line of a terminal: control characters (a newline or an escape sequence in a file name, which
 * would split a line or drive the terminal) written as escapes, `\n`, `\r`, `\t` or `\xHH`. The JSON output
 * keeps names exactly.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

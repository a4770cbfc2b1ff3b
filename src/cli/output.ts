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
  process.stderr.write(`npad: skipped ${entry.path}: ${entry.reason}\n`);
}

/** Writing command results: JSON files atomically, so an interrupted run never leaves half a file. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, [new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n')]);
}

/** Peak resident memory of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

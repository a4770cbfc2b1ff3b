/** Where the npad package is installed, for defaults that live beside it (the shared data folder). */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The npad package folder: the nearest folder above this module whose package.json is named `npad`. Walking up
 * works both from `src/` (tsx) and from `dist/src/` (compiled).
 */
export function packageRoot(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && readPackageName(manifest) === 'npad') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json named npad above ${start}`);
  }
}

function readPackageName(manifest: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(manifest, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && 'name' in parsed && typeof parsed.name === 'string'
      ? parsed.name
      : undefined;
  } catch {
    return undefined; // an unreadable manifest is not ours: keep walking up
  }
}

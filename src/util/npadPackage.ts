/** The npad package: where it is installed (defaults live beside it, e.g. the shared data folder) and its version. */
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

let cachedVersion: string | undefined;

/** This npad's version (package.json), or "0.0.0-unknown" when its package.json cannot be found or read. */
export function npadVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = '0.0.0-unknown';
  try {
    const parsed: unknown = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed && typeof parsed.version === 'string') cachedVersion = parsed.version;
  } catch {
    // no package.json named npad above this module: keep the placeholder
  }
  return cachedVersion;
}

/**
 * SHA-256 fingerprints of backbone weights, stored in fitted models so that a model is never scored with other
 * weights than it was fitted with.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { NpadInputError } from '../errors.js';

/** Streams a file into a hash (weights files can be hundreds of MB). */
async function update(hash: Hash, file: string): Promise<void> {
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (e) {
    throw new NpadInputError(`${file}: cannot read weights file (${(e as Error).message})`, file);
  }
}

/** Hex SHA-256 of one file's bytes. */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await update(hash, file);
  return hash.digest('hex');
}

/** Files read at once from one folder, at most this many at a time (libuv's pool has 4 threads by default). */
const CONCURRENT_READS = 16;

/**
 * The bytes of the files `names` of folder `dir`, read concurrently, by name.
 * @throws NpadInputError naming the file that cannot be read
 */
export async function readFolder(dir: string, names: readonly string[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++]!;
      const file = path.join(dir, name);
      try {
        out.set(name, await readFile(file));
      } catch (e) {
        throw new NpadInputError(`${file}: cannot read weights file (${(e as Error).message})`, file);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_READS, names.length) }, reader));
  return out;
}

/**
 * Hex SHA-256 over several files of a folder (given as {@link readFolder} read them): for each name in sorted
 * (code point) order, the UTF-8 name, a NUL byte, then the file's bytes. Names are included so that renaming a
 * tensor file changes the fingerprint.
 */
export function hashOfFiles(files: ReadonlyMap<string, Uint8Array>): string {
  const hash = createHash('sha256');
  for (const name of [...files.keys()].sort()) {
    hash.update(name, 'utf8');
    hash.update(new Uint8Array([0]));
    hash.update(files.get(name)!);
  }
  return hash.digest('hex');
}

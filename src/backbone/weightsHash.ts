/**
 * SHA-256 fingerprints of backbone weights, stored in fitted models so that a model is never scored with other
 * weights than it was fitted with.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
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

/**
 * Hex SHA-256 over several files of a folder: for each name in sorted (code point) order, the UTF-8 name, a NUL
 * byte, then the file's bytes. Names are included so that renaming a tensor file changes the fingerprint.
 */
export async function hashFiles(dir: string, names: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const name of [...names].sort()) {
    hash.update(name, 'utf8');
    hash.update(new Uint8Array([0]));
    await update(hash, path.join(dir, name));
  }
  return hash.digest('hex');
}

/**
 * Crash-safe file replacement: readers see either the old file or the complete
 * new one, never a mix, even if the process is killed or the machine loses power.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode, fileError } from './fileErrors.js';

/**
 * Writes `chunks` to `path` atomically: the bytes go to a temporary file
 * `<path>.<pid>.<random>.tmp` in the same folder (a rename is only atomic within
 * one file system), which is fsynced, renamed over `path`, and then the folder is
 * fsynced so that the rename itself survives a power cut.
 *
 * On any error (a failing write, or `chunks` throwing) the temporary file is
 * removed and the error rethrown; the previous file at `path` is untouched unless
 * the rename already happened. A process killed with SIGKILL leaves its temporary
 * file behind (nothing can run then); such files may be deleted.
 *
 * An existing file's permission bits are kept.
 *
 * @param path the file to create or replace
 * @param chunks the content, in order; iterated once, lazily
 * @throws NpadInputError (message starting with `path`) when the disk is full, the
 *   folder is missing or read-only, or permission is denied; errors thrown by
 *   `chunks` are rethrown as they are
 */
export async function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const mode = await existingMode(path);
  let handle: FileHandle | undefined;
  try {
    // 'wx': never follow or reuse a file someone else created under this name.
    handle = await fsStep(path, () => open(tmp, 'wx', mode));
    for (const chunk of chunks) {
      const h = handle;
      await fsStep(path, () => writeAll(h, chunk));
    }
    const h = handle;
    await fsStep(path, () => h.sync());
    handle = undefined;
    await fsStep(path, () => h.close());
    await fsStep(path, () => rename(tmp, path));
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsStep(path, () => syncFolder(dirname(path)));
}

/** The permission bits of the file being replaced (0o666 before umask if none). */
async function existingMode(path: string): Promise<number> {
  try {
    return (await stat(path)).mode & 0o7777;
  } catch {
    return 0o666;
  }
}

/** Writes all of `chunk`; a single write call may write only part of it. */
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
    done += bytesWritten;
  }
}

/**
 * Fsyncs a folder so a rename in it is durable. Some platforms (Windows) cannot
 * open or fsync folders; there the rename is as durable as the OS makes it.
 */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(folder, 'r');
  } catch (err) {
    if (isUnsupported(err)) return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    if (!isUnsupported(err)) throw err;
  } finally {
    await handle.close();
  }
}

function isUnsupported(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'EISDIR' || code === 'EINVAL' || code === 'EPERM' || code === 'ENOTSUP';
}

/** Runs one file-system step, turning user-fixable failures into NpadInputError. */
async function fsStep<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw fileError(err, path, 'write');
  }
}

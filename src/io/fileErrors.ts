/**
 * File-system errors in words a user can act on, the same for every file npad reads or writes (images, model files,
 * weights, reports): `<path>: cannot read: no such file`, `<path>: cannot write: the disk is full`. An error that is
 * not the user's to fix (an unknown code) stays as it is, so it is reported as a bug, with its stack.
 */
import { basename, dirname } from 'node:path';
import { NpadInputError } from '../errors.js';

/** The `code` of a Node.js system error (ENOENT, EACCES, …), if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** Why `path` could not be read or written, for the user; undefined when the error is not theirs to fix. */
export function fileProblem(err: unknown, path: string, access: 'read' | 'write'): string | undefined {
  switch (errnoCode(err)) {
    case 'ENOENT':
      return access === 'read' ? 'no such file' : `the folder ${dirname(path)} does not exist`;
    case 'EACCES':
    case 'EPERM':
      return access === 'read' ? 'permission denied' : `permission denied (to create files in ${dirname(path)} and replace ${basename(path)})`;
    case 'EISDIR':
      return 'it is a folder, not a file';
    case 'ENOTDIR':
      return `a part of the path ${dirname(path)} is not a folder`;
    case 'EIO':
      return 'input/output error (the disk may be failing)';
    case 'ENOSPC':
      return 'the disk is full';
    case 'EDQUOT':
      return 'the disk quota is exceeded';
    case 'EROFS':
      return 'the file system is read-only';
    default:
      return undefined;
  }
}

/**
 * The error to throw for a failed read or write of `path`: an NpadInputError "<name>: cannot read: …" (its cause the
 * original) when the problem is the user's to fix, else the original error.
 * @param name how messages name the file (default: the path)
 */
export function fileError(err: unknown, path: string, access: 'read' | 'write', name: string = path): Error {
  const why = fileProblem(err, path, access);
  if (why === undefined) return err instanceof Error ? err : new Error(String(err));
  const e = new NpadInputError(`${name}: cannot ${access}: ${why}`, name);
  e.cause = err;
  return e;
}

/** Numeric command-line flags, checked where they are read so a typo is named before any work starts. */
import { NpadInputError } from '../errors.js';

/**
 * A fraction flag: a number in (0, 1), or [0, 1) with `allowZero`.
 * @throws NpadInputError naming the flag and the value
 */
export function fractionFlag(flag: string, value: string, options: { allowZero?: boolean } = {}): number {
  const x = Number(value);
  const low = options.allowZero ? x >= 0 : x > 0;
  if (value.trim() === '' || !Number.isFinite(x) || !low || x >= 1) {
    throw new NpadInputError(`--${flag}: expected a number in ${options.allowZero ? '[0, 1)' : '(0, 1)'}, got '${value}'`);
  }
  return x;
}

/**
 * A finite number flag (a raw score threshold may be any real number).
 * @throws NpadInputError naming the flag and the value
 */
export function numberFlag(flag: string, value: string): number {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new NpadInputError(`--${flag}: expected a number, got '${value}'`);
  return x;
}

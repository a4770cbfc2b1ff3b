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
 * A numeric flag with bounds, `fallback` when it is not given.
 * @param bounds integer (default true), min (default 1) and max (default none), inclusive
 * @throws NpadInputError naming the flag, the bounds and the value
 */
export function boundedFlag(flag: string, value: string | undefined, fallback: number, { integer = true, min = 1, max = Infinity } = {}): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    const range = max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new NpadInputError(`--${flag}: expected ${integer ? 'an integer' : 'a number'} ${range}, got '${value}'`);
  }
  return n;
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

/**
 * Checks of option values, one function per kind of rule, so that every method's messages have one shape:
 * "option NAME must be …, got VALUE". Each throws NpadConfigError.
 */
import { NpadConfigError } from '../errors.js';

/**
 * Upper bounds of options whose cost grows without limit (a Gaussian kernel of radius 4σ, (2r+1)² neighbours per
 * position, an unfolded patch of p² values per channel, pooled vectors, k-means passes). Far above any useful
 * value; past them a run would take hours or allocate more than any machine has. The model file's configuration
 * is not checksummed, so these also keep a hand-edited file from asking for that (test/robustness/fuzz.test.ts).
 */
export const OPTION_LIMITS = {
  smoothingSigma: 64,
  radius: 8,
  /** module D's largest shift in pixels (the paper's S is 4; 'all' steps score 8 · S copies) */
  shift: 64,
  /** positions of the image score (a 1024² input has 65 536) */
  topK: 65536,
  kmeansIterations: 1000,
  patchSize: 15,
  vectorSize: 65536,
  startPoints: 10000,
} as const;

type Options = object;

function valueOf(o: Options, name: string): unknown {
  return (o as Record<string, unknown>)[name];
}

/** An integer ≥ `min`. */
export function checkInteger(o: Options, name: string, min: number): void {
  const v = valueOf(o, name);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new NpadConfigError(`option ${name} must be an integer ≥ ${min}, got ${String(v)}`);
}

/** A safe integer of any sign (seeds). */
export function checkSeed(o: Options, name: string): void {
  const v = valueOf(o, name);
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new NpadConfigError(`option ${name} must be an integer, got ${String(v)}`);
}

/** One of the listed values. */
export function checkOneOf(o: Options, name: string, allowed: readonly unknown[]): void {
  const v = valueOf(o, name);
  if (!allowed.includes(v)) throw new NpadConfigError(`option ${name} must be one of ${allowed.join(', ')}; got ${String(v)}`);
}

/** true or false. */
export function checkBoolean(o: Options, name: string): void {
  const v = valueOf(o, name);
  if (typeof v !== 'boolean') throw new NpadConfigError(`option ${name} must be true or false, got ${String(v)}`);
}

/**
 * A number in a range: `min` (inclusive unless `minOpen`) and, when given, `max` (inclusive). NaN is refused.
 * The message writes the range as "≥ 0", "> 0" or "in (0, 1]".
 */
export function checkRange(o: Options, name: string, range: { min: number; minOpen?: boolean; max?: number }): void {
  const v = valueOf(o, name);
  const n = typeof v === 'number' ? v : NaN;
  const aboveMin = range.minOpen ? n > range.min : n >= range.min;
  const belowMax = range.max === undefined || n <= range.max;
  if (aboveMin && belowMax) return;
  const text =
    range.max === undefined
      ? `${range.minOpen ? '>' : '≥'} ${range.min}`
      : `in ${range.minOpen ? '(' : '['}${range.min}, ${range.max}]`;
  throw new NpadConfigError(`option ${name} must be ${text}, got ${String(v)}`);
}

/** At most `limit` (an OPTION_LIMITS entry). */
export function checkAtMost(o: Options, name: string, limit: number): void {
  const v = valueOf(o, name);
  if (!(typeof v === 'number' && v <= limit)) throw new NpadConfigError(`option ${name} must be at most ${limit}, got ${String(v)}`);
}

/** Rejects keys the method does not have (e.g. PatchCore's coresetRatio given to PaDiM). */
export function checkOptionKeys(method: string, options: object, known: object): void {
  for (const key of Object.keys(options)) {
    if (!(key in known)) throw new NpadConfigError(`option ${key} does not apply to method ${method} (its options: ${Object.keys(known).join(', ')})`);
  }
}

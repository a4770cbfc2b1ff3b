/**
 * Checking a batch job's inputs before the work starts, so that one unreadable file among hundreds is skipped and
 * named instead of stopping a fit or an evaluation half way. Every image is decoded in full (the same decoder the
 * methods use, so a file that passes here decodes there too); that costs a few milliseconds per image, little next
 * to the CNN, and leaves the numeric code free of skip logic.
 */
import { NpadConfigError, NpadInputError } from '../errors.js';
import { decodeRgb, type DecodeOptions } from '../image/decode.js';
import type { LabelledImage } from './mvtec.js';

/** An input left out of a job, and why. */
export interface SkippedInput {
  /** the image (for a test item: the test image, even when its mask is the bad file) */
  path: string;
  /** what is wrong: the NpadInputError message, which starts with the bad file */
  reason: string;
}

/** The outcome of a check: the inputs that can be used, in their original order, and those left out. */
export interface CheckedInputs<T> {
  /** inputs that decoded, in input order */
  readable: T[];
  /** inputs that did not, in input order */
  skipped: SkippedInput[];
}

/** Options of {@link checkImages} and {@link checkTestItems}. */
export interface CheckOptions {
  /** decoding limits (default: decodeRgb's, e.g. its pixel limit against decompression bombs) */
  decode?: DecodeOptions;
  /** files decoded at once (default 4; sharp decodes on its own threads) */
  concurrency?: number;
  /** called after each item is checked */
  progress?: (done: number, total: number) => void;
}

/**
 * Runs `check` on every item, `concurrency` at a time, and sorts the items into readable and skipped. Only
 * NpadInputError (a problem with the file) skips an item; any other error is a bug and is rethrown.
 */
async function sortItems<T>(items: readonly T[], check: (item: T) => Promise<void>, pathOf: (item: T) => string, options: CheckOptions): Promise<CheckedInputs<T>> {
  const concurrency = concurrencyOf(options);
  const problems: (string | null)[] = new Array<string | null>(items.length).fill(null);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        await check(items[i]!);
      } catch (err) {
        if (!(err instanceof NpadInputError)) throw err;
        problems[i] = err.message;
      }
      options.progress?.(++done, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  // libvips keeps one error buffer for all threads, so two decodes failing at once can swap or lose their
  // decoder messages: each failure is checked again alone, for a message that belongs to its file.
  for (let i = 0; i < items.length; i++) {
    if (problems[i] === null) continue;
    try {
      await check(items[i]!);
      problems[i] = null;
    } catch (err) {
      if (!(err instanceof NpadInputError)) throw err;
      problems[i] = err.message;
    }
  }
  const readable: T[] = [];
  const skipped: SkippedInput[] = [];
  items.forEach((item, i) => {
    const problem = problems[i];
    if (problem === null || problem === undefined) readable.push(item);
    else skipped.push({ path: pathOf(item), reason: problem });
  });
  return { readable, skipped };
}

/** Concurrency from the options, checked. */
function concurrencyOf(options: CheckOptions): number {
  const c = options.concurrency ?? 4;
  if (!Number.isInteger(c) || c < 1) throw new NpadConfigError(`concurrency must be a positive integer, got ${String(c)}`);
  return c;
}

/**
 * Decodes every image file and sorts them into readable and skipped (missing, empty, truncated, not an image,
 * over the pixel limit…).
 *
 * @param paths image files
 * @param options decoding limits and concurrency
 * @returns the readable paths in input order, and each skipped path with its reason
 * @throws whatever is not an NpadInputError (a bug, not a bad file)
 */
export async function checkImages(paths: readonly string[], options: CheckOptions = {}): Promise<CheckedInputs<string>> {
  return sortItems(paths, async (p) => void (await decodeRgb(p, p, options.decode)), (p) => p, options);
}

/**
 * Checks the test items of a dataset: each test image must decode and, for a defective one, its mask must decode
 * and have the image's size (as evaluation's loadMask requires). An item with a bad image or a bad mask is skipped
 * whole, so the metrics are computed on complete items only.
 *
 * @param items test images with their labels and masks
 * @param options decoding limits and concurrency
 * @returns the usable items in input order, and each skipped item's image with the reason
 * @throws whatever is not an NpadInputError (a bug, not a bad file)
 */
export async function checkTestItems(items: readonly LabelledImage[], options: CheckOptions = {}): Promise<CheckedInputs<LabelledImage>> {
  const check = async (item: LabelledImage): Promise<void> => {
    const image = await decodeRgb(item.path, item.path, options.decode);
    if (item.maskPath === null) return;
    const mask = await decodeRgb(item.maskPath, item.maskPath, options.decode);
    if (mask.width !== image.width || mask.height !== image.height) {
      throw new NpadInputError(`${item.maskPath}: mask is ${mask.width}×${mask.height} but its image is ${image.width}×${image.height}`, item.maskPath);
    }
  };
  return sortItems(items, check, (item) => item.path, options);
}

/**
 * The lines a batch command prints about skipped inputs: one per input (its reason, which names the file), then a
 * summary. Empty when nothing was skipped.
 *
 * @param skipped the inputs left out
 * @param total how many inputs there were
 * @param what what the inputs are, plural, e.g. "training images"
 * @param outcome what was done with the rest, e.g. "fitted on the other 207"
 */
export function skippedLines(skipped: readonly SkippedInput[], total: number, what: string, outcome: string): string[] {
  if (skipped.length === 0) return [];
  return [...skipped.map((s) => `skipped ${s.reason}`), `skipped ${skipped.length} of ${total} ${what}; ${outcome}`];
}

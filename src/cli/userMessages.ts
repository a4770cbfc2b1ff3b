/**
 * How the CLI words the library's errors: the library names options and fields (a library caller has no flags),
 * the CLI names its flags and commands instead.
 */
import { NpadNoThresholdError } from '../detector/calibration.js';
import { NpadMemoryError, type MemoryErrorWording } from '../detector/memoryEstimate.js';
import { NpadConfigError, NpadInputError } from '../errors.js';

/** The memory guard's suggestions as flags. */
const CLI_MEMORY_WORDING: MemoryErrorWording = {
  change: (c) =>
    c.setting === 'trainImages'
      ? `${c.value} training images (--train-subset ${c.value})`
      : c.setting === 'batchSize'
        ? `batch size ${c.value} (--batch-size ${c.value})`
        : `${c.setting.option} ${c.value} (${c.setting.option === 'dim' ? `--dim ${c.value}` : `--set ${c.setting.option}=${c.value}`})`,
  limit: '--memory-limit SIZE or NPAD_MEMORY_LIMIT',
};

/** What the CLI prints for a user error: the library's message, or the CLI's wording of it. */
export function cliMessage(e: Error): string {
  if (e instanceof NpadMemoryError) return e.messageWith(CLI_MEMORY_WORDING);
  if (e instanceof NpadNoThresholdError) {
    const model = e.modelFile ?? 'MODEL';
    return (
      `${e.modelFile ?? 'detector'}: the model has no score threshold, so it cannot call images good or defective ` +
      `(it was fitted with --holdout 0, or by an older npad). Set one from good images it was not fitted on: ` +
      `npad calibrate ${model} --good DIR; or from a labelled test set: npad eval DATASET --model ${model} --save-threshold f1-max; ` +
      `or by hand: npad calibrate ${model} --image-threshold X --pixel-threshold Y (see docs/scores.md)`
    );
  }
  return e.message;
}

/**
 * Runs `work` and names the CLI's flags in any user error it throws: a message that starts with the library's name
 * for a value (`fields`: e.g. imageThreshold → --image-threshold) starts with the flag instead; any other is
 * prefixed with the first flag ("--holdout: held-out fraction …"). The error keeps its class, so the exit code stays
 * that of a user mistake.
 */
export async function withFlags<T>(fields: Readonly<Record<string, string>>, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!(e instanceof NpadConfigError || e instanceof NpadInputError)) throw e;
    const field = Object.keys(fields).find((f) => e.message.startsWith(f));
    const message = field !== undefined ? fields[field]! + e.message.slice(field.length) : `${Object.values(fields)[0]!}: ${e.message}`;
    throw e instanceof NpadConfigError ? new NpadConfigError(message) : new NpadInputError(message, e.file);
  }
}

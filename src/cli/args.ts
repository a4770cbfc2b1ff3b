/**
 * How every npad command reads its flags: node:util parseArgs, plus what users of command-line tools expect:
 * `--help` / `-h` prints the command's help and exits 0, and a mistyped flag or command is answered with the
 * closest valid one ("did you mean --out?").
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { NpadInputError } from '../errors.js';

/** The help flag every command has. */
export const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const;

/** Edit distance between two words (insertions, deletions, substitutions, transpositions of neighbours). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word` when it is close enough to be a typo of it (a third of its letters, at least 2), else null. */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(word, c);
    if (distance < bestDistance) [best, bestDistance] = [c, distance];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

/**
 * Parses a command's arguments (HELP_FLAG included in `config.options` by the caller). Returns null when `--help`
 * was given, after printing `help`: the command then exits 0.
 * @throws NpadInputError for an unknown flag, naming the closest one, or a flag without its value
 */
export function parseCommandArgs<T extends ParseArgsConfig & { options: typeof HELP_FLAG }>(command: string, config: T, help: string): ReturnType<typeof parseArgs<T>> | null {
  // --help wins over any other mistake on the line.
  if (config.args?.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(`${help}\n`);
    return null;
  }
  try {
    return parseArgs(config);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw e;
    const flag = /'(-{1,2}[^' ]+)/.exec((e as Error).message)?.[1] ?? '';
    const name = flag.replace(/^-+/, '').split('=')[0]!;
    const suggestion = closest(name, Object.keys(config.options));
    throw new NpadInputError(
      `npad ${command}: unknown option ${flag}${suggestion ? `; did you mean --${suggestion}?` : ''} (npad ${command} --help lists the options)`,
    );
  }
}

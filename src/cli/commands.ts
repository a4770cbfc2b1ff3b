/**
 * The `npad` commands (started by main.ts). User mistakes (NpadInputError, bad options) print one clear line and
 * exit 2 (nothing done); `npad fit`, `npad eval` and `npad predict` exit 3 when they finished but skipped
 * unreadable images; anything else is a bug and prints its stack.
 */
import { NpadConfigError, NpadInputError } from '../errors.js';
import { EVAL_HELP, evalCommand } from './evalCommand.js';
import { FIT_HELP, fitCommand } from './fitCommand.js';
import { CALIBRATE_HELP, calibrateCommand } from './calibrateCommand.js';
import { PREDICT_HELP, predictCommand } from './predictCommand.js';
import { SERVE_HELP, serveCommand } from './serveCommand.js';
import { cliMessage } from './userMessages.js';

const USAGE = `npad — N-pad visual anomaly detection

Commands:
${FIT_HELP}

${EVAL_HELP.split('\n\n')[0]}

${PREDICT_HELP}

${CALIBRATE_HELP}

${SERVE_HELP}
`;

/** Errors that are the user's to fix: shown as a message, never as a stack trace. */
export function isUserError(e: unknown): e is Error {
  if (e instanceof NpadInputError || e instanceof NpadConfigError) return true;
  // node:util parseArgs reports unknown or malformed flags with these codes.
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'fit':
      return fitCommand(rest);
    case 'eval':
      return evalCommand(rest);
    case 'predict':
      return predictCommand(rest);
    case 'calibrate':
      return calibrateCommand(rest);
    case 'serve':
      return serveCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new NpadInputError(`unknown command '${command}' (expected fit, eval, predict, calibrate or serve; npad --help lists them)`);
  }
}

/** Runs the command line `argv` (without node and the script) and sets the process's exit code. */
export async function runCommandLine(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (e: unknown) {
    if (isUserError(e)) process.stderr.write(`npad: ${cliMessage(e)}\n`);
    else process.stderr.write(`npad: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = isUserError(e) ? 2 : 1;
  }
}

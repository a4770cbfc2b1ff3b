/**
 * The `npad` commands (started by main.ts). User mistakes (NpadInputError, bad options) print one clear line and
 * exit 2 (nothing done); `npad fit`, `npad eval` and `npad predict` exit 3 when they finished but skipped
 * unreadable images; anything else is a bug and prints its stack.
 */
import { NpadConfigError, NpadInputError } from '../errors.js';
import { cliMessage } from './userMessages.js';
import { closest } from './args.js';
import { npadVersion } from '../util/npadPackage.js';

/** A command: its help text, and what runs it. */
interface Command {
  help: string;
  run: (argv: string[]) => Promise<number>;
}

/**
 * The commands, each loaded when it is asked for: a command's module brings its dependencies (the server's, the
 * queue's bullmq with its 170 modules), and loading them all made `npad --version` take 0.57 s and added about
 * 0.2 s to every `npad predict`.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  fit: async () => import('./fitCommand.js').then((m) => ({ help: m.FIT_HELP, run: m.fitCommand })),
  eval: async () => import('./evalCommand.js').then((m) => ({ help: m.EVAL_HELP, run: m.evalCommand })),
  predict: async () => import('./predictCommand.js').then((m) => ({ help: m.PREDICT_HELP, run: m.predictCommand })),
  calibrate: async () => import('./calibrateCommand.js').then((m) => ({ help: m.CALIBRATE_HELP, run: m.calibrateCommand })),
  serve: async () => import('./serveCommand.js').then((m) => ({ help: m.SERVE_HELP, run: m.serveCommand })),
  worker: async () => import('./workerCommand.js').then((m) => ({ help: m.WORKER_HELP, run: m.workerCommand })),
};

/** The overall usage: every command's help (eval's first paragraph), then the environment. */
async function usage(): Promise<string> {
  const helps = await Promise.all(Object.values(COMMANDS).map(async (load) => (await load()).help));
  const sections = Object.keys(COMMANDS).map((name, i) => (name === 'eval' ? helps[i]!.split('\n\n')[0]! : helps[i]!));
  return `npad — N-pad visual anomaly detection

Usage: npad COMMAND [options]; npad COMMAND --help; npad --version

Commands:
${sections.join('\n\n')}

${ENVIRONMENT}`;
}

const ENVIRONMENT = `Environment:
  NPAD_THREADS N          threads onnxruntime uses inside one operator (default: all cores)
  NPAD_WEIGHTS_DIR DIR    the ResNet50-v2 weights folder (default ../shared/models/resnet50-v2-imagenet)
  NPAD_MEMORY_LIMIT SIZE  memory a fit may use, e.g. 8G (default: total memory or the cgroup limit, less a margin)
  NPAD_HUGE_PAGES=1       restart with transparent huge pages (glibc.malloc.hugetlb; off by default)
  NPAD_MALLOC_TUNING=0    npad serve: do not restart with MALLOC_MMAP_THRESHOLD_=32768 and --expose-gc, which
                          give the memory of a burst of uploads back to the system (on glibc; docs/security.md)
  NPAD_TOKEN T            npad serve: the bearer token every request but the health probes needs
  AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL_S3
                          npad fit --parts s3://… and its workers: the AWS SDK's settings (the endpoint for MinIO
                          and other S3-compatible stores)
  TMPDIR DIR              where a part's temporary copy waits on its way to and from S3
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
  if (command === undefined) {
    process.stdout.write(await usage());
    return 2;
  }
  if (command === '--version' || command === '-V') {
    process.stdout.write(`${npadVersion()}\n`);
    return 0;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(topic ? `${(await topic()).help}\n` : await usage());
    return 0;
  }
  const found = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (found) return (await found()).run(rest);
  const suggestion = closest(command, Object.keys(COMMANDS));
  throw new NpadInputError(
    `unknown command '${command}'${suggestion ? `; did you mean '${suggestion}'?` : ''} (expected ${Object.keys(COMMANDS).join(', ')}; npad --help lists them)`,
  );
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

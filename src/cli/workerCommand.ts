/**
 * `npad worker --queue URL`: a worker process for `npad fit --queue` and `npad predict --queue` (queue/worker.ts),
 * any number of them on any number of machines that reach the Redis at URL and the shared storage the jobs name.
 */
import { HELP_FLAG, parseCommandArgs } from './args.js';
import { NpadInputError } from '../errors.js';
import { runFitShardJob } from '../queue/fitShardJob.js';
import { predictJobRunner } from '../queue/predictJob.js';
import { startWorker } from '../queue/worker.js';
import { fitCommand } from './fitCommand.js';
import { boundedFlag } from './numberFlags.js';

export const WORKER_HELP = `npad worker --queue URL [--lock-s S]
  Takes the jobs of npad fit --queue (whole fits, or shards with --shards) and npad predict --queue off the Redis queue at URL (redis://HOST:PORT[/DB],
  user:password@ where the server asks) and runs them, one at a time; start as many as there are machines (or
  a few per machine with NPAD_THREADS to share its cores). Each loads a model once for all its predict jobs.
  SIGTERM or Ctrl-C: the job in hand goes back to the queue for another worker, and the worker exits. A worker
  killed outright (SIGKILL, a lost machine) loses nothing either: its job returns to the queue when its lock
  runs out.
  --lock-s S   seconds a job's lock lasts unrenewed: how soon a dead worker's job is taken up again (about
               twice this; default 30, range 5–3600; longer than a model's load, which holds the worker's event loop)`;

export async function workerCommand(argv: string[]): Promise<number> {
  const options = { ...HELP_FLAG, queue: { type: 'string' }, 'lock-s': { type: 'string' } } as const;
  const parsed = parseCommandArgs('worker', { args: argv, options, allowPositionals: false }, WORKER_HELP);
  if (parsed === null) return 0;
  const { values } = parsed;
  if (values.queue === undefined) throw new NpadInputError(`npad worker needs --queue URL\n\n${WORKER_HELP}`);
  const lockSeconds = boundedFlag('lock-s', values['lock-s'], 30, { integer: false, min: 5, max: 3600 });
  const log = (line: string): void => void process.stderr.write(`npad worker: ${line}\n`);
  const worker = await startWorker(
    values.queue,
    {
      predict: predictJobRunner(),
      'fit-shard': runFitShardJob,
      fit: async (job) => {
        const lines: string[] = [];
        const sink = {
          write: (text: string): void => {
            lines.push(text);
            process.stdout.write(text);
          },
        };
        const exitCode = await fitCommand([job.train, '--out', job.out, ...job.flags], sink);
        return { model: job.out, summary: lines.join('').trimEnd(), exitCode };
      },
    },
    { lockSeconds, log },
  );
  log(`waiting for jobs on ${values.queue} (stop with SIGTERM or Ctrl-C)`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve(s));
  });
  log(`${signal}: stopping`);
  await worker.stop();
  log('stopped');
  // The job in hand is back on the queue; its computation, still running here, is abandoned with the process.
  process.exit(0);
}

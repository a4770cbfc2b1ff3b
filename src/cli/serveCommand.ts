/**
 * `npad serve MODEL...`: serves calibrated models over HTTP (src/server/) with a web page at `/`. Listens first
 * and loads the models after, so `/healthz` answers at once and `/readyz` says when inference is possible; stops
 * gracefully on SIGTERM or SIGINT (finishes the requests in flight, then exits 0).
 */
import path from 'node:path';
import { HELP_FLAG, parseCommandArgs } from './args.js';
import { Detector } from '../detector/detector.js';
import { NpadInputError } from '../errors.js';
import { DetectorModel } from '../server/detectorModel.js';
import type { InspectionModel } from '../server/inspectionModel.js';
import { DEFAULT_SERVER_OPTIONS, MAX_TIMEOUT_MS } from '../server/options.js';
import { boundedFlag } from './numberFlags.js';
import { InspectionServer, isValidModelName } from '../server/server.js';
import { readFile } from 'node:fs/promises';
import { fileError } from '../io/fileErrors.js';
import { isLoopback } from '../server/access.js';

const D = DEFAULT_SERVER_OPTIONS;

/** `npad serve --help`. */
export const SERVE_HELP = `npad serve MODEL... [-p|--port 8080] [--host 127.0.0.1] [options]
  Serves calibrated models over HTTP, with a web page at / to drop images on. MODEL is NAME=FILE or FILE
  (named after the file, without .npad). API: POST /v1/models/NAME/predict with the image as the body
  (raw bytes, multipart form field "image", or JSON {"image": base64}) → verdict, scores, threshold,
  timings and the overlay PNG in base64; GET /v1/models, /healthz, /readyz. See README.md, "Serving".
  --port N           TCP port (default 8080; 0 picks a free one)
  --host H           address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)
  --max-body-mb N    largest request body in MiB (default ${D.maxBodyBytes / 1024 / 1024})
  --max-pixels N     largest image, width × height (default ${D.maxImagePixels})
  --timeout-s N      seconds a request may take, queueing included (default ${D.requestTimeoutMs / 1000})
  --concurrency N    images scored at once (default ${D.concurrency})
  --queue N          requests waiting for inference before 503 (default ${D.maxQueue})
  --max-connections N  connections open at once; more are closed as they arrive (default ${D.maxConnections})
  --max-upload-mb N  upload bytes held at once across all requests, in MiB; past it 503 (default ${D.maxBytesInFlight / 1024 / 1024})
  --quiet            no request log on stderr
  Access (docs/security.md):
  --token-file F     require Authorization: Bearer <the token in F> on every request but /healthz, /readyz and
                     the page (env NPAD_TOKEN does the same; a token on the command line would show in ps)
  --allowed-hosts H,…  host names the server answers to (default: localhost names on a loopback --host, any
                     otherwise); a request with another Host header is refused (DNS rebinding)
  --cors ORIGIN      a web origin (https://host[:port]) whose pages may call the API; repeatable; others are refused`;

/**
 * The bearer token: the first line of `file`, else env NPAD_TOKEN, else none.
 * @throws NpadInputError when the file cannot be read or holds no token
 */
async function tokenOf(file: string | undefined): Promise<string | null> {
  if (file === undefined) return process.env.NPAD_TOKEN?.trim() || null;
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw fileError(e, file, 'read');
  });
  const token = text.split(/\r?\n/)[0]!.trim();
  if (token === '') throw new NpadInputError(`${file}: --token-file holds no token on its first line`, file);
  return token;
}

/** A model to serve: its URL name and file. */
export interface ModelSpec {
  name: string;
  file: string;
}

/**
 * Reads `NAME=FILE` or `FILE` (named after the file's base name without its extension).
 * @throws NpadInputError when the name cannot be used in a URL
 */
export function parseModelSpec(arg: string): ModelSpec {
  const eq = /^([^=/\\]+)=(.+)$/.exec(arg);
  const file = eq ? eq[2]! : arg;
  const name = eq ? eq[1]! : path.basename(file).replace(/\.[^.]*$/, '');
  if (!isValidModelName(name)) {
    throw new NpadInputError(`${file}: cannot serve it under the name ${JSON.stringify(name)}: name it with NAME=${file} (letters, digits, '.', '_', '-'; up to 64)`, file);
  }
  return { name, file };
}

/**
 * Runs `npad serve`: listens, loads and warms up the models, serves until SIGTERM/SIGINT, then drains.
 * @returns 0 after a graceful stop
 * @throws NpadInputError for a bad flag, model name or file, or an address that cannot be listened on
 */
export async function serveCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('serve', {
    args: argv,
    options: {
      ...HELP_FLAG,
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      'max-body-mb': { type: 'string' },
      'max-pixels': { type: 'string' },
      'timeout-s': { type: 'string' },
      concurrency: { type: 'string' },
      queue: { type: 'string' },
      'max-connections': { type: 'string' },
      'max-upload-mb': { type: 'string' },
      quiet: { type: 'boolean' },
      'token-file': { type: 'string' },
      'allowed-hosts': { type: 'string' },
      cors: { type: 'string', multiple: true },
    },
    allowPositionals: true,
  }, SERVE_HELP);
  if (parsed === null) return 0;
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new NpadInputError(`npad serve needs at least one MODEL\n\n${SERVE_HELP}`);
  const specs = positionals.map(parseModelSpec);
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new NpadInputError(`${s.file}: another model is already named ${s.name}; name them with NAME=FILE`, s.file);
    seen.add(s.name);
  }
  const port = boundedFlag('port', values.port, 8080, { min: 0, max: 65535 });
  const host = values.host ?? '127.0.0.1';
  const maxImagePixels = boundedFlag('max-pixels', values['max-pixels'], D.maxImagePixels);
  const log = (line: string): void => void process.stderr.write(`npad serve: ${line}\n`);
  const token = await tokenOf(values['token-file']);
  if (token === null && !isLoopback(host)) log(`warning: listening on ${host} without a token: anyone who can reach the port can use the models (--token-file or NPAD_TOKEN; docs/security.md)`);
  const server = new InspectionServer({
    maxBodyBytes: Math.round(boundedFlag('max-body-mb', values['max-body-mb'], D.maxBodyBytes / 1024 / 1024, { integer: false, min: 0.001, max: 65536 }) * 1024 * 1024),
    maxImagePixels,
    requestTimeoutMs: Math.round(boundedFlag('timeout-s', values['timeout-s'], D.requestTimeoutMs / 1000, { integer: false, min: 0.001, max: MAX_TIMEOUT_MS / 1000 }) * 1000),
    concurrency: boundedFlag('concurrency', values.concurrency, D.concurrency),
    maxQueue: boundedFlag('queue', values.queue, D.maxQueue, { min: 0 }),
    maxConnections: boundedFlag('max-connections', values['max-connections'], D.maxConnections, { max: 65536 }),
    maxBytesInFlight: Math.round(boundedFlag('max-upload-mb', values['max-upload-mb'], D.maxBytesInFlight / 1024 / 1024, { integer: false, min: 1, max: 65536 }) * 1024 * 1024),
    log,
    accessLog: values.quiet ? () => {} : log,
    token,
    allowedHosts: values['allowed-hosts'] === undefined ? null : values['allowed-hosts'].split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
    corsOrigins: values.cors ?? [],
  });

  let address: { url: string };
  try {
    address = await server.listen(port, host);
  } catch (e) {
    throw listenError(e, host, port);
  }
  process.stdout.write(`npad serve: listening on ${address.url} (loading ${specs.length} model${specs.length === 1 ? '' : 's'}…)\n`);

  // A first SIGTERM/SIGINT drains and exits 0; a second one exits at once.
  let signalled: (name: string) => void = () => {};
  const stop = new Promise<string>((resolve) => (signalled = resolve));
  let signals = 0;
  const onSignal = (name: NodeJS.Signals): void => {
    if (++signals > 1) {
      log(`${name} again: exiting without waiting`);
      process.exit(130);
    }
    signalled(name);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const loading = loadModels(specs, maxImagePixels).then((models) => {
      server.setModels(models);
      process.stdout.write(`npad serve: ready: ${models.map((m) => `${m.description.name} (${m.description.method})`).join(', ')}; open ${address.url}/\n`);
    });
    const first = await Promise.race([loading.then(() => null), stop]);
    // A signal during loading leaves nothing in flight; the load's own failure still propagates.
    if (first === null) log(`stopping on ${await stop}`);
    else {
      loading.catch(() => {});
      log(`stopping on ${first} while loading`);
    }
  } finally {
    await server.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  log('stopped');
  return 0;
}

async function loadModels(specs: readonly ModelSpec[], maxImagePixels: number): Promise<InspectionModel[]> {
  const models: InspectionModel[] = [];
  for (const spec of specs) {
    const detector = await Detector.load(spec.file);
    const model = await DetectorModel.create(detector, spec.name, spec.file, maxImagePixels);
    await model.warmUp();
    models.push(model);
  }
  return models;
}

/** A listen failure as the user's problem to fix, naming the address. */
function listenError(e: unknown, host: string, port: number): Error {
  const code = (e as { code?: unknown } | null)?.code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE') return new NpadInputError(`--port ${port}: ${where} is already in use (another npad serve? pick another --port)`);
  if (code === 'EACCES') return new NpadInputError(`--port ${port}: permission denied to listen on ${where} (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new NpadInputError(`--host ${host}: not an address of this machine`);
  return e instanceof Error ? e : new Error(String(e));
}

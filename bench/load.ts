/**
 * Load test of `npad serve` on loopback: a bounded number of requests (and a time bound) from a few concurrent
 * clients, each posting a real bottle image to a real model; reports requests served, errors (0 expected), the
 * 503s of the bounded queue counted apart (a client is told to retry; not a failure), throughput and latency
 * percentiles.
 *
 *   node --import tsx bench/load.ts [--requests 200] [--concurrency 8] [--max-seconds 300] [--queue 16]
 *                                   [--model FILE | --url http://host:port --name NAME] [--images DIR] [--json FILE]
 *
 * Without --model or --url it fits a small N-pad model (4 bottle images, d = 12, module D off; calibrated on 3
 * more) and serves it in this process (concurrency 1, the server's default). With --url it loads a running server.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Detector } from '../src/detector/detector.js';
import { DetectorModel } from '../src/server/detectorModel.js';
import { InspectionServer } from '../src/server/server.js';
import { writeJsonAtomic } from '../src/cli/output.js';
import { packageRoot } from '../src/util/npadPackage.js';

const root = packageRoot();
/** The shared MVTec AD bottle category. */
export const BOTTLE = path.join(root, '..', 'shared', 'datasets', 'mvtec_ad', 'bottle');

/** What a load run measured. */
export interface LoadReport {
  /** requests sent */
  requests: number;
  /** answered 200 */
  served: number;
  /** refused with 503 because the queue was full (the client should retry) */
  rejected: number;
  /** anything else: other statuses, network failures, malformed answers */
  errors: number;
  /** the first few error descriptions */
  errorSamples: string[];
  /** requests not sent because the time bound passed */
  notSent: number;
  concurrency: number;
  seconds: number;
  /** served requests per second */
  perSecond: number;
  /** latency of the served requests, client side, in ms */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

/** Settings of {@link runLoad}. */
export interface LoadOptions {
  /** base URL of the server, e.g. http://127.0.0.1:8080 */
  url: string;
  /** model name */
  model: string;
  /** encoded images to send, in turn */
  images: readonly Buffer[];
  /** requests in all */
  requests: number;
  /** requests in flight at once */
  concurrency: number;
  /** stop sending new requests after this many seconds (those in flight finish) */
  maxSeconds?: number;
  /** ask for the overlay PNG (default true: what the web page does) */
  overlay?: boolean;
}

/** The q-quantile (0–1) of sorted values, nearest rank. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Sends `requests` predictions from `concurrency` clients and measures them. */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  if (o.images.length === 0) throw new RangeError('runLoad needs at least one image');
  const endpoint = `${o.url}/v1/models/${encodeURIComponent(o.model)}/predict${o.overlay === false ? '?overlay=0' : ''}`;
  const deadline = performance.now() + (o.maxSeconds ?? Infinity) * 1000;
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let next = 0;
  let rejected = 0;
  let errors = 0;
  let notSent = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= o.requests) return;
      if (performance.now() > deadline) {
        notSent++;
        continue;
      }
      const t0 = performance.now();
      try {
        const res = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: o.images[i % o.images.length]! });
        const body = (await res.json()) as { verdict?: unknown; error?: { code?: string; message?: string } };
        if (res.status === 200 && (body.verdict === 'good' || body.verdict === 'defective')) latencies.push(performance.now() - t0);
        else if (res.status === 503 && body.error?.code === 'queue_full') rejected++;
        else {
          errors++;
          if (errorSamples.length < 5) errorSamples.push(`${res.status} ${body.error?.code ?? ''}: ${body.error?.message ?? JSON.stringify(body).slice(0, 200)}`);
        }
      } catch (e) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(`network: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return {
    requests: o.requests,
    served: latencies.length,
    rejected,
    errors,
    errorSamples,
    notSent,
    concurrency: o.concurrency,
    seconds: r1(seconds),
    perSecond: Math.round((latencies.length / seconds) * 100) / 100,
    latencyMs: {
      p50: r1(quantile(sorted, 0.5)),
      p90: r1(quantile(sorted, 0.9)),
      p99: r1(quantile(sorted, 0.99)),
      max: r1(sorted[sorted.length - 1] ?? Number.NaN),
      mean: r1(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    },
  };
}

/**
 * Fits and saves a small calibrated N-pad model on bottle (fit on 4 training images, threshold from 3 more):
 * seconds to make, good enough to exercise serving. Returns its path.
 */
export async function fitSmallModel(file: string, dataset = BOTTLE): Promise<string> {
  const dir = path.join(dataset, 'train', 'good');
  const images = (await readdir(dir)).sort().map((f) => path.join(dir, f));
  const detector = await Detector.fit(images.slice(0, 4), { options: { dim: 12, maxCentroids: 16, kmeansSample: 1000, moduleD: false }, batchSize: 4 });
  await detector.calibrate(images.slice(4, 7));
  await detector.save(file);
  return file;
}

/** Some bottle test images (good and defective), as bytes. */
export async function bottleTestImages(count: number, dataset = BOTTLE): Promise<Buffer[]> {
  const picks: string[] = [];
  for (const kind of ['good', 'broken_large', 'contamination']) {
    const dir = path.join(dataset, 'test', kind);
    picks.push(...(await readdir(dir)).sort().slice(0, Math.ceil(count / 3)).map((f) => path.join(dir, f)));
  }
  return Promise.all(picks.slice(0, count).map((p) => readFile(p)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '8' },
      'max-seconds': { type: 'string', default: '300' },
      queue: { type: 'string', default: '16' },
      model: { type: 'string' },
      url: { type: 'string' },
      name: { type: 'string', default: 'bottle' },
      images: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const images = values.images
    ? await Promise.all((await readdir(values.images)).sort().slice(0, 12).map((f) => readFile(path.join(values.images!, f))))
    : await bottleTestImages(9);
  let url = values.url;
  let server: InspectionServer | null = null;
  let tmp: string | null = null;
  if (!url) {
    let file = values.model;
    if (!file) {
      tmp = await mkdtemp(path.join(os.tmpdir(), 'npad-load-'));
      process.stderr.write('fitting a small model on 4 bottle images …\n');
      file = await fitSmallModel(path.join(tmp, 'bottle.npad'));
    }
    const detector = await Detector.load(file);
    server = new InspectionServer({ maxQueue: Number(values.queue) });
    server.setModels([await DetectorModel.create(detector, values.name, file, server.options.maxImagePixels)]);
    url = (await server.listen(0, '127.0.0.1')).url;
  }
  try {
    // One request first, so onnxruntime's first-run graph optimisation is not counted as latency.
    await runLoad({ url, model: values.name, images, requests: 1, concurrency: 1 });
    const report = await runLoad({
      url,
      model: values.name,
      images,
      requests: Number(values.requests),
      concurrency: Number(values.concurrency),
      maxSeconds: Number(values['max-seconds']),
    });
    const l = report.latencyMs;
    process.stdout.write(
      `${report.requests} requests, ${report.concurrency} concurrent, ${report.seconds} s: ${report.served} served, ${report.errors} errors, ` +
        `${report.rejected} rejected with 503 (queue full), ${report.notSent} not sent (time bound)\n` +
        `  ${report.perSecond} images/s; latency p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, max ${l.max} ms\n`,
    );
    for (const e of report.errorSamples) process.stdout.write(`  error: ${e}\n`);
    if (values.json) await writeJsonAtomic(values.json, report);
    process.exitCode = report.errors === 0 ? 0 : 1;
  } finally {
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`load: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}

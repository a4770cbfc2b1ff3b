/**
 * The inspection HTTP server (node:http, no framework): routing, limits, the inference queue, timeouts and a
 * graceful shutdown. It serves any {@link InspectionModel}s; `npad serve` gives it Detectors through
 * ./detectorModel.ts, and the tests give it fakes.
 *
 * Routes (all answers JSON except the page; failures are `{ "error": { status, code, message } }`):
 *   GET  /                              the web page (./page.ts)
 *   GET  /healthz                       liveness: 200 while the process serves HTTP
 *   GET  /readyz                        readiness: 200 once the models are loaded, 503 before and while shutting down
 *   GET  /openapi.json                  this API as an OpenAPI 3 document (./openapi.ts)
 *   /v2/…                               the Open Inference Protocol v2 (KServe, Triton): ./openInference.ts
 *   GET  /metrics                       Prometheus metrics (./metrics.ts): requests, latency, predictions, queue, models
 *   GET  /v1/models                     the models: name, method, configuration summary, threshold
 *   GET  /v1/models/NAME                one of them
 *   POST /v1/models/NAME/predict        judge one image, or several as a list (body: raw bytes, multipart form or JSON; see ./upload.ts)
 *        ?overlay=0                     leave out the overlay PNG (default: included, base64)
 *        ?mask=1                        include the binary defect mask PNG (base64)
 *
 * Every request first passes the access checks (./access.ts: token, Host name, web origin) and the caps on
 * connections and on upload bytes held at once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NpadConfigError, NpadInputError } from '../errors.js';
import { encodedImageSize } from '../image/decode.js';
import { HttpError, sendError, sendJson } from './httpError.js';
import type { InspectionModel, ModelDescription, PredictionReply } from './inspectionModel.js';
import { resolveServerOptions, type ServerOptions } from './options.js';
import { PAGE_HTML } from './page.js';
import { InferenceQueue, QueueFullError } from './queue.js';
import { ClientGoneError, MAX_IMAGES_PER_REQUEST, imagesFromBody, readBody, type ImageUpload } from './upload.js';
import { inferResponse, modelMetadata, parseInferRequest } from './openInference.js';
import { npadVersion } from '../util/npadPackage.js';
import { ServerMetrics } from './metrics.js';
import { checkAccess } from './access.js';
import { OPENAPI_DOCUMENT } from './openapi.js';

/** Model names allowed in URLs: no escaping needed, no path tricks. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Content-Security-Policy of the page: everything inline or from this server, nothing from elsewhere. */
const PAGE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'";

/** One image judged by a model, as the routes format it. */
interface Judged {
  label: string;
  size: { width: number; height: number };
  reply: PredictionReply;
  /** time spent waiting in the queue, ms */
  queueMs: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, match: RegExpExecArray) => void | Promise<void>;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
}

/** True when `name` can name a model in URLs: 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit. */
export function isValidModelName(name: string): boolean {
  return MODEL_NAME.test(name);
}

/** The server's state, as /readyz reports it. */
type ServerState = 'loading' | 'ready' | 'shutting down';

/** Upload bytes after which an idle server asks for a garbage collection ({@link InspectionServer}). */
const COLLECT_AFTER_BYTES = 64 * 1024 * 1024;

/** An HTTP server answering inspection requests for a set of models. */
export class InspectionServer {
  /** The underlying node:http server. */
  readonly http: Server;
  readonly options: ServerOptions;
  private readonly queue: InferenceQueue;
  /** Upload bytes held now across all requests (options.maxBytesInFlight bounds it). */
  private uploadBytes = 0;
  /** Each request's share of uploadBytes, given back when its answer is done. */
  private readonly heldUploadBytes = new WeakMap<ServerResponse, number>();
  /** Upload bytes taken since the last garbage collection this server asked for ({@link collectAfterUploads}). */
  private uploadedSinceCollection = 0;
  private collectionTimer: NodeJS.Timeout | undefined;
  /** The address listened on, which sets the default allowed Host names (./access.ts). */
  private listenAddress = '127.0.0.1';
  /** Counters and histogram for `GET /metrics`. */
  private readonly metrics = new ServerMetrics();
  private models: Map<string, InspectionModel> | null = null;
  private state: ServerState = 'loading';
  private readonly inFlight = new Set<ServerResponse>();
  private readonly drainWaiters: (() => void)[] = [];
  private closing: Promise<void> | null = null;
  private readonly routes: Route[];

  /** @param options limits and logging; see {@link ServerOptions} for the defaults */
  constructor(options: Partial<ServerOptions> = {}) {
    this.options = resolveServerOptions(options);
    this.queue = new InferenceQueue(this.options.concurrency, this.options.maxQueue);
    this.http = createServer((req, res) => void this.handle(req, res));
    // Clients sending `Expect: 100-continue` (curl does for large bodies) learn about a too-large body before sending it.
    this.http.on('checkContinue', (req, res) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > this.options.maxBodyBytes) {
        sendError(res, new HttpError(413, 'body_too_large', `request body of ${declared} bytes is over the server's limit of ${this.options.maxBodyBytes} bytes (--max-body-mb)`, { Connection: 'close' }));
        return;
      }
      res.writeContinue();
      void this.handle(req, res);
    });
    // Our own timers answer first with a precise message; node's timeouts are the backstop for stuck sockets.
    this.http.requestTimeout = this.options.requestTimeoutMs + 5_000;
    // A client gets 10 s to send its request line and headers: held-open sockets are closed soon.
    this.http.headersTimeout = Math.min(10_000, this.http.requestTimeout);
    this.http.maxConnections = this.options.maxConnections;
    this.routes = [
      { pattern: /^\/(?:index\.html)?$/, methods: { GET: (_q, res) => this.sendPage(res) } },
      { pattern: /^\/healthz$/, methods: { GET: (_q, res) => sendJson(res, 200, { status: 'alive' }) } },
      { pattern: /^\/readyz$/, methods: { GET: (_q, res) => this.sendReadiness(res) } },
      { pattern: /^\/openapi\.json$/, methods: { GET: (_q, res, u) => (allowOnly(u, []), sendJson(res, 200, OPENAPI_DOCUMENT)) } },
      { pattern: /^\/metrics$/, methods: { GET: (_q, res, u) => (allowOnly(u, []), this.sendMetrics(res)) } },
      { pattern: /^\/v1\/models$/, methods: { GET: (_q, res, u) => (allowOnly(u, []), sendJson(res, 200, { models: this.loadedModels().map((m) => m.description) })) } },
      { pattern: /^\/v1\/models\/([^/]+)$/, methods: { GET: (_q, res, u, m) => (allowOnly(u, []), sendJson(res, 200, this.model(m[1]!).description)) } },
      { pattern: /^\/v1\/models\/([^/]+)\/predict$/, methods: { POST: (req, res, url, m) => this.predict(req, res, url, m[1]!) } },
      // The Open Inference Protocol v2 (./openInference.ts).
      { pattern: /^\/v2\/health\/live$/, methods: { GET: (_q, res) => sendJson(res, 200, { live: true }) } },
      { pattern: /^\/v2\/health\/ready$/, methods: { GET: (_q, res) => sendJson(res, this.state === 'ready' ? 200 : 503, { ready: this.state === 'ready' }) } },
      { pattern: /^\/v2\/?$/, methods: { GET: (_q, res) => sendJson(res, 200, { name: 'npad', version: npadVersion(), extensions: [] }) } },
      { pattern: /^\/v2\/models\/([^/]+)$/, methods: { GET: (_q, res, _u, m) => this.sendOipMetadata(res, m[1]!) } },
      { pattern: /^\/v2\/models\/([^/]+)\/ready$/, methods: { GET: (_q, res, _u, m) => sendJson(res, 200, { name: this.model(m[1]!).description.name, ready: true }) } },
      { pattern: /^\/v2\/models\/([^/]+)\/infer$/, methods: { POST: (req, res, url, m) => this.infer(req, res, url, m[1]!) } },
    ];
  }

  /**
   * Sets the models to serve and marks the server ready. Until then /readyz and the model routes answer 503.
   * @throws NpadConfigError for an invalid or repeated model name
   */
  setModels(models: readonly InspectionModel[]): void {
    const byName = new Map<string, InspectionModel>();
    for (const m of models) {
      const name = m.description.name;
      if (!MODEL_NAME.test(name)) throw new NpadConfigError(`model name ${JSON.stringify(name)} must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
      if (byName.has(name)) throw new NpadConfigError(`two models are named ${name}: give each its own name (NAME=FILE)`);
      byName.set(name, m);
    }
    if (byName.size === 0) throw new NpadConfigError('the server needs at least one model');
    this.models = byName;
    if (this.state === 'loading') this.state = 'ready';
  }

  /**
   * Starts listening.
   * @param port TCP port; 0 picks a free one
   * @param host interface address, e.g. 127.0.0.1 (only this machine) or 0.0.0.0 (every interface)
   * @returns the address actually bound and its base URL
   */
  listen(port: number, host: string): Promise<{ port: number; host: string; url: string }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        const address = this.http.address() as AddressInfo;
        this.listenAddress = address.address;
        const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve({ port: address.port, host: address.address, url: `http://${shownHost}:${address.port}` });
      });
    });
  }

  /**
   * Graceful shutdown: stops accepting connections, closes idle ones, lets the requests in flight (queued or
   * running, and any a client had already sent on an open connection) finish, each answer closing its
   * connection, then closes every connection. /readyz answers 503 meanwhile. After
   * `shutdownGraceMs` the remaining connections are closed anyway. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Requests being answered now. */
  get requestsInFlight(): number {
    return this.inFlight.size;
  }

  private async shutdown(): Promise<void> {
    this.state = 'shutting down';
    const n = this.inFlight.size;
    this.options.log(`shutting down: ${n} request${n === 1 ? '' : 's'} in flight`);
    for (const res of this.inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.options.shutdownGraceMs)));
    const outcome = await Promise.race([this.drained(), grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.options.log(`shutdown: ${this.inFlight.size} request(s) still running after ${this.options.shutdownGraceMs} ms; closing their connections`);
    this.http.closeAllConnections();
    await closed;
  }

  private drained(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.inFlight.add(res);
    res.on('close', () => {
      this.inFlight.delete(res);
      const seconds = (performance.now() - started) / 1000;
      this.metrics.request(routeLabel(req.url ?? ''), req.method ?? '', res.writableFinished ? res.statusCode : 0, seconds);
      const path = (req.url ?? '').split('?')[0];
      this.options.accessLog(`${req.method} ${path} ${res.writableFinished ? res.statusCode : 'aborted'} ${(performance.now() - started).toFixed(0)} ms`);
      if (this.inFlight.size === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
    });
    if (this.state === 'shutting down') res.setHeader('Connection', 'close');
    try {
      if (checkAccess(req, res, this.options, this.listenAddress)) return;
      await this.route(req, res);
    } catch (e) {
      // The Open Inference Protocol's clients read errors as {"error": "message"}.
      this.fail(res, e, (req.url ?? '').startsWith('/v2') ? 'oip' : 'npad');
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      throw new HttpError(400, 'bad_url', `the request target ${JSON.stringify(req.url)} is not a valid URL path`);
    }
    for (const route of this.routes) {
      const match = route.pattern.exec(url.pathname);
      if (!match) continue;
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
      const handler = route.methods[method];
      if (!handler) {
        const allowed = Object.keys(route.methods);
        if (allowed.includes('GET')) allowed.push('HEAD');
        throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${url.pathname} (allowed: ${allowed.join(', ')})`, { Allow: allowed.join(', ') });
      }
      await handler(req, res, url, match);
      return;
    }
    throw new HttpError(404, 'not_found', `no such path: ${url.pathname} (the API is under /v1/models; the page is at /)`);
  }

  private sendPage(res: ServerResponse): void {
    const body = Buffer.from(PAGE_HTML);
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': String(body.length),
      'Content-Security-Policy': PAGE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    });
    res.end(body);
  }

  private sendMetrics(res: ServerResponse): void {
    const body = Buffer.from(
      this.metrics.render({ queued: this.queue.queued, running: this.queue.active, models: this.models?.size ?? 0, ready: this.state === 'ready' ? 1 : 0 }),
    );
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': String(body.length), 'Cache-Control': 'no-cache' });
    res.end(body);
  }

  private sendReadiness(res: ServerResponse): void {
    if (this.state === 'ready') sendJson(res, 200, { status: 'ready', models: [...this.models!.keys()] });
    else sendJson(res, 503, { status: this.state }, { 'Retry-After': '1' });
  }

  private loadedModels(): InspectionModel[] {
    if (this.models === null) throw new HttpError(503, 'loading', 'the models are still loading; retry shortly (GET /readyz says when they are ready)', { 'Retry-After': '1' });
    return [...this.models.values()];
  }

  private model(rawName: string): InspectionModel {
    let name: string;
    try {
      name = decodeURIComponent(rawName);
    } catch {
      throw new HttpError(400, 'bad_url', `the model name ${JSON.stringify(rawName)} is not valid percent-encoding`);
    }
    const models = this.loadedModels();
    const model = this.models!.get(name);
    if (!model) throw new HttpError(404, 'unknown_model', `no model named ${JSON.stringify(name)} (models: ${models.map((m) => m.description.name).join(', ')})`);
    return model;
  }

  private async predict(req: IncomingMessage, res: ServerResponse, url: URL, rawName: string): Promise<void> {
    const arrived = performance.now();
    const model = this.model(rawName);
    allowOnly(url, ['overlay', 'mask']);
    const wanted = { overlay: flag(url, 'overlay', true), mask: flag(url, 'mask', false) };
    await this.withDeadline(req, res, async (body, signal) => {
      const uploads = imagesFromBody(req.headers['content-type'], body, 'uploaded image');
      const judged = await this.judge(model, uploads.images, wanted, signal);
      const d = model.description;
      // The wire format: snake_case, the same names and meanings as `npad predict --json`.
      const predictions = judged.map(({ label, size, reply, queueMs }) => ({
        model: d.name,
        file: label,
        verdict: reply.verdict,
        score: reply.score,
        normalised_score: reply.normalisedScore,
        threshold: d.threshold,
        image: size,
        defect_area: reply.defectArea,
        timings: {
          queue_ms: round(queueMs),
          inference_ms: round(reply.timings.inferenceMs),
          render_ms: round(reply.timings.renderMs),
          total_ms: round(performance.now() - arrived),
        },
        overlay_png: reply.overlayPng?.toString('base64') ?? null,
        mask_png: reply.maskPng?.toString('base64') ?? null,
      }));
      sendJson(res, 200, uploads.list ? { predictions } : predictions[0]!);
    }, true);
  }

  private sendOipMetadata(res: ServerResponse, rawName: string): void {
    const d = this.model(rawName).description;
    sendJson(res, 200, modelMetadata(d.name, d.method));
  }

  /** POST /v2/models/NAME/infer: the Open Inference Protocol's inference (./openInference.ts). */
  private async infer(req: IncomingMessage, res: ServerResponse, url: URL, rawName: string): Promise<void> {
    const model = this.model(rawName);
    allowOnly(url, []);
    await this.withDeadline(req, res, async (body, signal) => {
      const request = parseInferRequest(body, MAX_IMAGES_PER_REQUEST);
      const judged = await this.judge(model, request.images, { overlay: request.outputs.includes('overlay_png'), mask: false }, signal);
      const values = judged.map(({ reply }) => ({
        verdict: reply.verdict,
        score: reply.score,
        normalised_score: reply.normalisedScore,
        defect_area: reply.defectArea,
        overlay_png: reply.overlayPng?.toString('base64') ?? null,
      }));
      sendJson(res, 200, inferResponse(model.description.name, request, values));
    });
  }

  /**
   * Takes `n` bytes of the upload budget for the request answered on `res`, given back when that answer is done;
   * false when the budget would be exceeded.
   */
  private takeUploadBytes(n: number, res: ServerResponse): boolean {
    if (this.uploadBytes + n > this.options.maxBytesInFlight) return false;
    this.uploadBytes += n;
    this.uploadedSinceCollection += n;
    const held = this.heldUploadBytes.get(res);
    if (held === undefined) {
      res.once('close', () => {
        this.uploadBytes -= this.heldUploadBytes.get(res) ?? 0;
        this.heldUploadBytes.delete(res);
        if (this.uploadBytes === 0) this.collectAfterUploads();
      });
    }
    this.heldUploadBytes.set(res, (held ?? 0) + n);
    return true;
  }

  /**
   * Once no upload has been held for a second after COLLECT_AFTER_BYTES or more arrived, one full garbage collection,
   * where Node exposes it (`npad serve`'s restarted process: src/cli/serverAllocator.ts). The bodies' buffers are
   * garbage by then, but an idle server would otherwise keep them until its next collection, which may be long
   * coming (docs/security.md: memory after a burst of uploads). A full collection of this server's small heap
   * takes milliseconds.
   */
  private collectAfterUploads(): void {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined || this.uploadedSinceCollection < COLLECT_AFTER_BYTES) return;
    clearTimeout(this.collectionTimer);
    this.collectionTimer = setTimeout(() => {
      if (this.uploadBytes > 0) return; // a new upload: its close schedules the next try
      this.uploadedSinceCollection = 0;
      gc();
    }, 1000).unref();
  }

  /**
   * Runs a request's work under one deadline (the server's request timeout): while the body is still arriving, its
   * expiry is the client's slowness (408); once `work` has the body, it is the server's (504). A client that leaves
   * aborts the work.
   */
  private async withDeadline(req: IncomingMessage, res: ServerResponse, work: (body: Buffer, signal: AbortSignal) => Promise<void>, imageUpload = false): Promise<void> {
    let phase: 'body' | 'inference' = 'body';
    const deadline = new AbortController();
    const timeoutMs = this.options.requestTimeoutMs;
    const timer = setTimeout(() => {
      deadline.abort(
        phase === 'body'
          ? new HttpError(408, 'body_timeout', `the request body did not arrive within ${timeoutMs} ms`, { Connection: 'close' })
          : new HttpError(504, 'timeout', `the image was not scored within ${timeoutMs} ms (server busy or image too slow; --timeout-s)`),
      );
    }, timeoutMs);
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) deadline.abort(new ClientGoneError());
    });
    try {
      const body = await untilAborted(readBody(req, this.options.maxBodyBytes, (n) => this.takeUploadBytes(n, res), imageUpload), deadline.signal);
      phase = 'inference';
      await work(body, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Judges images with a model in turn through the queue. Every image's header is checked before any is queued, so
   * a bad one refuses the request without work.
   */
  private async judge(model: InspectionModel, uploads: readonly ImageUpload[], wanted: { overlay: boolean; mask: boolean }, signal: AbortSignal): Promise<Judged[]> {
    const images: { bytes: Buffer; label: string; size: { width: number; height: number } }[] = [];
    for (const upload of uploads) {
      const label = cleanLabel(upload.label);
      images.push({ bytes: upload.bytes, label, size: await this.checkImageSize(upload.bytes, label) });
    }
    const judged: Judged[] = [];
    for (const image of images) {
      const queuedAt = performance.now();
      let startedAt = queuedAt;
      const reply = await untilAborted(
        this.queue.run(() => {
          startedAt = performance.now();
          return model.predict(image.bytes, { ...wanted, label: image.label });
        }, signal),
        signal,
      );
      this.metrics.prediction(model.description.name, reply.verdict);
      judged.push({ label: image.label, size: image.size, reply, queueMs: startedAt - queuedAt });
    }
    return judged;
  }


  /**
   * Reads the image's size from its header (no decoding) and refuses it early when it is no image or is too
   * large, so a decompression bomb never reaches the decoder and the queue never holds a hopeless request.
   */
  private async checkImageSize(bytes: Buffer, label: string): Promise<{ width: number; height: number }> {
    let size: { width: number; height: number };
    try {
      size = await encodedImageSize(bytes, label);
    } catch (e) {
      if (e instanceof NpadInputError) throw new HttpError(415, 'not_an_image', e.message);
      throw e;
    }
    const pixels = size.width * size.height;
    if (pixels > this.options.maxImagePixels) {
      throw new HttpError(413, 'image_too_large', `${label}: image is ${size.width}×${size.height} = ${pixels} pixels, over the server's limit of ${this.options.maxImagePixels} (--max-pixels)`);
    }
    return size;
  }

  /** Answers a failure: HttpErrors as they are, a full queue as 503, bad image data as 422, anything else as 500. */
  private fail(res: ServerResponse, e: unknown, format: 'npad' | 'oip'): void {
    if (e instanceof ClientGoneError) {
      res.destroy();
      return;
    }
    const send = (error: HttpError): void => (format === 'oip' ? sendJson(res, error.status, { error: error.message }, error.headers) : sendError(res, error));
    if (e instanceof HttpError) send(e);
    else if (e instanceof QueueFullError) send(new HttpError(503, 'queue_full', e.message, { 'Retry-After': String(e.retryAfterSeconds) }));
    else if (e instanceof NpadInputError) send(new HttpError(422, 'unprocessable_image', e.message));
    else {
      this.options.log(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      send(new HttpError(500, 'internal_error', 'internal error while answering this request (details are in the server log)'));
    }
  }
}

/** Waits for `work`, or rejects with the signal's reason as soon as it aborts (the work's outcome is then dropped). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => {}); // an outcome arriving after the abort must not become an unhandled rejection
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A boolean query parameter: 1/true/yes or 0/false/no. */
/** The route pattern a request path belongs to, for metric labels (bounded: never the raw path). */
function routeLabel(target: string): string {
  const path = target.split('?')[0] ?? '';
  if (path === '/' || path === '/index.html') return '/';
  if (['/healthz', '/readyz', '/metrics', '/openapi.json', '/v1/models'].includes(path)) return path;
  if (/^\/v1\/models\/[^/]+$/.test(path)) return '/v1/models/:name';
  if (/^\/v1\/models\/[^/]+\/predict$/.test(path)) return '/v1/models/:name/predict';
  if (/^\/v2\/health\/(live|ready)$/.test(path) || /^\/v2\/?$/.test(path)) return path.replace(/\/$/, '');
  const v2 = /^\/v2\/models\/[^/]+(\/ready|\/infer)?$/.exec(path);
  if (v2) return `/v2/models/:name${v2[1] ?? ''}`;
  return 'other';
}

/** Refuses query parameters the route does not read: a misspelt `?overaly=0` should not pass silently. */
function allowOnly(url: URL, known: readonly string[]): void {
  for (const key of new Set(url.searchParams.keys())) {
    if (!known.includes(key)) {
      const list = known.length ? `this route reads ${known.join(', ')}` : 'this route reads none';
      throw new HttpError(400, 'unknown_parameter', `unknown query parameter ${JSON.stringify(key)} (${list})`);
    }
  }
}

function flag(url: URL, key: string, fallback: boolean): boolean {
  const v = url.searchParams.get(key);
  if (v === null) return fallback;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (/^(0|false|no)$/i.test(v)) return false;
  throw new HttpError(400, 'bad_parameter', `query parameter ${key}=${JSON.stringify(v)} must be 1 or 0`);
}

/** A client-supplied file name made safe to echo: base name only, no control characters, bounded length. */
function cleanLabel(label: string): string {
  const base = label.split(/[/\\]/).pop() || 'upload';
  // eslint-disable-next-line no-control-regex
  return base.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export type { ModelDescription };

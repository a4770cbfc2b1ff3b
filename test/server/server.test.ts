/**
 * The HTTP server against a fake model: routes, limits (body size, image size), malformed requests, the bounded
 * queue (503 + Retry-After), timeouts, client disconnects, model bugs, and the graceful shutdown. Each case's
 * outcome goes into docs/robustness.md (the server section) when the file's tests finish.
 */
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import net from 'node:net';
import { InspectionServer } from '../../src/server/server.js';
import { CompleteRun, describeAnswer, fakeModel, noisePng, outcomeTable, pngClaiming, solidPng, startServer, writeServerSection, type OutcomeRow } from './helpers.js';
import { responseSchema, schemaProblems } from './openapiSchema.js';

const rows: OutcomeRow[] = [];
const run = new CompleteRun();

after(async () => {
  if (run.complete) await writeServerSection('faults', `### Requests and faults (fake model)\n\n${outcomeTable(rows)}`);
});

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: { code: string; message: string; status: number } };
}

async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Answer['body'] = {};
  if (text) body = JSON.parse(text) as Answer['body'];
  return { status: res.status, headers: res.headers, body };
}

/** Sends, checks the status (and error code), and records the case for the docs. */
async function expectAnswer(
  name: string,
  requestText: string,
  url: string,
  init: RequestInit,
  status: number,
  code?: string,
): Promise<Answer> {
  const a = await send(url, init);
  assert.equal(a.status, status, `${name}: ${JSON.stringify(a.body)}`);
  if (code) assert.equal(a.body.error?.code, code, name);
  if (a.body.error) assert.doesNotMatch(a.body.error.message, /\n\s+at /, 'no stack trace');
  rows.push({ case: name, request: requestText, outcome: describeAnswer(a.status, a.body) });
  return a;
}

const png = (bytes: Buffer): RequestInit => ({ method: 'POST', headers: { 'Content-Type': 'image/png' }, body: bytes });

test('routes: page, health, readiness, models, and a prediction three ways', run.wrap(async () => {
  const { server, url } = await startServer(null);
  try {
    // Before the models are set, the server is alive but not ready.
    await expectAnswer('liveness while loading', 'GET /healthz', `${url}/healthz`, {}, 200);
    const loading = await expectAnswer('readiness while loading', 'GET /readyz', `${url}/readyz`, {}, 503);
    assert.equal(loading.body.status, 'loading');
    await expectAnswer('predict while loading', 'POST /v1/models/fake/predict', `${url}/v1/models/fake/predict`, png(await solidPng(4, 4, [0, 0, 0])), 503, 'loading');

    server.setModels([fakeModel('fake'), fakeModel('other')]);
    const ready = await expectAnswer('readiness once loaded', 'GET /readyz', `${url}/readyz`, {}, 200);
    assert.deepEqual(ready.body.models, ['fake', 'other']);
    const list = await send(`${url}/v1/models`);
    assert.deepEqual((list.body.models as { name: string }[]).map((m) => m.name), ['fake', 'other']);
    assert.deepEqual((list.body.models as { threshold: unknown }[])[0]!.threshold, { score: 0.5, normalised_score: 0.5, source: 'manual' });
    assert.equal((await send(`${url}/v1/models/other`)).body.name, 'other');

    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'/);
    const html = await page.text();
    assert.match(html, /<input id="file" type="file"/);
    assert.match(html, /id="threshold" type="range"/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no external resources');

    const white = await solidPng(16, 16, [255, 255, 255]);
    const raw = await expectAnswer('raw image body', 'POST …/predict, body = PNG bytes', `${url}/v1/models/fake/predict?mask=1`, png(white), 200);
    assert.equal(raw.body.verdict, 'defective');
    assert.equal(raw.body.score, 1);
    assert.deepEqual(raw.body.image, { width: 16, height: 16 });
    assert.deepEqual(raw.body.threshold, { score: 0.5, normalised_score: 0.5, source: 'manual' });
    assert.equal(typeof raw.body.overlay_png, 'string');
    assert.equal(typeof raw.body.mask_png, 'string');
    assert.ok(Buffer.from(raw.body.overlay_png as string, 'base64').subarray(1, 4).equals(Buffer.from('PNG')));
    for (const k of ['queue_ms', 'inference_ms', 'render_ms', 'total_ms']) assert.equal(typeof (raw.body.timings as Record<string, unknown>)[k], 'number', k);

    const form = new FormData();
    form.append('note', 'x');
    form.append('image', new Blob([await solidPng(4, 4, [0, 0, 0])], { type: 'image/png' }), 'black part.png');
    const multi = await expectAnswer('multipart form', 'POST …/predict, multipart field "image"', `${url}/v1/models/fake/predict?overlay=0`, { method: 'POST', body: form }, 200);
    assert.equal(multi.body.verdict, 'good');
    assert.equal(multi.body.file, 'black part.png');
    assert.equal(multi.body.overlay_png, null);

    const json = await expectAnswer(
      'JSON with base64',
      'POST …/predict, {"image": base64}',
      `${url}/v1/models/other/predict`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ image: white.toString('base64'), filename: 'w.png' }) },
      200,
    );
    assert.equal(json.body.model, 'other');
    assert.equal(json.body.file, 'w.png');

    // Several images in one request: answered as a list, in the order sent, each its own prediction.
    const several = new FormData();
    several.append('image', new Blob([await solidPng(4, 4, [0, 0, 0])], { type: 'image/png' }), 'a.png');
    several.append('image', new Blob([white], { type: 'image/png' }), 'b.png');
    several.append('image', new Blob([await solidPng(4, 4, [0, 0, 0])], { type: 'image/png' }), 'a.png');
    const listed = await expectAnswer('multipart, three files', 'POST …/predict, three files in one form', `${url}/v1/models/fake/predict?overlay=0`, { method: 'POST', body: several }, 200);
    const predictions = listed.body.predictions as { file: string; verdict: string }[];
    assert.deepEqual(predictions.map((p) => [p.file, p.verdict]), [['a.png', 'good'], ['b.png', 'defective'], ['a.png', 'good']]);
    const jsonList = await expectAnswer(
      'JSON list',
      'POST …/predict, {"images": [{image, filename}, …]}',
      `${url}/v1/models/fake/predict?overlay=0`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ images: [{ image: white.toString('base64'), filename: 'w1.png' }, { image: white.toString('base64') }] }) },
      200,
    );
    assert.deepEqual((jsonList.body.predictions as { file: string }[]).map((p) => p.file), ['w1.png', 'uploaded image']);

    const head = await fetch(`${url}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');

    // Every answer above fits the OpenAPI document the server serves.
    const doc = await send(`${url}/openapi.json`);
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi, '3.0.3');
    const fits = (value: unknown, path: string, method: 'get' | 'post', status: number): void =>
      assert.deepEqual(schemaProblems(value, responseSchema(path, method, status)), [], `${method.toUpperCase()} ${path} ${status}`);
    fits((await send(`${url}/healthz`)).body, '/healthz', 'get', 200);
    fits(ready.body, '/readyz', 'get', 200);
    fits(loading.body, '/readyz', 'get', 503);
    fits(list.body, '/v1/models', 'get', 200);
    fits((await send(`${url}/v1/models/other`)).body, '/v1/models/{name}', 'get', 200);
    for (const answer of [raw, multi, json, listed, jsonList]) fits(answer.body, '/v1/models/{name}/predict', 'post', 200);
    fits((await send(`${url}/v1/models/nobody`)).body, '/v1/models/{name}', 'get', 404);
    assert.notDeepEqual(schemaProblems({ ...raw.body, extra: 1 }, responseSchema('/v1/models/{name}/predict', 'post', 200)), [], 'the check does find a stray field');

    // Prometheus metrics: what was asked above, by route pattern (never the raw path), verdicts and gauges.
    const scrape = await fetch(`${url}/metrics`);
    assert.equal(scrape.status, 200);
    assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await scrape.text();
    assert.match(text, /^npad_http_requests_total\{route="\/v1\/models\/:name\/predict",method="POST",status="200"\} \d+$/m);
    assert.match(text, /^npad_http_requests_total\{route="\/v1\/models\/:name\/predict",method="POST",status="503"\} 1$/m); // asked while loading
    assert.match(text, /^npad_http_request_duration_seconds_bucket\{route="\/v1\/models\/:name\/predict",le="\+Inf"\} \d+$/m);
    assert.match(text, /^npad_predictions_total\{model="fake",verdict="defective"\} \d+$/m);
    assert.match(text, /^npad_models_loaded 2$/m);
    assert.match(text, /^npad_ready 1$/m);
    assert.match(text, /^npad_queue_waiting 0$/m);
    assert.doesNotMatch(text, /overaly|verbose/, 'raw paths and query strings never become labels');
  } finally {
    await server.close();
  }
}));

test('the Open Inference Protocol v2: health, metadata, readiness, inference of several images, errors as {"error": string}', run.wrap(async () => {
  const { server, url } = await startServer(null);
  try {
    assert.equal((await send(`${url}/v2/health/live`)).status, 200);
    const notReady = await send(`${url}/v2/health/ready`);
    assert.deepEqual([notReady.status, notReady.body], [503, { ready: false }]);
    server.setModels([fakeModel('fake')]);
    assert.deepEqual((await send(`${url}/v2/health/ready`)).body, { ready: true });
    assert.equal((await send(`${url}/v2`)).body.name, 'npad');
    assert.deepEqual((await send(`${url}/v2/models/fake/ready`)).body, { name: 'fake', ready: true });
    const meta = await send(`${url}/v2/models/fake`);
    assert.deepEqual(meta.body.inputs, [{ name: 'image', datatype: 'BYTES', shape: [-1] }]);
    assert.deepEqual((meta.body.outputs as { name: string }[]).map((o) => o.name), ['verdict', 'score', 'normalised_score', 'defect_area', 'overlay_png']);

    const black = (await solidPng(4, 4, [0, 0, 0])).toString('base64');
    const white = (await solidPng(16, 16, [255, 255, 255])).toString('base64');
    const infer = (body: unknown): Promise<Answer> => send(`${url}/v2/models/fake/infer`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const two = await infer({ id: 'r-1', inputs: [{ name: 'image', datatype: 'BYTES', shape: [2], data: [black, white] }] });
    assert.equal(two.status, 200, JSON.stringify(two.body));
    assert.equal(two.body.model_name, 'fake');
    assert.equal(two.body.id, 'r-1');
    const outputs = two.body.outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[];
    assert.deepEqual(outputs.map((o) => [o.name, o.datatype, o.shape]), [
      ['verdict', 'BYTES', [2]],
      ['score', 'FP64', [2]],
      ['normalised_score', 'FP64', [2]],
      ['defect_area', 'FP64', [2]],
    ]);
    assert.deepEqual(outputs[0]!.data, ['good', 'defective']);
    assert.deepEqual(schemaProblems(two.body, responseSchema('/v2/models/{name}/infer', 'post', 200)), [], 'fits the OpenAPI document');
    const overlay = await infer({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [black] }], outputs: [{ name: 'overlay_png' }] });
    const png = Buffer.from((overlay.body.outputs as { data: string[] }[])[0]!.data[0]!, 'base64');
    assert.ok(png.subarray(1, 4).equals(Buffer.from('PNG')), 'the overlay when asked for');

    for (const [why, body, status] of [
      ['wrong datatype', { inputs: [{ name: 'image', datatype: 'FP32', shape: [1], data: [black] }] }, 400],
      ['shape and data disagree', { inputs: [{ name: 'image', datatype: 'BYTES', shape: [3], data: [black] }] }, 400],
      ['unknown output', { inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [black] }], outputs: [{ name: 'heatmap' }] }, 400],
      ['no image input', { inputs: [] }, 400],
      ['not an image', { inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [Buffer.from('hello').toString('base64')] }] }, 415],
    ] as const) {
      const a = await infer(body);
      assert.equal(typeof a.body.error, 'string', `${why}: ${JSON.stringify(a.body)}`);
      assert.ok(a.status >= 400 && a.status < 500, `${why}: ${a.status}`);
      if (status !== 415) assert.equal(a.status, status, why);
    }
    const missing = await send(`${url}/v2/models/nobody/infer`, { method: 'POST', body: '{}' });
    assert.equal(missing.status, 404);
    assert.match(missing.body.error as unknown as string, /no model named "nobody"/);
  } finally {
    await server.close();
  }
}));

test('access: a token on everything but the probes and the page, Host names checked, foreign web origins refused', run.wrap(async () => {
  const token = 'a-long-random-token-0123456789';
  const { server, url, port } = await startServer([fakeModel('fake')], { token, corsOrigins: ['https://line3.example'] });
  try {
    const png = await solidPng(4, 4, [0, 0, 0]);
    const predict = (headers: Record<string, string>): Promise<Answer> => send(`${url}/v1/models/fake/predict`, { method: 'POST', headers: { 'Content-Type': 'image/png', ...headers }, body: png });
    assert.equal((await send(`${url}/healthz`)).status, 200, 'probes need no token');
    assert.equal((await send(`${url}/readyz`)).status, 200);
    assert.equal((await fetch(`${url}/`)).status, 200, 'the page itself needs none (it asks for the token)');
    const none = await send(`${url}/v1/models`);
    assert.deepEqual([none.status, none.body.error?.code], [401, 'unauthorized']);
    assert.equal((await predict({ Authorization: 'Bearer wrong-token-wrong-token' })).status, 401);
    assert.equal((await send(`${url}/metrics`)).status, 401, 'metrics need the token too');
    assert.equal((await predict({ Authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await send(`${url}/v2/models/fake`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);

    // A Host name this server does not answer to: a page on another site pointing its name at 127.0.0.1.
    const rebound = await rawExchange(url, `GET /healthz HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`);
    assert.match(rebound, /^HTTP\/1\.1 421 /);
    // A foreign origin is refused; a listed one gets CORS headers and its preflight.
    const foreign = await predict({ Authorization: `Bearer ${token}`, Origin: 'https://attacker.example' });
    assert.deepEqual([foreign.status, foreign.body.error?.code], [403, 'cross_origin']);
    const listed = await fetch(`${url}/v1/models`, { headers: { Authorization: `Bearer ${token}`, Origin: 'https://line3.example' } });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get('access-control-allow-origin'), 'https://line3.example');
    const preflight = await fetch(`${url}/v1/models/fake/predict`, { method: 'OPTIONS', headers: { Origin: 'https://line3.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.equal((await predict({ Authorization: `Bearer ${token}`, Origin: url })).status, 200, 'the server\'s own page');
  } finally {
    await server.close();
  }
  assert.throws(() => new InspectionServer({ token: 'short' }), /token must be at least 16 characters/);
  assert.throws(() => new InspectionServer({ corsOrigins: ['line3.example'] }), /is not an origin like https:\/\/example\.com/);
}));

test('caps: connections past the limit are closed at once; upload bytes held across requests are bounded (503 busy)', run.wrap(async () => {
  const { server, url, port } = await startServer([fakeModel('fake')], { maxConnections: 3, maxBytesInFlight: 100_000, maxBodyBytes: 90_000 });
  const open = (): Promise<net.Socket> => new Promise((resolve) => { const s = net.connect(port, '127.0.0.1', () => resolve(s)); });
  try {
    // Three idle sockets take every connection; a fourth is closed as it arrives, without an answer.
    const idle = [await open(), await open(), await open()];
    const fourth = await open();
    const closed = await new Promise<string>((resolve) => {
      let got = '';
      fourth.on('data', (d) => (got += d.toString()));
      fourth.on('close', () => resolve(got));
      fourth.on('error', () => {});
    });
    assert.equal(closed, '', 'no answer, just closed');
    for (const s of idle) s.destroy();
    await new Promise((r) => setTimeout(r, 100));

    // An upload that holds 60 000 of the 100 000 bytes by stopping halfway; a second of 60 000 bytes cannot fit.
    const held = await open();
    held.write(`POST /v1/models/fake/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 80000\r\n\r\n`);
    held.write(Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(60_000 - 6)])); // starts as an image: kept, not refused at once
    await new Promise((r) => setTimeout(r, 200));
    const second = await rawExchange(url, `POST /v1/models/fake/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 60000\r\n\r\nGIF89a${'x'.repeat(60_000 - 6)}`);
    assert.match(second, /^HTTP\/1\.1 503 /);
    assert.match(second, /"code":"busy"/);
    held.destroy();
    await new Promise((r) => setTimeout(r, 200));
    // The held bytes are given back: the same upload now fits (and is answered as the bytes it is: not an image).
    const again = await rawExchange(url, `POST /v1/models/fake/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 60000\r\nConnection: close\r\n\r\nGIF89a${'x'.repeat(60_000 - 6)}`);
    assert.doesNotMatch(again, /^HTTP\/1\.1 503 /);
  } finally {
    await server.close();
  }
}));

test('malformed requests get a 4xx naming the problem', run.wrap(async () => {
  const model = fakeModel('fake');
  const { server, url } = await startServer([model]);
  const predict = `${url}/v1/models/fake/predict`;
  try {
    await expectAnswer('unknown path', 'GET /nope', `${url}/nope`, {}, 404, 'not_found');
    const wrong = await expectAnswer('wrong method', 'GET …/predict', predict, {}, 405, 'method_not_allowed');
    assert.equal(wrong.headers.get('allow'), 'POST');
    await expectAnswer('wrong method', 'DELETE /v1/models', `${url}/v1/models`, { method: 'DELETE' }, 405, 'method_not_allowed');
    await expectAnswer('unknown model', 'POST /v1/models/nosuch/predict', `${url}/v1/models/nosuch/predict`, png(await solidPng(2, 2, [0, 0, 0])), 404, 'unknown_model');
    await expectAnswer('bad percent-encoding', 'POST /v1/models/%E0%A4%A/predict', `${url}/v1/models/%E0%A4%A/predict`, { method: 'POST', body: 'x' }, 400, 'bad_url');
    await expectAnswer('empty body', 'POST …/predict, no body', predict, { method: 'POST' }, 400, 'empty_body');
    await expectAnswer('not an image', 'POST …/predict, body = text', predict, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: 'hello, not a picture' }, 415, 'not_an_image');
    const full = await noisePng(64);
    await expectAnswer('truncated image (header intact)', 'POST …/predict, first half of a PNG', predict, png(full.subarray(0, full.length >> 1)), 422, 'unprocessable_image');
    await expectAnswer('unsupported content type', 'POST …/predict, Content-Type: text/plain', predict, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'abc' }, 415, 'unsupported_media_type');
    await expectAnswer('bad JSON', 'POST …/predict, JSON `{"image": `', predict, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"image": ' }, 400, 'bad_json');
    await expectAnswer('JSON without image', 'POST …/predict, JSON `{"picture": "…"}`', predict, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"picture": "AAAA"}' }, 400, 'no_image');
    await expectAnswer('JSON with bad base64', 'POST …/predict, JSON `{"image": "%%%"}`', predict, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"image": "%%%"}' }, 400, 'bad_base64');
    await expectAnswer('multipart without boundary', 'POST …/predict, Content-Type: multipart/form-data', predict, { method: 'POST', headers: { 'Content-Type': 'multipart/form-data' }, body: 'abc' }, 400, 'bad_multipart');
    await expectAnswer(
      'multipart cut short',
      'POST …/predict, multipart without its closing boundary',
      predict,
      { method: 'POST', headers: { 'Content-Type': 'multipart/form-data; boundary=XyZ' }, body: '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nabc' },
      400,
      'bad_multipart',
    );
    await expectAnswer(
      'multipart without a file',
      'POST …/predict, form with only a text field',
      predict,
      { method: 'POST', headers: { 'Content-Type': 'multipart/form-data; boundary=XyZ' }, body: '--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--XyZ--\r\n' },
      400,
      'no_image',
    );
    await expectAnswer('bad query parameter', 'POST …/predict?overlay=maybe', `${predict}?overlay=maybe`, png(await solidPng(2, 2, [0, 0, 0])), 400, 'bad_parameter');
    await expectAnswer('unknown query parameter', 'POST …/predict?overaly=0', `${predict}?overaly=0`, png(await solidPng(2, 2, [0, 0, 0])), 400, 'unknown_parameter');
    await expectAnswer('query parameter on a route that reads none', 'GET /v1/models?verbose=1', `${url}/v1/models?verbose=1`, {}, 400, 'unknown_parameter');
    assert.equal(model.calls, 1, 'only the truncated image reached the model');

    // Not HTTP at all: node answers 400 and closes that connection; the server carries on.
    const garbage = await rawExchange(url, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400/);
    rows.push({ case: 'not HTTP', request: '`NOT HTTP AT ALL` on a raw socket', outcome: `${garbage.split('\r\n')[0]} (from node), connection closed; server carries on` });
    assert.equal((await send(`${url}/healthz`)).status, 200);
  } finally {
    await server.close();
  }
}));

test('size limits: body (declared, streamed, 100-continue) and image pixels (before decoding)', run.wrap(async () => {
  const { server, url } = await startServer([fakeModel('fake')], { maxBodyBytes: 10_000, maxImagePixels: 100 * 100 });
  const predict = `${url}/v1/models/fake/predict`;
  try {
    await expectAnswer('body over the limit', 'POST …/predict, 20 000 bytes, limit 10 000', predict, png(Buffer.alloc(20_000, 7)), 413, 'body_too_large');
    // Streamed without a length: refused once the count passes the limit.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        // Starts as an image, so that the size is what refuses it.
        for (let i = 0; i < 5; i++) c.enqueue(i === 0 ? Uint8Array.from([...Buffer.from('GIF89a'), ...new Uint8Array(3_994)]) : new Uint8Array(4_000));
        c.close();
      },
    });
    await expectAnswer('chunked body over the limit', 'POST …/predict, chunked, 20 000 bytes', predict, { method: 'POST', body: stream, duplex: 'half' } as RequestInit, 413, 'body_too_large');

    // Expect: 100-continue with a too-large Content-Length is refused before the body is sent.
    const early = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(predict, { method: 'POST', headers: { 'Content-Length': '50000000', Expect: '100-continue', 'Content-Type': 'image/png' } });
      req.on('continue', () => reject(new Error('the server asked for the body')));
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(early.status, 413);
    rows.push({ case: 'declared body over the limit, Expect: 100-continue', request: 'Content-Length: 50000000, no body sent', outcome: describeAnswer(early.status, JSON.parse(early.body), '(before any body byte is sent)') });

    await expectAnswer('image over the pixel limit', 'POST …/predict, 200×200 PNG, limit 100×100', predict, png(await solidPng(200, 200, [9, 9, 9])), 413, 'image_too_large');
    await expectAnswer('decompression bomb', 'POST …/predict, 69-byte PNG claiming 100 000×100 000', predict, png(await pngClaiming(100_000, 100_000)), 413, 'image_too_large');
    await expectAnswer('image at the limit', 'POST …/predict, 100×100 PNG', predict, png(await solidPng(100, 100, [9, 9, 9])), 200);
  } finally {
    await server.close();
  }
}));

test('a full queue answers 503 with Retry-After; the queued ones are served', run.wrap(async () => {
  const model = fakeModel('slow', { delayMs: 600 });
  const { server, url } = await startServer([model], { concurrency: 1, maxQueue: 1 });
  try {
    const image = await solidPng(4, 4, [0, 0, 0]);
    const answers = await Promise.all([0, 1, 2, 3].map(() => send(`${url}/v1/models/slow/predict`, png(image))));
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 503);
    assert.equal(ok.length, 2, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(busy.length, 2);
    for (const b of busy) {
      assert.equal(b.body.error?.code, 'queue_full');
      assert.ok(Number(b.headers.get('retry-after')) >= 1);
    }
    assert.equal(model.calls, 2);
    rows.push({
      case: 'queue full',
      request: '4 at once; concurrency 1, queue 1, 600 ms per image',
      outcome: `2 × 200; 2 × ${describeAnswer(503, busy[0]!.body)} (Retry-After: ${busy[0]!.headers.get('retry-after')})`,
    });
  } finally {
    await server.close();
  }
}));

test('timeouts: slow inference 504, a request timing out in the queue never runs, a slow body 408', run.wrap(async () => {
  const model = fakeModel('slow', { delayMs: 400 });
  const { server, url } = await startServer([model], { requestTimeoutMs: 250, concurrency: 1, maxQueue: 4 });
  try {
    const image = await solidPng(4, 4, [0, 0, 0]);
    const [first, second] = await Promise.all([send(`${url}/v1/models/slow/predict`, png(image)), send(`${url}/v1/models/slow/predict`, png(image))]);
    assert.equal(first.status, 504);
    assert.equal(first.body.error?.code, 'timeout');
    assert.equal(second.status, 504);
    rows.push({ case: 'inference slower than the timeout', request: 'timeout 250 ms, model takes 400 ms', outcome: describeAnswer(first.status, first.body) });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(model.calls, 1, 'the request that timed out while queued was never run');
    rows.push({ case: 'timed out while queued', request: 'a second request behind the first', outcome: `${second.status} \`${second.body.error?.code}\`, and it is taken out of the queue: the model never sees it` });

    // Headers, then half the body, then silence: 408 when the deadline passes.
    const reply = await rawExchange(url, 'POST /v1/models/slow/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\nGIF89a' + 'x'.repeat(494));
    assert.match(reply, /^HTTP\/1\.1 408/);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as Answer['body'];
    assert.equal(body.error?.code, 'body_timeout');
    rows.push({ case: 'body never finishes', request: 'Content-Length 1000, 500 bytes sent, then nothing', outcome: describeAnswer(408, body) + ' (connection closed)' });
  } finally {
    await server.close();
  }
}));

test('a client that leaves while queued costs no inference; a model bug is a 500 without internals', run.wrap(async () => {
  // The first request holds the model for 1.5 s, far longer than the 100 ms before the second leaves.
  const slow = fakeModel('slow', { delayMs: 1500 });
  const broken = fakeModel('broken', { fail: new TypeError('boom: internal detail') });
  const logged: string[] = [];
  const { server, url } = await startServer([slow, broken], { concurrency: 1, maxQueue: 4, log: (l) => logged.push(l) });
  try {
    const image = await solidPng(4, 4, [0, 0, 0]);
    const first = send(`${url}/v1/models/slow/predict`, png(image));
    // The second request must find the model busy, so it waits in the queue: send it once the first runs.
    while (slow.calls < 1) await new Promise((r) => setTimeout(r, 5));
    const leaving = new AbortController();
    const second = fetch(`${url}/v1/models/slow/predict`, { ...png(image), signal: leaving.signal }).catch((e: Error) => e.name);
    await new Promise((r) => setTimeout(r, 100));
    leaving.abort();
    assert.equal(await second, 'AbortError');
    assert.equal((await first).status, 200);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(slow.calls, 1, 'the abandoned request was dropped from the queue');
    rows.push({ case: 'client leaves while queued', request: 'second request aborted after 100 ms', outcome: 'dropped from the queue; the model never runs it; the first is answered 200' });

    const bug = await expectAnswer('model throws (a bug)', 'POST /v1/models/broken/predict', `${url}/v1/models/broken/predict`, png(image), 500, 'internal_error');
    assert.doesNotMatch(JSON.stringify(bug.body), /boom/);
    assert.ok(logged.some((l) => l.includes('boom: internal detail')), 'the details go to the server log');
    assert.equal((await send(`${url}/v1/models/slow/predict`, png(image))).status, 200, 'still serving');
  } finally {
    await server.close();
  }
}));

test('graceful shutdown: in-flight requests finish, new connections are refused', run.wrap(async () => {
  const model = fakeModel('slow', { delayMs: 400 });
  const { server, url, port } = await startServer([model], { concurrency: 1, maxQueue: 4 });
  const image = await solidPng(4, 4, [0, 0, 0]);
  const running = send(`${url}/v1/models/slow/predict`, png(image));
  const queued = send(`${url}/v1/models/slow/predict`, png(image));
  await new Promise((r) => setTimeout(r, 100));
  let closed = false;
  const closing = server.close().then(() => (closed = true));
  // Not ready any more, and no new connections.
  await new Promise((r) => setTimeout(r, 20));
  const refused = await fetch(`${url}/readyz`).then(
    (r) => `HTTP ${r.status}`,
    (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
  );
  assert.equal(refused, 'ECONNREFUSED');
  assert.equal(closed, false, 'close waits for the requests in flight');
  const [a, b] = await Promise.all([running, queued]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal(a.headers.get('connection'), 'close');
  await closing;
  assert.equal(server.requestsInFlight, 0);
  rows.push({
    case: 'shutdown with requests in flight',
    request: 'close() while one image is scored and one queued (400 ms each)',
    outcome: `both answered 200 (Connection: close); new connections: ${refused}; close() resolves after them`,
  });

  // A request still running when the grace period ends has its connection closed, and close() returns.
  const stuck = fakeModel('stuck', { delayMs: 1500 });
  const s2 = await startServer([stuck], { shutdownGraceMs: 200 });
  const hanging = send(`${s2.url}/v1/models/stuck/predict`, png(image)).then(
    (r) => `HTTP ${r.status}`,
    () => 'connection closed',
  );
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  await s2.server.close();
  const waited = performance.now() - t0;
  assert.ok(waited < 1000, `close took ${waited} ms`);
  assert.equal(await hanging, 'connection closed');
  rows.push({ case: 'shutdown grace expires', request: 'close() with a 1.5 s request, grace 200 ms', outcome: 'connection closed after the grace period; close() returns' });
  void port;
}));

test('model names and options are checked', () => {
  const server = new InspectionServer();
  assert.throws(() => server.setModels([fakeModel('a'), fakeModel('a')]), /two models are named a/);
  assert.throws(() => server.setModels([fakeModel('a b')]), /model name "a b"/);
  assert.throws(() => server.setModels([]), /at least one model/);
  assert.throws(() => new InspectionServer({ maxQueue: -1 }), /maxQueue must be an integer from 0 to 9007199254740991, got -1/);
  // Past 2^31 − 1 ms Node's timers fire at once: every request would time out.
  assert.throws(() => new InspectionServer({ requestTimeoutMs: 1e12 }), /requestTimeoutMs must be an integer from 1 to 86400000, got 1000000000000/);
  assert.throws(() => new InspectionServer({ requestTimeoutMs: 0 }), /requestTimeoutMs/);
});

/** Writes `text` on a raw TCP connection and returns everything the server sends until it closes (or 3 s). */
function rawExchange(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    socket.on('close', () => resolve(got));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(got) : reject(e)));
    socket.setTimeout(3000, () => socket.destroy());
  });
}

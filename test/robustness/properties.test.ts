/**
 * Property-based fuzzing with fast-check, beside the mutation fuzzer (fuzz.test.ts):
 * - image headers: a PNG signature with a random IHDR (any size, depth, colour type, interlace) and random data, and
 *   random bytes after any supported format's first bytes, decode or are refused with NpadInputError, within a bound;
 * - HTTP requests: any method, path, query, content type and body get an answer below 500 (JSON
 *   `{"error": …}` when refused), and the server still answers afterwards.
 * Runs NPAD_PROPERTY_RUNS cases per property (default 500, a few seconds in CI); `npm run fuzz` runs many more. A failure
 * prints fast-check's seed and shrunk counterexample, which reproduce it.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeRgb } from '../../src/image/decode.js';
import { NpadInputError } from '../../src/errors.js';
import { fakeModel, startServer } from '../server/helpers.js';
import { crc32 } from './samples.js';

const RUNS = Number(process.env.NPAD_PROPERTY_RUNS ?? 500);
/** Longest one decode may take: every generated image is at most a few megapixels of declared size. */
const DECODE_BOUND_MS = 3000;

/** A PNG chunk with its length and CRC. */
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG of any declared header whose data is random bytes (deflated or not), with well-formed chunks. */
const arbitraryPng = fc
  .record({
    width: fc.integer({ min: 0, max: 5000 }),
    height: fc.integer({ min: 0, max: 5000 }),
    depth: fc.constantFrom(1, 2, 4, 8, 16, 3, 0, 255),
    colour: fc.constantFrom(0, 2, 3, 4, 6, 1, 7),
    interlace: fc.constantFrom(0, 1, 2),
    data: fc.uint8Array({ maxLength: 4096 }),
    deflate: fc.boolean(),
  })
  .map(({ width, height, depth, colour, interlace, data, deflate }) => {
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr.writeUInt8(depth, 8);
    ihdr.writeUInt8(colour, 9);
    ihdr.writeUInt8(interlace, 12);
    return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflate ? deflateSync(data) : data), chunk('IEND', new Uint8Array())]);
  });

/** Random bytes after the first bytes of each format npad reads. */
const arbitraryPrefixed = fc
  .tuple(
    fc.constantFrom(
      Buffer.from([0xff, 0xd8, 0xff]),
      Buffer.from('49492a00', 'hex'),
      Buffer.from('4d4d002a', 'hex'),
      Buffer.from('GIF89a', 'latin1'),
      Buffer.from('RIFF\u0000\u0000\u0000\u0000WEBP', 'latin1'),
      Buffer.from('BM', 'latin1'),
      PNG_SIGNATURE,
    ),
    fc.uint8Array({ maxLength: 2048 }),
  )
  .map(([head, tail]) => Buffer.concat([head, tail]));

/** Decodes, and checks the outcome: an image or an NpadInputError, in bounded time. */
async function decodesOrRefuses(bytes: Buffer): Promise<void> {
  const started = performance.now();
  try {
    const img = await decodeRgb(bytes, 'fuzzed.png', { limitInputPixels: 25_000_000 });
    assert.equal(img.data.length, img.width * img.height * 3);
  } catch (e) {
    if (!(e instanceof NpadInputError)) throw new Error(`not an NpadInputError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.match(e.message, /^fuzzed\.png: /, 'the message names the file');
  }
  assert.ok(performance.now() - started < DECODE_BOUND_MS, `decoding took ${(performance.now() - started).toFixed(0)} ms`);
}

test(`property: any PNG header, and any bytes after a supported format's signature, decode or give NpadInputError (${RUNS} runs each)`, { timeout: 300_000 }, async () => {
  await fc.assert(fc.asyncProperty(arbitraryPng, decodesOrRefuses), { numRuns: RUNS });
  await fc.assert(fc.asyncProperty(arbitraryPrefixed, decodesOrRefuses), { numRuns: RUNS });
});

test(`property: any HTTP request gets an answer below 500, and the server carries on (${RUNS} runs)`, { timeout: 300_000 }, async () => {
  const { server, url } = await startServer([fakeModel('fake')], { requestTimeoutMs: 5000 });
  try {
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      path: fc.oneof(
        fc.constantFrom('/', '/healthz', '/readyz', '/metrics', '/openapi.json', '/v1/models', '/v1/models/fake', '/v1/models/fake/predict', '/v2', '/v2/models/fake/infer', '/v2/models/fake'),
        fc.webPath(),
        fc.string().map((s) => `/v1/models/${encodeURIComponent(s)}/predict`),
      ),
      query: fc.dictionary(fc.constantFrom('overlay', 'mask', 'x', 'overaly'), fc.constantFrom('1', '0', 'yes', 'maybe', '')),
      type: fc.constantFrom(undefined, 'image/png', 'application/json', 'multipart/form-data; boundary=XyZ', 'multipart/form-data', 'text/plain', 'application/octet-stream'),
      body: fc.oneof(
        fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b)),
        fc.json().map((j) => Buffer.from(j)),
        fc.jsonValue().map((v) => Buffer.from(JSON.stringify({ image: v, images: [v], inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [v] }] }))),
        fc.string().map((s) => Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="image"; filename="${s}"\r\n\r\n${s}\r\n--XyZ--\r\n`)),
      ),
    });
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, query, type, body }) => {
        const target = new URL(url + (path.startsWith('/') ? path : `/${path}`));
        for (const [k, v] of Object.entries(query)) target.searchParams.set(k, v);
        const hasBody = method !== 'GET' && method !== 'HEAD';
        const res = await fetch(target, { method, headers: type ? { 'Content-Type': type } : {}, body: hasBody ? body : undefined });
        const text = await res.text();
        assert.ok(res.status < 500 || res.status === 503, `${method} ${target.pathname}: ${res.status} ${text.slice(0, 200)}`);
        if (res.status >= 400 && method !== 'HEAD') assert.ok('error' in (JSON.parse(text) as object), `a refusal is JSON {"error": …}: ${text.slice(0, 200)}`);
      }),
      { numRuns: RUNS },
    );
    assert.equal((await fetch(`${url}/healthz`)).status, 200, 'the server carries on');
  } finally {
    await server.close();
  }
});

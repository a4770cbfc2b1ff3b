/** The multipart/form-data reader: what browsers and curl send, and malformed bodies named as such. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { multipartBoundary, parseMultipart } from '../../src/server/multipart.js';

test('reads a form as a browser builds it, binary data included', async () => {
  const binary = Buffer.from([0, 13, 10, 45, 45, 255, 13, 10, 13, 10, 1]); // CR LF and "--" inside the file
  const form = new FormData();
  form.append('note', 'hello');
  form.append('image', new Blob([binary], { type: 'image/png' }), 'a "quoted" name.png');
  const request = new Request('http://x/', { method: 'POST', body: form });
  const contentType = request.headers.get('content-type')!;
  const parts = parseMultipart(Buffer.from(await request.arrayBuffer()), multipartBoundary(contentType));
  assert.equal(parts.length, 2);
  assert.deepEqual([parts[0]!.name, parts[0]!.filename, parts[0]!.data.toString()], ['note', null, 'hello']);
  assert.equal(parts[1]!.name, 'image');
  assert.equal(parts[1]!.contentType, 'image/png');
  assert.ok(parts[1]!.data.equals(binary));
  assert.match(parts[1]!.filename!, /quoted/);
});

test('malformed bodies and content types are refused with the reason', () => {
  assert.throws(() => multipartBoundary('multipart/form-data'), /without a valid boundary/);
  assert.equal(multipartBoundary('multipart/form-data; boundary="a b"'), 'a b');
  const body = (s: string): Buffer => Buffer.from(s.replace(/\n/g, '\r\n'));
  assert.throws(() => parseMultipart(body('nothing here'), 'B'), /boundary never occurs/);
  assert.throws(() => parseMultipart(body('--B\nContent-Disposition: form-data; name="x"\n\nabc'), 'B'), /ends before its closing boundary/);
  assert.throws(() => parseMultipart(body('--B\nContent-Disposition: form-data; name="x"'), 'B'), /no blank line/);
  assert.throws(() => parseMultipart(body('--B\nContent-Type: text/plain\n\nabc\n--B--\n'), 'B'), /no Content-Disposition/);
  assert.throws(() => parseMultipart(body('--B\nContent-Disposition: form-data\n\nabc\n--B--\n'), 'B'), /has no name/);
  assert.throws(() => parseMultipart(body('--B\nno colon\n\nabc\n--B--\n'), 'B'), /no colon/);
  assert.throws(() => parseMultipart(body('--Bxx'), 'B'), /not followed by CRLF/);
  assert.deepEqual(parseMultipart(body('--B--\n'), 'B'), []);
});

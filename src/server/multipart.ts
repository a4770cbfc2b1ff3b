/**
 * Just enough multipart/form-data (RFC 7578) to take a file out of a browser form or `curl -F`: the body is
 * already in memory (bounded by the body limit), so a split on the boundary suffices; no streaming parser.
 */
import { HttpError } from './httpError.js';

/** One part of a multipart body. */
export interface FormPart {
  /** the form field name (`name=` of Content-Disposition) */
  name: string;
  /** the file name the client sent, for file fields */
  filename: string | null;
  /** the part's Content-Type, lower-cased ('' when absent) */
  contentType: string;
  data: Buffer;
}

/**
 * The boundary of a `multipart/form-data; boundary=…` content type.
 * @throws HttpError 400 when it is missing or longer than RFC 2046's 70 characters
 */
export function multipartBoundary(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary || boundary.length > 70) {
    throw new HttpError(400, 'bad_multipart', `multipart/form-data without a valid boundary parameter (Content-Type: ${contentType})`);
  }
  return boundary;
}

/**
 * Splits a multipart/form-data body into its parts.
 * @throws HttpError 400 naming what is wrong when the body does not follow the format
 */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  if (at < 0) throw bad('the boundary never occurs in the body');
  const parts: FormPart[] = [];
  for (;;) {
    at += delimiter.length;
    // "--" after a delimiter closes the body.
    if (body.subarray(at, at + 2).toString('latin1') === '--') return parts;
    if (body.subarray(at, at + 2).toString('latin1') !== '\r\n') throw bad('a boundary line is not followed by CRLF');
    const headerEnd = body.indexOf('\r\n\r\n', at + 2);
    if (headerEnd < 0) throw bad('a part has no blank line after its headers');
    const headers = parseHeaders(body.subarray(at + 2, headerEnd).toString('utf8'));
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw bad('the body ends before its closing boundary');
    parts.push({ ...headers, data: body.subarray(headerEnd + 4, next) });
    at = next + 2;
  }
}

function parseHeaders(text: string): Omit<FormPart, 'data'> {
  let disposition = '';
  let contentType = '';
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) throw bad(`a part header line has no colon: ${JSON.stringify(line.slice(0, 80))}`);
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-disposition') disposition = value;
    else if (key === 'content-type') contentType = value.toLowerCase();
  }
  if (!/^form-data\b/i.test(disposition)) throw bad('a part has no Content-Disposition: form-data header');
  const name = dispositionParameter(disposition, 'name');
  if (name === null) throw bad('a part has no name');
  return { name, filename: dispositionParameter(disposition, 'filename'), contentType };
}

/** A quoted or bare parameter of a Content-Disposition value (browsers send name="…" and filename="…"). */
function dispositionParameter(disposition: string, key: string): string | null {
  const match = new RegExp(`;\\s*${key}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(disposition);
  if (!match) return null;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]!;
}

function bad(why: string): HttpError {
  return new HttpError(400, 'bad_multipart', `malformed multipart/form-data body: ${why}`);
}

/**
 * Reading an uploaded image from a request: the body, bounded in size, and the image in it, sent one of three
 * ways — the raw bytes (any image/* type or application/octet-stream; what `curl --data-binary @x.png` and
 * the web page send), a multipart/form-data form (the field `image`, or else the first file), or JSON
 * `{"image": "<base64>", "filename": "…"}`.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './httpError.js';
import { multipartBoundary, parseMultipart } from './multipart.js';
import { isRecord } from '../util/isRecord.js';
import { SIGNATURE_BYTES, startsAsImage } from '../image/decode.js';

/** Raised when the client disconnects before its body arrived: there is nobody left to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection before sending its whole body');
    this.name = 'ClientGoneError';
  }
}

/** An image taken out of a request. */
export interface ImageUpload {
  bytes: Buffer;
  /** the file name the client gave, or a stand-in, for messages */
  label: string;
}

/**
 * Reads the request body, refusing more than `maxBytes`.
 * @param take asked for each chunk's bytes before it is kept: the server's budget of upload bytes held at once,
 *   across all requests (false: refuse)
 * @param imageUpload true where the body may be the raw image (imagesFromBody): one that does not start as an image
 *   npad reads is then refused (415) at its first bytes
 * @throws HttpError 413 when the declared or the actual length is over the limit (the rest of the body is
 *   discarded by node after the answer); 503 when the server's upload budget is spent; ClientGoneError when the
 *   client leaves midway
 */
export function readBody(req: IncomingMessage, maxBytes: number, take: (bytes: number) => boolean = () => true, imageUpload = false): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge(declared, maxBytes));
  // A raw image body that does not start as an image is refused at its first bytes, not after megabytes of it.
  const raw = imageUpload && isRawImageType(req.headers['content-type']);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let over = false;
    let head: Buffer | null = raw ? Buffer.alloc(0) : null; // the first bytes, until they tell the format
    req.on('data', (chunk: Buffer) => {
      if (over) return; // keep reading and dropping, so the 413 reaches a client still sending
      if (head !== null) {
        head = Buffer.concat([head, chunk.subarray(0, SIGNATURE_BYTES - head.length)]);
        if (head.length >= SIGNATURE_BYTES) {
          if (!startsAsImage(head)) {
            over = true;
            chunks.length = 0;
            reject(notAnImage());
            return;
          }
          head = null;
        }
      }
      length += chunk.length;
      if (length > maxBytes) {
        over = true;
        chunks.length = 0;
        reject(tooLarge(null, maxBytes));
        return;
      }
      if (!take(chunk.length)) {
        // The server holds as many upload bytes as it allows (all requests together): this one waits for another day.
        over = true;
        chunks.length = 0;
        reject(new HttpError(503, 'busy', 'the server is receiving too many uploads at once; retry shortly', { 'Retry-After': '1', Connection: 'close' }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks, length));
    });
    req.on('close', () => {
      if (!req.complete && !over) reject(new ClientGoneError());
    });
    req.on('error', () => {
      if (!over) reject(new ClientGoneError());
    });
  });
}

/** True for the Content-Types whose body is the image itself (no form or JSON around it). */
function isRawImageType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === '' || type === 'application/octet-stream' || type.startsWith('image/');
}

/** The refusal of a raw body that does not start as an image npad reads (as decoding it would refuse it). */
function notAnImage(): HttpError {
  return new HttpError(415, 'not_an_image', 'uploaded image: not a decodable image (npad reads PNG, JPEG, TIFF, BMP, WebP and GIF; this body starts as none of them)', { Connection: 'close' });
}

function tooLarge(declared: number | null, maxBytes: number): HttpError {
  const size = declared === null ? `more than ${maxBytes} bytes` : `${declared} bytes`;
  return new HttpError(413, 'body_too_large', `request body of ${size} is over the server's limit of ${maxBytes} bytes (--max-body-mb)`, { Connection: 'close' });
}

/** The images of one request, in the order sent, and whether the client sent a list (then it is answered with one). */
export interface ImageUploads {
  images: ImageUpload[];
  /** True for a form with several files or a JSON `images` list: the answer is `{ predictions: [...] }`. */
  list: boolean;
}

/** Most images one request may carry (each is queued and scored in turn within the request's deadline). */
export const MAX_IMAGES_PER_REQUEST = 64;

/**
 * Takes the images out of a body according to its Content-Type: the raw body (one image), every file of a multipart
 * form (the field "image" first when there is one), or JSON `{"image", "filename"}` / `{"images": [{...}, …]}`.
 * @param contentType the request's Content-Type header
 * @param body the whole body
 * @param fallbackLabel the name used in messages when the client gave no file name
 * @throws HttpError 400 for an empty body, a malformed form/JSON or more than MAX_IMAGES_PER_REQUEST images, 415
 *   for a content type that cannot carry an image
 */
export function imagesFromBody(contentType: string | undefined, body: Buffer, fallbackLabel: string): ImageUploads {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (body.length === 0) throw new HttpError(400, 'empty_body', 'the request body is empty: send the image bytes (or a form or JSON carrying them)');
  let uploads: ImageUploads;
  if (isRawImageType(contentType)) uploads = { images: [{ bytes: body, label: fallbackLabel }], list: false };
  else if (type === 'multipart/form-data') uploads = imagesFromForm(body, contentType!, fallbackLabel);
  else if (type === 'application/json') uploads = imagesFromJson(body, fallbackLabel);
  else {
    throw new HttpError(
      415,
      'unsupported_media_type',
      `Content-Type ${type} cannot carry an image: send the raw bytes (image/* or application/octet-stream), multipart/form-data or application/json`,
    );
  }
  if (uploads.images.length > MAX_IMAGES_PER_REQUEST) {
    throw new HttpError(400, 'too_many_images', `${uploads.images.length} images in one request; at most ${MAX_IMAGES_PER_REQUEST}`);
  }
  return uploads;
}

function imagesFromForm(body: Buffer, contentType: string, fallbackLabel: string): ImageUploads {
  const parts = parseMultipart(body, multipartBoundary(contentType));
  // Every file part, in the order sent; a form whose only image is a non-file field "image" still works.
  const files = parts.filter((p) => p.filename !== null || p.name === 'image');
  if (files.length === 0) throw new HttpError(400, 'no_image', `the form has no field named "image" and no file (fields: ${parts.map((p) => p.name).join(', ') || 'none'})`);
  const images = files.map((part) => {
    if (part.data.length === 0) throw new HttpError(400, 'empty_body', `the form field "${part.name}"${part.filename ? ` (${part.filename})` : ''} is empty`);
    return { bytes: part.data, label: part.filename || fallbackLabel };
  });
  return { images, list: images.length > 1 };
}

function imagesFromJson(body: Buffer, fallbackLabel: string): ImageUploads {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, 'bad_json', `the JSON body does not parse: ${(e as Error).message}`);
  }
  const record = isRecord(value) ? value : null;
  if (record && Array.isArray(record.images)) {
    if (record.images.length === 0) throw new HttpError(400, 'no_image', 'the JSON field "images" is an empty list');
    return { images: record.images.map((item, i) => imageFromJsonRecord(isRecord(item) ? item : null, `images[${i}].`, fallbackLabel)), list: true };
  }
  return { images: [imageFromJsonRecord(record, '', fallbackLabel)], list: false };
}

/** One `{"image": "<base64>", "filename": "…"}`; `where` prefixes field names in messages (e.g. "images[2]."). */
function imageFromJsonRecord(record: Record<string, unknown> | null, where: string, fallbackLabel: string): ImageUpload {
  const image = record?.image;
  if (typeof image !== 'string') throw new HttpError(400, 'no_image', `the JSON body needs an "${where}image" field holding the image bytes in base64`);
  const base64 = image.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  // Buffer.from skips characters outside the alphabet silently; check, so a mangled upload is named as such.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 === 1) {
    throw new HttpError(400, 'bad_base64', `the JSON field "${where}image" is not valid base64`);
  }
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length === 0) throw new HttpError(400, 'empty_body', `the JSON field "${where}image" is empty`);
  const filename = typeof record!.filename === 'string' && record!.filename ? record!.filename : fallbackLabel;
  return { bytes, label: filename };
}

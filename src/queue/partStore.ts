/**
 * Where a sharded fit's parts travel between the workers and the coordinator (docs/scale.md): a folder every
 * machine reaches at the same path, or an S3-compatible bucket (`s3://BUCKET/PREFIX`) through the AWS SDK. A part
 * is always written and read as a checked file (detector/shardFiles.ts); S3 only carries that file, through a
 * temporary copy on the machine's disk (os.tmpdir(), so TMPDIR moves it), so a part damaged on the way is refused
 * by its checksum either way.
 *
 * S3 is configured as the AWS SDK is: credentials and region from the environment or ~/.aws (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_PROFILE, …); AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for another
 * S3-compatible store (MinIO, Ceph, R2, …), which is then addressed by path (bucket in the path, not the host name).
 * The SDK is an optional dependency, loaded only for an s3:// location.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { NpadInputError } from '../errors.js';

const S3_SCHEME = 's3://';

/** An S3 location's bucket and key. */
export interface S3Location {
  bucket: string;
  key: string;
}

/**
 * `s3://BUCKET/KEY` split, or null for a folder path.
 * @throws NpadInputError for an s3:// location without a valid bucket name
 */
export function parseS3Location(location: string): S3Location | null {
  if (!location.startsWith(S3_SCHEME)) return null;
  const rest = location.slice(S3_SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  // S3's rule for bucket names: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending alphanumeric.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new NpadInputError(`${location}: not an S3 location: expected s3://BUCKET/PREFIX with a bucket name of 3 to 63 lower-case letters, digits, dots and hyphens`);
  }
  return { bucket, key };
}

/**
 * The location of the part named `name` under `parts` (a folder, resolved to an absolute path, or `s3://BUCKET/PREFIX`).
 * @throws NpadInputError for a malformed s3:// location
 */
export function partLocation(parts: string, name: string): string {
  const s3 = parseS3Location(parts);
  if (s3 === null) return path.resolve(parts, name);
  return `${S3_SCHEME}${s3.bucket}/${s3.key === '' ? name : `${s3.key.replace(/\/+$/, '')}/${name}`}`;
}

/**
 * Writes a part at `location`: `write` writes the file (at the location itself for a folder, else a temporary file
 * that is then uploaded and removed). Returns the part's size in bytes.
 * @throws NpadInputError when the bucket cannot be written (named, with S3's reason)
 */
export async function writePart(location: string, write: (file: string) => Promise<void>): Promise<number> {
  const s3 = parseS3Location(location);
  if (s3 === null) {
    await write(location);
    return (await stat(location)).size;
  }
  return withTemporaryFile(async (file) => {
    await write(file);
    const bytes = (await stat(file)).size;
    const { client, Upload } = await s3Sdk();
    await s3Call(location, () => new Upload({ client, params: { Bucket: s3.bucket, Key: s3.key, Body: createReadStream(file), ContentLength: bytes } }).done());
    return bytes;
  });
}

/**
 * Reads the part at `location` with `read` (given the location itself for a folder, else a temporary copy of the
 * object, removed after `read`).
 * @throws NpadInputError when the object cannot be read (named, with S3's reason)
 */
export async function readPart<T>(location: string, read: (file: string) => Promise<T>): Promise<T> {
  const s3 = parseS3Location(location);
  if (s3 === null) return read(location);
  return withTemporaryFile(async (file) => {
    const { client, GetObjectCommand } = await s3Sdk();
    const object = await s3Call(location, () => client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: s3.key })));
    await s3Call(location, () => pipeline(object.Body as Readable, createWriteStream(file)));
    return read(file);
  });
}

/** Removes the part at `location`; one already gone is not an error. */
export async function removePart(location: string): Promise<void> {
  const s3 = parseS3Location(location);
  if (s3 === null) return rm(location, { force: true });
  const { client, DeleteObjectCommand } = await s3Sdk();
  await s3Call(location, () => client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: s3.key })));
}

/** Runs `use` with the path of a fresh temporary file, removed afterwards whatever happens. */
async function withTemporaryFile<T>(use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npad-part-'));
  try {
    return await use(path.join(dir, `${randomUUID()}.part`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs an S3 call, its failure (no bucket, no credentials, no endpoint) an input error naming the location. */
async function s3Call<T>(location: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof NpadInputError) throw e;
    const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = err.$metadata?.httpStatusCode;
    throw new NpadInputError(`${location}: ${err.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err.message ?? String(e)}`, location);
  }
}

type S3Sdk = {
  client: import('@aws-sdk/client-s3').S3Client;
  GetObjectCommand: typeof import('@aws-sdk/client-s3').GetObjectCommand;
  DeleteObjectCommand: typeof import('@aws-sdk/client-s3').DeleteObjectCommand;
  Upload: typeof import('@aws-sdk/lib-storage').Upload;
};
let sdk: Promise<S3Sdk> | null = null;

/** The AWS SDK's S3 client, configured from the environment, loaded on first use. */
function s3Sdk(): Promise<S3Sdk> {
  sdk ??= (async () => {
    // Its notice about future releases needing Node 22 says nothing about this one; a user's own setting wins.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    let s3: typeof import('@aws-sdk/client-s3');
    let storage: typeof import('@aws-sdk/lib-storage');
    try {
      [s3, storage] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]);
    } catch {
      throw new NpadInputError('s3:// locations need the AWS SDK, an optional dependency of npad: npm install @aws-sdk/client-s3 @aws-sdk/lib-storage');
    }
    const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    const client = new s3.S3Client({ forcePathStyle: endpoint !== undefined && endpoint !== '' });
    return { client, GetObjectCommand: s3.GetObjectCommand, DeleteObjectCommand: s3.DeleteObjectCommand, Upload: storage.Upload };
  })();
  sdk.catch(() => (sdk = null));
  return sdk;
}

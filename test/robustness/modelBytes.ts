/**
 * Surgery on model files (safetensors): read the JSON header and the npad metadata inside it, change them, and
 * write the file back with a valid header length and padding, so a change reaches the checks behind the
 * safetensors layer (the model metadata, the configuration) instead of being stopped at the first byte.
 */
import { headerSha256 } from '../../src/model/modelFile.js';
import { isRecord } from '../../src/util/isRecord.js';

/** A safetensors file split into its JSON header and its byte buffer. */
export interface SplitModel {
  /** the parsed header: tensor entries and `__metadata__` */
  header: Record<string, unknown>;
  /** the tensor bytes after the header */
  data: Buffer;
}

/** Splits a safetensors file (throws on a malformed one: the tests only split files they made). */
export function splitModel(bytes: Buffer): SplitModel {
  const length = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.toString('utf8', 8, 8 + length)) as Record<string, unknown>, data: bytes.subarray(8 + length) };
}

/** Joins a header and a byte buffer into a safetensors file (header padded with spaces to 8 bytes). */
export function joinModel(header: unknown, data: Buffer): Buffer {
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

/** The npad metadata (the JSON string under `__metadata__.npad`), parsed. */
export function npadMeta(split: SplitModel): Record<string, unknown> {
  const meta = split.header['__metadata__'] as Record<string, string>;
  return JSON.parse(meta['npad']!) as Record<string, unknown>;
}

/** A model file with its npad metadata changed by `change` (which edits the parsed object in place). */
export function withNpadMeta(bytes: Buffer, change: (meta: Record<string, unknown>) => void, options: { recomputeHeaderChecksum?: boolean } = {}): Buffer {
  const split = splitModel(bytes);
  const meta = npadMeta(split);
  change(meta);
  // As a forger would (the default): the header checksum catches damage and hand edits, not someone who recomputes it,
  // so these cases test the validation behind it.
  if ((options.recomputeHeaderChecksum ?? true) && typeof meta.headerSha256 === 'string' && isRecord(meta.config) && isRecord(meta.backbone)) {
    meta.headerSha256 = headerSha256(String(meta.method), meta.config, meta.backbone as { id: string; weightsSha256: string });
  }
  const header = { ...split.header, __metadata__: { ...(split.header['__metadata__'] as object), npad: JSON.stringify(meta) } };
  return joinModel(header, split.data);
}

/** Every path to a leaf value of a JSON value, e.g. ["config", "detector", "options", "dim"]. */
export function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leafPaths(v, [...prefix, i]));
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  return [prefix];
}

/** Sets (or, with `undefined`, deletes) the value at a path of a JSON object. */
export function setPath(root: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = root;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

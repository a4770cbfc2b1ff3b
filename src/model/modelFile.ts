/**
 * The fitted-detector file: a plain safetensors file (readable by any safetensors
 * library) whose `__metadata__` has one key, `npad`, holding a JSON string that
 * says what the tensors are. See docs/model-format.md.
 */
import { createHash } from 'node:crypto';
import { checkTensorsOffThread, tensorsSha256 } from './tensorChecks.js';
import { NpadInputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import {
  compareUtf8,
  encodeSafetensors,
  littleEndianBytes,
  openSafetensorsFile,
  toTypedArray,
  type DType,
  type TensorEntry,
} from '../tensorfile/safetensors.js';
import { isRecord } from '../util/isRecord.js';
import { npadVersion } from '../util/npadPackage.js';

/**
 * Newest version of the model file layout this npad reads. Bump it when a change would make older npad
 * versions misread a file (a new required field, a changed meaning); purely additive metadata does not.
 * A file records the oldest version that reads it (ModelHeader.formatVersion), so files that use nothing new
 * stay readable by older npad versions.
 *
 * 1: the first layout. 2: precision matrices may be packed by symmetry (`precisionBlocks`, docs/model-format.md).
 * 3: an N-pad model may hold a position-free bank (tensor `bank`, metadata `patchBank`), which older npad would
 * refuse only as an unknown option. 4: precision matrices may be stored in int8 with a scale per row (`--storage
 * i8`: I8 tensors `<grid>.precision.<i>`, F32 `<grid>.precisionScale.<i>`, metadata `precisionInt8`).
 */
export const MODEL_FORMAT_VERSION = 4;

/** Value of the `format` field, telling npad models apart from other uses of the `npad` key. */
const FORMAT_NAME = 'npad-model';

/** The `__metadata__` key holding the npad JSON. */
const METADATA_KEY = 'npad';

/** Dtypes a model tensor may have. */
export type ModelDType = 'F32' | 'F16' | 'I32' | 'U8' | 'I8' | 'F64';

/** One tensor of a fitted detector. F16 data are IEEE binary16 bit patterns. */
export interface ModelTensor {
  dtype: ModelDType;
  shape: number[];
  data: Float32Array | Uint16Array /* F16 bits */ | Int32Array | Uint8Array | Int8Array | Float64Array;
}

/** What the caller says about a fitted detector. */
export interface ModelHeader {
  /** The detection method, e.g. "patchcore". */
  method: string;
  /** The method's settings; must survive JSON.stringify. */
  config: Record<string, unknown>;
  /** The feature extractor the detector was fitted with. */
  backbone: { id: string; weightsSha256: string };
  /** The oldest layout version that reads these tensors (default 1; at most MODEL_FORMAT_VERSION). */
  formatVersion?: number;
}

/** The header as read back, with what npad adds when saving. */
export type LoadedModelHeader = ModelHeader & { formatVersion: number; createdAt: string; npadVersion: string };

/** What the file is to the user, in "damaged …" messages. */
const KIND = 'model file';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The array class holding each model dtype's elements. */
const TYPED_ARRAY_OF: Readonly<Record<ModelDType, new (length: number) => ModelTensor['data']>> = {
  F32: Float32Array,
  F16: Uint16Array,
  I32: Int32Array,
  U8: Uint8Array,
  I8: Int8Array,
  F64: Float64Array,
};

/**
 * Saves a fitted detector to `path`, atomically (a crash leaves the previous file
 * intact; see {@link writeFileAtomic}).
 *
 * @throws NpadInputError when the file cannot be written (disk full, no folder…)
 * @throws RangeError when `header` or `tensors` are malformed (a caller bug)
 */
export async function saveModel(path: string, header: ModelHeader, tensors: Map<string, ModelTensor>): Promise<void> {
  await writeFileAtomic(path, encodeModel(header, tensors));
}

/**
 * The bytes of a model file, as chunks to write in order (tensor chunks are views
 * of the caller's arrays, not copies). {@link saveModel} writes exactly these.
 *
 * @param createdAt the time recorded in the file
 * @throws RangeError when `header` or `tensors` are malformed (a caller bug)
 */
export function encodeModel(
  header: ModelHeader,
  tensors: Map<string, ModelTensor>,
  createdAt: Date = new Date(),
): Uint8Array[] {
  checkHeader(header);
  const entries = new Map<string, TensorEntry>();
  for (const [name, t] of tensors) entries.set(name, { dtype: t.dtype, shape: t.shape, data: tensorBytes(name, t) });
  const meta = {
    format: FORMAT_NAME,
    formatVersion: header.formatVersion ?? 1,
    method: header.method,
    config: header.config,
    backbone: { id: header.backbone.id, weightsSha256: header.backbone.weightsSha256 },
    tensorsSha256: tensorsSha256(entries),
    headerSha256: headerSha256(header.method, header.config, header.backbone),
    createdAt: createdAt.toISOString(),
    npadVersion: npadVersion(),
  };
  return encodeSafetensors(entries, { [METADATA_KEY]: JSON.stringify(meta) });
}

/**
 * Loads a fitted detector, verifying its checksum and, when `expect` is given,
 * that it was fitted with the same backbone (id and/or weights hash).
 *
 * @throws NpadInputError (message starting with `path`) when the file is missing,
 *   not a safetensors file, damaged, not an npad model, made by a newer npad, or
 *   fitted with another backbone
 */
export async function loadModel(
  path: string,
  expect?: { backboneId?: string; weightsSha256?: string },
): Promise<{ header: LoadedModelHeader; tensors: Map<string, ModelTensor> }> {
  const opened = await openModel(path, expect);
  return { header: opened.header, tensors: await opened.tensors };
}

/** A model file whose header is read and checked, and whose tensors are still being read ({@link openModel}). */
export interface OpenedModel {
  header: LoadedModelHeader;
  /** Each tensor's element type and shape as the file declares them, before any is read. */
  shapes: { name: string; dtype: DType; shape: number[] }[];
  /** The tensors, once read and checked against the file's checksum and for non-finite values. */
  tensors: Promise<Map<string, ModelTensor>>;
}

/**
 * {@link loadModel} in two steps: the header (format, configuration against its checksum, backbone) is read and
 * checked before this returns, and the tensors are read and checked meanwhile, so that the caller can load the
 * backbone the header names while the disk (or page cache) delivers the tensors: for the default bottle model,
 * 171 MB, that read took about 0.2 s of `npad predict`'s start. Nothing in the header may be trusted beyond its
 * own checksum until `tensors` resolves.
 *
 * @throws NpadInputError as {@link loadModel} does for the header; `tensors` rejects for the tensors
 */
export async function openModel(path: string, expect?: { backboneId?: string; weightsSha256?: string }): Promise<OpenedModel> {
  const content = await openSafetensorsFile(path, KIND);
  const raw = content.metadata[METADATA_KEY];
  if (raw === undefined) {
    throw new NpadInputError(`${path}: not an npad model (a safetensors file without "${METADATA_KEY}" metadata)`, path);
  }
  const meta = parseMeta(raw, path);
  // Files written before the header checksum existed have none; every file npad writes now has one.
  if (meta.headerSha256 !== undefined && headerSha256(meta.method, meta.config, meta.backbone) !== meta.headerSha256) {
    throw new NpadInputError(`${path}: its configuration does not match its checksum: the file is damaged or was edited by hand`, path);
  }
  checkBackbone(meta.backbone, expect, path);
  const tensors = content.tensors.then(async (read) => {
    const { tensors: entries, checks } = await checkTensorsOffThread(read);
    const out = new Map<string, ModelTensor>();
    for (const [name, entry] of entries) out.set(name, modelTensor(name, entry, path));
    if (checks.nonFinite) {
      throw new NpadInputError(`${path}: damaged ${KIND}: tensor ${JSON.stringify(checks.nonFinite.name)} holds a NaN or infinite value (element ${checks.nonFinite.at}); fit the model again`, path);
    }
    if (checks.sha256 !== meta.tensorsSha256) {
      throw new NpadInputError(`${path}: tensor data does not match its checksum: the file is damaged`, path);
    }
    return out;
  });
  tensors.catch(() => {}); // awaited by the caller; never an unhandled rejection meanwhile
  const { method, config, backbone, formatVersion, createdAt, npadVersion: madeBy } = meta;
  return { header: { method, config, backbone, formatVersion, createdAt, npadVersion: madeBy }, shapes: content.shapes, tensors };
}

/**
 * The `headerSha256` checksum: SHA-256, as 64 lowercase hex digits, of the canonical JSON (object keys sorted by
 * code point, no spaces) of `{ method, config, backbone }`. It detects a damaged or hand-edited configuration, as
 * `tensorsSha256` does for the tensors. Like any checksum it is no signature: whoever forges a file can recompute
 * both; what such a file may ask for is bounded by the configuration's validation (docs/security.md).
 */
export function headerSha256(method: string, config: Record<string, unknown>, backbone: { id: string; weightsSha256: string }): string {
  return createHash('sha256').update(canonicalJson({ method, config, backbone: { id: backbone.id, weightsSha256: backbone.weightsSha256 } })).digest('hex');
}

/** JSON with object keys in code-point order, so equal values give equal text whatever order they were built in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort(compareUtf8);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Rejects a header that cannot be saved faithfully. */
function checkHeader(h: ModelHeader): void {
  if (typeof h.method !== 'string' || h.method === '') throw new RangeError('model method must be a non-empty string');
  if (!isRecord(h.config)) throw new RangeError('model config must be a JSON object');
  if (typeof h.backbone.id !== 'string' || h.backbone.id === '') {
    throw new RangeError('backbone id must be a non-empty string');
  }
  if (!SHA256_HEX.test(h.backbone.weightsSha256)) {
    throw new RangeError('backbone weightsSha256 must be 64 lowercase hex digits');
  }
  const v = h.formatVersion;
  if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1 && v <= MODEL_FORMAT_VERSION)) {
    throw new RangeError(`formatVersion ${String(v)} must be an integer from 1 to ${MODEL_FORMAT_VERSION}`);
  }
}

/** A model tensor's little-endian bytes, after checking its array type and shape. */
function tensorBytes(name: string, t: ModelTensor): Uint8Array {
  const expected = TYPED_ARRAY_OF[t.dtype];
  if (expected === undefined || !(t.data instanceof expected)) {
    throw new RangeError(`tensor ${JSON.stringify(name)}: dtype ${String(t.dtype)} needs a ${expected?.name ?? 'known'} array`);
  }
  const count = t.shape.reduce((a, d) => a * d, 1);
  if (count !== t.data.length) {
    throw new RangeError(
      `tensor ${JSON.stringify(name)}: shape [${t.shape.join(', ')}] has ${count} values but the array has ${t.data.length}`,
    );
  }
  return littleEndianBytes(t.data);
}

/** The validated contents of the `npad` metadata JSON. */
interface ModelMeta extends LoadedModelHeader {
  tensorsSha256: string;
  /** Absent in files written before it existed. */
  headerSha256?: string;
}

/**
 * Parses and validates the `npad` metadata. The format version is checked before
 * the other fields, since a newer format may have changed them.
 */
function parseMeta(raw: string, path: string): ModelMeta {
  const damaged = (why: string): NpadInputError => new NpadInputError(`${path}: damaged ${KIND}: ${why}`, path);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw damaged(`its "${METADATA_KEY}" metadata is not valid JSON`);
  }
  if (!isRecord(json) || json['format'] !== FORMAT_NAME) {
    throw new NpadInputError(`${path}: not an npad model (its "${METADATA_KEY}" metadata is not an npad model header)`, path);
  }
  const version = json['formatVersion'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw damaged(`unknown model format version ${JSON.stringify(version)}`);
  }
  if (version > MODEL_FORMAT_VERSION) {
    throw new NpadInputError(
      `${path}: made by a newer npad (format ${version}); this npad reads format ${MODEL_FORMAT_VERSION}`,
      path,
    );
  }
  const { method, config, backbone, tensorsSha256: sum, headerSha256: headerSum, createdAt, npadVersion: madeBy } = json;
  if (headerSum !== undefined && (typeof headerSum !== 'string' || !SHA256_HEX.test(headerSum))) throw damaged('"headerSha256" is not a SHA-256 hex digest');
  if (typeof method !== 'string' || method === '') throw damaged('"method" is not a non-empty string');
  if (!isRecord(config)) throw damaged('"config" is not a JSON object');
  if (!isRecord(backbone) || typeof backbone['id'] !== 'string' || typeof backbone['weightsSha256'] !== 'string') {
    throw damaged('"backbone" is not { id, weightsSha256 }');
  }
  if (typeof sum !== 'string' || !SHA256_HEX.test(sum)) throw damaged('"tensorsSha256" is not a SHA-256 hex digest');
  if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) throw damaged('"createdAt" is not a date');
  if (typeof madeBy !== 'string') throw damaged('"npadVersion" is not a string');
  return {
    method,
    config,
    backbone: { id: backbone['id'], weightsSha256: backbone['weightsSha256'] },
    formatVersion: version,
    tensorsSha256: sum,
    ...(typeof headerSum === 'string' ? { headerSha256: headerSum } : {}),
    createdAt,
    npadVersion: madeBy,
  };
}

/** A file tensor as a model tensor; npad never writes the other dtypes. */
function modelTensor(name: string, entry: TensorEntry, path: string): ModelTensor {
  const { dtype, shape } = entry;
  if (dtype === 'BF16' || dtype === 'I64') {
    throw new NpadInputError(
      `${path}: damaged ${KIND}: tensor ${JSON.stringify(name)} has dtype ${dtype}, which npad models do not use`,
      path,
    );
  }
  const data = toTypedArray(entry);
  if (data instanceof BigInt64Array) throw new Error('unreachable: I64 handled above');
  return { dtype, shape, data };
}

/** Refuses a model fitted with another backbone than the one the caller has. */
function checkBackbone(
  saved: { id: string; weightsSha256: string },
  expect: { backboneId?: string; weightsSha256?: string } | undefined,
  path: string,
): void {
  if (expect === undefined) return;
  const idDiffers = expect.backboneId !== undefined && expect.backboneId !== saved.id;
  const wantSha = expect.weightsSha256?.toLowerCase();
  const shaDiffers = wantSha !== undefined && wantSha !== saved.weightsSha256;
  if (!idDiffers && !shaDiffers) return;
  const short = (sha: string | undefined): string => (sha === undefined ? 'unknown' : `${sha.slice(0, 12)}…`);
  throw new NpadInputError(
    `${path}: fitted with backbone ${saved.id} (weights sha256 ${short(saved.weightsSha256)}) ` +
      `but the current backbone is ${expect.backboneId ?? saved.id} (weights sha256 ${short(wantSha)}); ` +
      'its features would not match: fit the detector again with the current backbone',
    path,
  );
}



/**
 * What a model file's tensors are checked for when read: the `tensorsSha256` checksum and that no float is NaN or
 * infinite. Both are passes over every byte (171 MB for the default bottle model: 140 ms of hashing and 30 ms of
 * scanning on this project's machine), so loading runs them for a large file in a worker thread
 * ({@link checkTensorsOffThread}, tensorChecksWorker.ts; modelFile.ts openModel) while the main thread loads the
 * backbone; the worker takes and gives back the tensors' buffers without copying them.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { compareUtf8, type DType, type TensorEntry } from '../tensorfile/safetensors.js';

/**
 * The `tensorsSha256` checksum: SHA-256, as 64 lowercase hex digits, of the
 * concatenation, for each tensor in ascending order of name by Unicode code point
 * (= byte order of the UTF-8 names), of:
 *
 *   u64(len(name)) name  u64(len(dtype)) dtype  u64(rank) u64(dim)…  u64(len(data)) data
 *
 * where u64(n) is n as 8 bytes unsigned little-endian, name and dtype ("F32"…) are
 * UTF-8 bytes, and data is the tensor's bytes exactly as stored in the file.
 * The length prefixes make the byte stream unambiguous.
 */
export function tensorsSha256(tensors: Map<string, { dtype: DType; shape: number[]; data: Uint8Array }>): string {
  const hash = createHash('sha256');
  const names = [...tensors.keys()].sort(compareUtf8);
  for (const name of names) {
    const t = tensors.get(name);
    if (t === undefined) continue;
    const nameBytes = Buffer.from(name, 'utf8');
    hash.update(u64(nameBytes.length)).update(nameBytes);
    hash.update(u64(t.dtype.length)).update(Buffer.from(t.dtype, 'utf8'));
    hash.update(u64(t.shape.length));
    for (const d of t.shape) hash.update(u64(d));
    hash.update(u64(t.data.length)).update(t.data);
  }
  return hash.digest('hex');
}

/** n as 8 bytes, unsigned little-endian. */
function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** What {@link checkTensors} finds. */
export interface TensorChecks {
  /** The tensors' {@link tensorsSha256}. */
  sha256: string;
  /** The first NaN or infinite value of a float tensor (name and element index), or null. */
  nonFinite: { name: string; at: number } | null;
}

/**
 * The checksum of `tensors` and their first non-finite float. Every float a model stores is finite when npad
 * writes it; a non-finite one (a damaged or forged file) would turn scores into NaN.
 */
export function checkTensors(tensors: Map<string, TensorEntry>): TensorChecks {
  let nonFinite: TensorChecks['nonFinite'] = null;
  for (const [name, t] of tensors) {
    const at = firstNonFiniteOf(t);
    if (at >= 0) {
      nonFinite = { name, at };
      break;
    }
  }
  return { sha256: tensorsSha256(tensors), nonFinite };
}

/** Index of the first NaN or infinity of a float tensor (F32, F64, or F16 bits), or −1; −1 for other dtypes. */
function firstNonFiniteOf(t: TensorEntry): number {
  const { buffer, byteOffset, byteLength } = t.data;
  // Whole elements only: a tensor's length is checked against its shape elsewhere.
  if (t.dtype === 'F32' && byteOffset % 4 === 0) return firstNonFinite(new Float32Array(buffer, byteOffset, Math.floor(byteLength / 4)));
  if (t.dtype === 'F64' && byteOffset % 8 === 0) return firstNonFinite(new Float64Array(buffer, byteOffset, Math.floor(byteLength / 8)));
  if (t.dtype === 'F16' && byteOffset % 2 === 0) return firstNonFiniteHalf(new Uint16Array(buffer, byteOffset, Math.floor(byteLength / 2)));
  return -1;
}

function firstNonFinite(values: Float32Array | Float64Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/** {@link firstNonFinite} for binary16 bit patterns: an all-ones exponent is an infinity or NaN. */
function firstNonFiniteHalf(bits: Uint16Array): number {
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7c00) === 0x7c00) return i;
  return -1;
}

/**
 * The checks' worker: the compiled tensorChecksWorker.js beside this file; run from the TypeScript source (tsx:
 * the tests, scripts/), the .ts file, through tsx's loader, which a worker does not inherit from its parent.
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./tensorChecksWorker.js', import.meta.url));
  const source = new URL('./tensorChecksWorker.ts', import.meta.url).href;
  // tsx's API as found from here: the worker's own resolution would start from the working directory.
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(source)}); })`, { eval: true });
}

/** The message each way: the tensors as [name, dtype, shape, bytes], and on the way back the checks. */
export type TensorChecksMessage = { tensors: [string, DType, number[], Uint8Array][]; checks?: TensorChecks };

/**
 * Tensor bytes from which {@link checkTensorsOffThread} uses a worker thread: below, hashing them here takes less
 * than starting a worker (30–50 ms, and more from the TypeScript source: the fuzz tests' hundreds of tiny models took
 * 22 s with the checks here and 44–55 s in workers). The default models are 171 and 250 MB.
 */
export const OFF_THREAD_CHECK_BYTES = 32 * 2 ** 20;

/**
 * {@link checkTensors} in a worker thread. The tensors' buffers are moved to the worker and back (so `tensors`
 * must not be used meanwhile; the result holds them again). The checks run here instead for tensors of fewer than
 * `fromBytes` bytes in all, where no worker can be started, or where a tensor does not own its whole buffer (as
 * openSafetensorsFile reads them, each does).
 */
export async function checkTensorsOffThread(
  tensors: Map<string, TensorEntry>,
  fromBytes = OFF_THREAD_CHECK_BYTES,
): Promise<{ tensors: Map<string, TensorEntry>; checks: TensorChecks }> {
  const entries = [...tensors].map(([name, t]): [string, DType, number[], Uint8Array] => [name, t.dtype, t.shape, t.data]);
  const buffers = entries.map(([, , , data]) => data.buffer);
  const movable = entries.every(([, , , data]) => data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) && new Set(buffers).size === buffers.length;
  const bytes = entries.reduce((sum, [, , , data]) => sum + data.byteLength, 0);
  let worker: Worker;
  try {
    if (bytes < fromBytes) throw new Error('too small to be worth a worker');
    if (!movable) throw new Error('tensors share buffers');
    worker = startWorker();
  } catch {
    return { tensors, checks: checkTensors(tensors) };
  }
  try {
    const reply = await new Promise<TensorChecksMessage>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the tensor checks' worker exited with code ${code} before answering`)));
      const message: TensorChecksMessage = { tensors: entries };
      worker.postMessage(message, buffers as ArrayBuffer[]);
    });
    return { tensors: new Map(reply.tensors.map(([name, dtype, shape, data]) => [name, { dtype, shape, data }])), checks: reply.checks! };
  } finally {
    void worker.terminate();
  }
}

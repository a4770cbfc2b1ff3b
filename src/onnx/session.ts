/**
 * onnxruntime sessions for graphs built in code, cached by a key that names the graph and its shape, so that
 * a graph is built and optimised once per process (onnxruntime's first run of a new shape is slow).
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';

/** Float32 tensor data with its shape, as passed to and returned from graphs. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

const cache = new Map<string, Promise<ort.InferenceSession>>();

/** Threads onnxruntime uses inside one operator (default: all cores; env NPAD_THREADS overrides). */
export function threadCount(): number {
  const fromEnv = Number(process.env.NPAD_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.max(1, os.availableParallelism());
}

/** How a session manages its memory. */
export interface SessionMemory {
  /**
   * Keep onnxruntime's memory arena, so that the blocks of one run are reused by the next. A fresh block costs
   * its page faults on every run (about 1 ms per MB on this project's machine, bench/stages.ts), which made
   * small kernels spend more time allocating than computing. The arena holds its largest run's memory for the
   * life of the process, so only graphs whose runs are kept small (bounded chunks) should ask for it.
   */
  arena?: boolean;
}

/** The options every npad session is created with (exported for bench/ceilings.ts, which adds profiling). */
export function sessionOptions(memory: SessionMemory = {}): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threadCount(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableCpuMemArena: memory.arena ?? false,
    // onnxruntime's pool threads spin after each run by default. npad runs several sessions in turn (backbone,
    // Mahalanobis, maps), so each one's spinning threads took the cores from the next: on this 2-core machine
    // PaDiM's latency went 144 → 88 ms and the fast preset's 145 → 55 ms with spinning off, and throughput
    // rose a little (bench/run.ts).
    // Subnormal floats (below 1.2e-38) as zero: a fitted grid's precision matrices hold many of them (module A's
    // inverses, where channels barely covary), x86 arithmetic on them is many times slower, and a model straight from
    // its fit scored at half the speed of the same model loaded from a file whose int8 storage had rounded them to
    // zero. No float32 digit of a distance depends on them.
    extra: { session: { intra_op: { allow_spinning: '0' }, set_denormal_as_zero: '1' } },
  };
}

/**
 * Returns the cached session for `key`, building the model with `build()` on first use. `memory` applies when
 * the session is created (the key should name it if one graph is ever wanted both ways).
 */
export function cachedSession(key: string, build: () => Uint8Array, memory?: SessionMemory): Promise<ort.InferenceSession> {
  let s = cache.get(key);
  if (!s) {
    s = ort.InferenceSession.create(build(), sessionOptions(memory));
    cache.set(key, s);
    s.catch(() => cache.delete(key));
  }
  return s;
}

/** Creates (uncached) a session from model bytes or a file path. */
export function createSession(model: Uint8Array | string): Promise<ort.InferenceSession> {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, sessionOptions())
    : ort.InferenceSession.create(model, sessionOptions());
}

/** Drops the cached session of `key`, if any, and frees its memory (a one-off graph's arena, say). */
export async function releaseCachedSession(key: string): Promise<void> {
  const s = cache.get(key);
  if (!s) return;
  cache.delete(key);
  const session = await s.catch(() => null); // one that failed to build holds nothing
  await session?.release();
}

/** Drops every cached session (frees their memory). */
export async function releaseSessions(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  for (const s of all) await (await s).release();
}

/** Wraps float32 data as an onnxruntime tensor. */
export function floatTensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** Wraps int32 data (e.g. gather indices) as an onnxruntime tensor. */
export function int32Tensor(data: Int32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('int32', data, dims);
}

/** Runs a session on prepared tensors (any types) and returns the named float32 outputs. */
export async function runTensors(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  outputNames: readonly string[] = session.outputNames,
): Promise<Record<string, FloatTensor>> {
  const results = await session.run(feeds, [...outputNames]);
  const out: Record<string, FloatTensor> = {};
  for (const name of outputNames) {
    const t = results[name];
    if (!t) throw new Error(`onnxruntime returned no output ${name}`);
    if (t.type !== 'float32') throw new Error(`output ${name} is ${t.type}, expected float32`);
    out[name] = { data: t.data as Float32Array, dims: t.dims };
  }
  return out;
}

/** Runs a session on float32 inputs and returns the named float32 outputs. */
export async function runFloat(
  session: ort.InferenceSession,
  inputs: Record<string, FloatTensor>,
  outputNames: readonly string[] = session.outputNames,
): Promise<Record<string, FloatTensor>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) feeds[k] = floatTensor(v.data, v.dims);
  return runTensors(session, feeds, outputNames);
}

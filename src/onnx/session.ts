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

function sessionOptions(): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threadCount(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // The arena keeps freed blocks for reuse; with multi-GB chunked runs it would hold the peak forever.
    enableCpuMemArena: false,
  };
}

/** Returns the cached session for `key`, building the model with `build()` on first use. */
export function cachedSession(key: string, build: () => Uint8Array): Promise<ort.InferenceSession> {
  let s = cache.get(key);
  if (!s) {
    s = ort.InferenceSession.create(build(), sessionOptions());
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

/** Runs a session on float32 inputs and returns the named float32 outputs. */
export async function runFloat(
  session: ort.InferenceSession,
  inputs: Record<string, FloatTensor>,
  outputNames: readonly string[] = session.outputNames,
): Promise<Record<string, FloatTensor>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) feeds[k] = floatTensor(v.data, v.dims);
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

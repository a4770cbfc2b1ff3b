/**
 * onnxruntime's own batched inverse (com.microsoft Inverse, LU with pivoting): the accuracy reference the tests hold
 * the fit's blockedSpdInverse (src/engine/blockedInverse.ts) against.
 */
import { KERNEL_CHUNK_BYTES } from '../../src/engine/kernels.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { cachedSession, runFloat } from '../../src/onnx/session.js';

/** Batched matrix inverse: [n, d, d] → [n, d, d], in runs of at most KERNEL_CHUNK_BYTES. */
export async function batchedInverse(matrices: Float32Array, count: number, dim: number): Promise<Float32Array> {
  const session = await cachedSession(`inverse:${dim}`, () => {
    const g = new GraphBuilder('inverse');
    const a = g.input('a', 'float', ['n', dim, dim]);
    g.node('Inverse', [a], {}, 'inverse', 'com.microsoft');
    g.output('inverse', 'float', ['n', dim, dim]);
    return g.build();
  }, { arena: true });
  const size = dim * dim;
  const run = Math.max(1, Math.floor(KERNEL_CHUNK_BYTES / (4 * size)));
  const out = new Float32Array(count * size);
  for (let i0 = 0; i0 < count; i0 += run) {
    const n = Math.min(run, count - i0);
    const r = await runFloat(session, { a: { data: matrices.subarray(i0 * size, (i0 + n) * size), dims: [n, dim, dim] } });
    out.set(r.inverse!.data, i0 * size);
  }
  return out;
}

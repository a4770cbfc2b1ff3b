/**
 * PatchCore's locally aware patch features (Roth et al., CVPR 2022, §3.1), with the arithmetic of the authors' code
 * (patchcore/patchcore.py `PatchMaker`, `_embed`; patchcore/common.py `Preprocessing`/`MeanMapper`, `Aggregator`):
 *
 * 1. each stage's map [C, h, w] is unfolded into p×p neighbourhoods (stride 1, zero padding (p−1)/2): at every
 *    position a vector of C·p² values ordered (channel, row, column);
 * 2. the unfolded maps of the later stages are resized (bilinear, align_corners=False) to the first stage's grid;
 * 3. each stage's vector is reduced to `stageDim` values by 1-D adaptive average pooling (`MeanMapper`);
 * 4. the stages' reduced vectors are stacked, flattened (stage, value) and pooled again to `embedDim` (`Aggregator`).
 *
 * Steps 2 and 3 are both linear and act on different axes, so the graph pools first, on each stage's own grid,
 * and resizes the pooled maps (fewer values, same result). With ResNet-50-class stages 2 and 3 (512 and 1024
 * channels) and the authors' 1024 / 1024 this is: per stage-2 channel a 3×3 weighted average (the centre counted
 * twice, ÷10, since the 4608 unfolded values fall into bins of 4.5), and the 3×3 average of each stage-3 channel
 * (zero padding counted, AvgPool2d(3, 1, 1)) averaged over channel pairs. The graph implements the general rule.
 */
import { resizeTo } from '../../backbone/featureExtractor.js';
import { GraphBuilder } from '../../onnx/graph.js';
import { type FloatTensor, cachedSession, runFloat } from '../../onnx/session.js';
import { NpadConfigError } from '../../errors.js';

/** The shape of PatchCore's feature: which stage maps feed it, and its sizes. */
export interface PatchEmbeddingShape {
  /** Channels, rows and columns of each stage map used, finest first; the first one's grid is the patch grid. */
  stages: readonly { channels: number; height: number; width: number }[];
  /** Side p of the aggregated neighbourhood (odd; authors' `patchsize` 3). */
  patchSize: number;
  /** Values each stage's unfolded vector is pooled to (authors' `pretrain_embed_dimension` 1024). */
  stageDim: number;
  /** Values of the final patch feature (authors' `target_embed_dimension` 1024). */
  embedDim: number;
  /** How later stages are brought to the first one's grid (authors: bilinear). */
  upsample: 'nearest' | 'bilinear';
}

/** One output value of a 1-D adaptive average pooling: the mean of input[start … end). */
export interface PoolBin {
  /** First input index of the bin. */
  start: number;
  /** One past the last input index of the bin. */
  end: number;
}

/**
 * The bins of PyTorch's `adaptive_avg_pool1d` from `length` values to `bins`: bin i averages
 * [⌊i·L/D⌋, ⌈(i+1)·L/D⌉), so neighbouring bins overlap when L/D is not an integer.
 */
export function adaptivePoolBins(length: number, bins: number): PoolBin[] {
  if (!Number.isInteger(length) || !Number.isInteger(bins) || length < 1 || bins < 1) {
    throw new RangeError(`adaptive pooling of ${length} values to ${bins}: both must be positive integers`);
  }
  return Array.from({ length: bins }, (_, i) => ({
    start: Math.floor((i * length) / bins),
    end: Math.floor(((i + 1) * length + bins - 1) / bins),
  }));
}

/**
 * Writes an adaptive average pooling over axis 1 of x [B, length, P] → [B, bins, P]: for each j < the longest bin,
 * a Gather of every bin's j-th input value, weighted 1/len (0 past the bin's end), summed.
 */
function emitAdaptivePool(g: GraphBuilder, x: string, length: number, bins: number): string {
  const plan = adaptivePoolBins(length, bins);
  const longest = Math.max(...plan.map((b) => b.end - b.start));
  const terms: string[] = [];
  for (let j = 0; j < longest; j++) {
    const index = plan.map((b) => (b.start + j < b.end ? b.start + j : b.start));
    const weight = Float32Array.from(plan, (b) => (b.start + j < b.end ? 1 / (b.end - b.start) : 0));
    const picked = g.node('Gather', [x, g.constInt64(index)], { axis: 1 });
    terms.push(g.node('Mul', [picked, g.constFloat(weight, [1, bins, 1])]));
  }
  return terms.length === 1 ? terms[0]! : g.node('Sum', terms);
}

/** Writes the unfolding of s [B, C, h, w] into p×p neighbourhoods: [B, C·p², h·w], values ordered (c, row, column). */
function emitUnfold(g: GraphBuilder, s: string, channels: number, height: number, width: number, p: number): string {
  const r = (p - 1) / 2;
  if (r === 0) return g.node('Reshape', [s, g.constInt64([0, channels, height * width])]);
  const padded = g.node('Pad', [s, g.constInt64([0, 0, r, r, 0, 0, r, r])], { mode: 'constant' });
  const shifted: string[] = [];
  for (let ky = 0; ky < p; ky++) {
    for (let kx = 0; kx < p; kx++) {
      const window = g.node('Slice', [padded, g.constInt64([ky, kx]), g.constInt64([ky + height, kx + width]), g.constInt64([2, 3])]);
      shifted.push(g.node('Unsqueeze', [window, g.constInt64([2])]));
    }
  }
  const stacked = g.node('Concat', shifted, { axis: 2 }); // [B, C, p², h, w]
  return g.node('Reshape', [stacked, g.constInt64([0, channels * p * p, height * width])]);
}

/** Builds the graph: inputs `stage0…` [B, C_i, h_i, w_i], output `embedding` [B, h₀·w₀, embedDim]. */
export function buildPatchEmbeddingGraph(shape: PatchEmbeddingShape): Uint8Array {
  const { stages, patchSize: p, stageDim, embedDim } = shape;
  const g = new GraphBuilder('patchcore-embedding');
  const inputs = stages.map((s, i) => g.input(`stage${i}`, 'float', ['batch', s.channels, s.height, s.width]));
  const ref = stages[0]!;
  const pooled = stages.map((s, i) => {
    const unfolded = emitUnfold(g, inputs[i]!, s.channels, s.height, s.width, p);
    let x = emitAdaptivePool(g, unfolded, s.channels * p * p, stageDim); // [B, stageDim, h·w]
    if (s.height !== ref.height || s.width !== ref.width) {
      const map = g.node('Reshape', [x, g.constInt64([0, stageDim, s.height, s.width])]);
      const resized = resizeTo(g, map, inputs[0]!, shape.upsample);
      x = g.node('Reshape', [resized, g.constInt64([0, stageDim, ref.height * ref.width])]);
    }
    return g.node('Unsqueeze', [x, g.constInt64([1])]);
  });
  // Preprocessing stacks the stages as [B·P, S, stageDim]; the Aggregator flattens that (stage, value) and pools.
  const stacked = pooled.length === 1 ? pooled[0]! : g.node('Concat', pooled, { axis: 1 });
  const flat = g.node('Reshape', [stacked, g.constInt64([0, stages.length * stageDim, ref.height * ref.width])]);
  const embedded = emitAdaptivePool(g, flat, stages.length * stageDim, embedDim);
  g.node('Transpose', [embedded], { perm: [0, 2, 1] }, 'embedding');
  g.output('embedding', 'float', ['batch', ref.height * ref.width, embedDim]);
  return g.build();
}

/** Checks the shape, naming the bad value. */
export function validatePatchEmbeddingShape(shape: PatchEmbeddingShape): void {
  const p = shape.patchSize;
  if (!Number.isInteger(p) || p < 1 || p % 2 === 0) throw new NpadConfigError(`option patchSize must be an odd integer ≥ 1, got ${p}`);
  if (!Number.isInteger(shape.stageDim) || shape.stageDim < 1) throw new NpadConfigError(`option stageDim must be a positive integer, got ${shape.stageDim}`);
  if (!Number.isInteger(shape.embedDim) || shape.embedDim < 1) throw new NpadConfigError(`option embedDim must be a positive integer, got ${shape.embedDim}`);
  if (shape.stages.length < 1) throw new RangeError('PatchCore needs at least one stage');
}

/**
 * Patch features [B, P, embedDim] (position-major, P = the first stage's h·w in row-major order) of a batch's
 * stage maps, one tensor per stage of `shape.stages`.
 */
export async function embedPatches(shape: PatchEmbeddingShape, stages: readonly FloatTensor[]): Promise<{ data: Float32Array; batch: number; positions: number }> {
  if (stages.length !== shape.stages.length) throw new RangeError(`patch embedding: ${stages.length} stage maps, expected ${shape.stages.length}`);
  const batch = stages[0]!.dims[0]!;
  stages.forEach((t, i) => {
    const s = shape.stages[i]!;
    const want = [batch, s.channels, s.height, s.width];
    if (t.dims.length !== 4 || t.dims.some((d, j) => d !== want[j])) {
      throw new RangeError(`patch embedding: stage map ${i} has shape [${t.dims.join(', ')}], expected [${want.join(', ')}]`);
    }
  });
  const key = `patchcore-embedding|${JSON.stringify(shape)}`;
  const session = await cachedSession(key, () => buildPatchEmbeddingGraph(shape));
  const feeds = Object.fromEntries(stages.map((t, i) => [`stage${i}`, t]));
  const out = await runFloat(session, feeds, ['embedding']);
  const positions = shape.stages[0]!.height * shape.stages[0]!.width;
  return { data: out.embedding!.data, batch, positions };
}

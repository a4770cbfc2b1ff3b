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
 * Every step is linear, the poolings acting on channels and the unfolding and resize on positions, so the graph runs
 * each stage's part as one p×p convolution on the stage's own grid with the poolings composed into its weights
 * ({@link stageFilters}), and resizes its output. With ResNet-50-class stages 2 and 3 (512 and 1024 channels) and
 * the authors' 1024 / 1024 the weights are: per stage-2 channel a 3×3 weighted average (the centre counted twice,
 * ÷10, since the 4608 unfolded values fall into bins of 4.5), and the 3×3 average of each stage-3 channel (zero
 * padding counted) averaged over channel pairs. The weights are computed by the general rule.
 */
import { resizeTo } from '../../backbone/featureExtractor.js';
import { GraphBuilder } from '../../onnx/graph.js';
import { type FloatTensor, cachedSession, runFloat } from '../../onnx/session.js';
import { NpadConfigError } from '../../errors.js';

/** Bytes of patch features one embedding run makes (a 224² input's are 3.2 MB at 1024 values). */
const EMBEDDING_RUN_BYTES = 64 * 2 ** 20;

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
 * One stage's share of the embedding as a convolution: embedding values [first, first + count) are each a p×p
 * filter over the stage map (zero padded), reading only the `channels / groups` channels of its group.
 */
export interface StageFilter {
  /** First embedding value this stage contributes to. */
  first: number;
  /** Embedding values it contributes to (the filters). */
  count: number;
  /** Channel groups of the convolution: filter o reads group ⌊o / (count / groups)⌋ alone. */
  groups: number;
  /** Weights [count, channels / groups, p, p]. */
  weights: Float32Array;
}

/**
 * The embedding's weights on each stage. Unfolding, both poolings and the resize are linear, and the poolings act
 * on channels while the unfolding and the resize act on positions: each stage's part is a p×p convolution on its
 * own grid (the two poolings composed into its weights), resized to the patch grid. Its weights are sparse (a value
 * reads a few neighbouring unfolded values, so one or two channels), and the convolution is grouped as finely as
 * they allow: for ResNet-50's stages and the authors' sizes, one channel per value on stage 2 and two on stage 3.
 */
export function stageFilters(shape: PatchEmbeddingShape): StageFilter[] {
  const { stages, patchSize: p, stageDim, embedDim } = shape;
  const k2 = p * p;
  // Per stage, per embedding value: unfolded index → weight, the poolings' 1/len factors multiplied in float64.
  const entries = stages.map(() => new Map<number, Map<number, number>>());
  const stageBins = stages.map((s) => adaptivePoolBins(s.channels * k2, stageDim));
  adaptivePoolBins(stages.length * stageDim, embedDim).forEach((outer, o) => {
    for (let flat = outer.start; flat < outer.end; flat++) {
      const s = Math.floor(flat / stageDim);
      const inner = stageBins[s]![flat % stageDim]!;
      const w = 1 / (outer.end - outer.start) / (inner.end - inner.start);
      let row = entries[s]!.get(o);
      if (!row) entries[s]!.set(o, (row = new Map()));
      for (let e = inner.start; e < inner.end; e++) row.set(e, (row.get(e) ?? 0) + w);
    }
  });
  return stages.map((stage, s) => {
    const rows = entries[s]!;
    const outputs = [...rows.keys()];
    const first = Math.min(...outputs);
    const count = Math.max(...outputs) - first + 1;
    const span = (o: number): [number, number] => {
      const channels = [...(rows.get(o)?.keys() ?? [])].map((e) => Math.floor(e / k2));
      return channels.length ? [Math.min(...channels), Math.max(...channels)] : [0, -1];
    };
    const groups = finestGroups(stage.channels, count, (o) => span(first + o));
    const perGroup = stage.channels / groups;
    const weights = new Float32Array(count * perGroup * k2);
    for (const [o, row] of rows) {
      const local = o - first;
      const group = Math.floor(local / (count / groups));
      for (const [e, w] of row) weights[(local * perGroup + Math.floor(e / k2) - group * perGroup) * k2 + (e % k2)] = w;
    }
    return { first, count, groups, weights };
  });
}

/**
 * The most groups G (dividing both `channels` and `filters`) such that every filter o reads only channels of group
 * ⌊o / (filters / G)⌋; `span(o)` is the range of channels filter o reads ([0, −1] for none). 1 always qualifies.
 */
function finestGroups(channels: number, filters: number, span: (o: number) => [number, number]): number {
  const spans = Array.from({ length: filters }, (_, o) => span(o));
  for (let groups = Math.min(channels, filters); groups > 1; groups--) {
    if (channels % groups !== 0 || filters % groups !== 0) continue;
    const c = channels / groups;
    const f = filters / groups;
    if (spans.every(([lo, hi], o) => hi < lo || (lo >= Math.floor(o / f) * c && hi < (Math.floor(o / f) + 1) * c))) return groups;
  }
  return 1;
}

/** Builds the graph: inputs `stage0…` [B, C_i, h_i, w_i], output `embedding` [B, h₀·w₀, embedDim]. */
export function buildPatchEmbeddingGraph(shape: PatchEmbeddingShape): Uint8Array {
  const { stages, patchSize: p, embedDim } = shape;
  const r = (p - 1) / 2;
  const g = new GraphBuilder('patchcore-embedding');
  const inputs = stages.map((s, i) => g.input(`stage${i}`, 'float', ['batch', s.channels, s.height, s.width]));
  const ref = stages[0]!;
  const filters = stageFilters(shape);
  const parts = filters.map((f, i) => {
    const s = stages[i]!;
    const weights = g.constFloat(f.weights, [f.count, s.channels / f.groups, p, p]);
    const y = g.node('Conv', [inputs[i]!, weights], { group: f.groups, kernel_shape: [p, p], pads: [r, r, r, r] });
    return s.height === ref.height && s.width === ref.width ? y : resizeTo(g, y, inputs[0]!, shape.upsample);
  });
  // Stages whose values follow each other are concatenated; where two share a value (a bin across the stages'
  // boundary), each is padded to every value and the stages summed.
  const tiled = filters.every((f, i) => f.first === (i === 0 ? 0 : filters[i - 1]!.first + filters[i - 1]!.count)) && filters.at(-1)!.first + filters.at(-1)!.count === embedDim;
  const whole = tiled
    ? parts.length === 1 ? parts[0]! : g.node('Concat', parts, { axis: 1 })
    : g.node('Sum', parts.map((y, i) => g.node('Pad', [y, g.constInt64([0, filters[i]!.first, 0, 0, 0, embedDim - filters[i]!.first - filters[i]!.count, 0, 0])], { mode: 'constant' })));
  const flat = g.node('Reshape', [whole, g.constInt64([0, embedDim, ref.height * ref.width])]);
  g.node('Transpose', [flat], { perm: [0, 2, 1] }, 'embedding');
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
 * stage maps, one tensor per stage of `shape.stages`; `runBytes`: the most patch features one run makes (tests
 * make it small to cross runs within a batch).
 */
export async function embedPatches(shape: PatchEmbeddingShape, stages: readonly FloatTensor[], runBytes = EMBEDDING_RUN_BYTES): Promise<{ data: Float32Array; batch: number; positions: number }> {
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
  // The session keeps its memory between runs (fresh intermediates cost their page faults in every batch), so each
  // run is kept to a bounded number of images.
  const session = await cachedSession(key, () => buildPatchEmbeddingGraph(shape), { arena: true });
  const positions = shape.stages[0]!.height * shape.stages[0]!.width;
  const perImage = positions * shape.embedDim;
  const run = Math.max(1, Math.floor(runBytes / (4 * perImage)));
  const runImages = (b0: number, n: number) =>
    runFloat(session, Object.fromEntries(stages.map((t, i) => {
      const size = t.data.length / batch;
      return [`stage${i}`, { data: t.data.subarray(b0 * size, (b0 + n) * size), dims: [n, ...t.dims.slice(1)] }];
    })), ['embedding']);
  if (batch <= run) return { data: (await runImages(0, batch)).embedding!.data, batch, positions };
  const data = new Float32Array(batch * perImage);
  for (let b0 = 0; b0 < batch; b0 += run) {
    const n = Math.min(run, batch - b0);
    data.set((await runImages(b0, n)).embedding!.data, b0 * perImage);
  }
  return { data, batch, positions };
}

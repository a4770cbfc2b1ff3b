/**
 * The feature grid of N-pad and PaDiM: a backbone's stages 1–3 with stages 2 and 3 brought to stage 1's grid
 * (stride 4) and concatenated along channels, so each grid position carries one 1792-d vector (ResNet-50 family).
 *
 * For backbones built in code, backbone, resize, concatenation and channel selection are one ONNX graph, so stage
 * outputs never travel through JS memory and only the selected channels are copied out (a user's ONNX file runs as
 * its own session, followed by a small graph for the rest). Channels are selected before resizing, so unselected
 * channels are never upsampled. Graphs are cached per (backbone, options, input size, channel selection) with
 * `cachedSession`; each holds its own copy of the weights.
 *
 * Methods that combine the stages their own way (PatchCore: stages 2 and 3, each aggregated on its own grid) read
 * the raw stage outputs with `extractStages` instead.
 *
 * Cost notes (2-core machine): the full 1792 × 56 × 56 grid is 22 MB per image, and moving it (resize, concat,
 * copy out) costs about as much CPU as the convolutions, so select channels when only some are needed.
 * onnxruntime's first run of a new input shape is several times slower than later ones: keep the batch size fixed
 * where you can (pad the last batch, or use one size).
 */
import { createHash } from 'node:crypto';
import type * as ort from 'onnxruntime-node';
import { type AttributeValue, GraphBuilder } from '../onnx/graph.js';
import { type FloatTensor, cachedSession, createSession, releaseCachedSession, runFloat } from '../onnx/session.js';
import { totalChannels, type Backbone, type StageNames } from './types.js';
import { STAGES_INPUT, STAGES_OUTPUTS, stagesModel } from './stagesModel.js';
import { NpadConfigError } from '../errors.js';
import type { InputShape } from '../image/preprocess.js';

/** How the feature grid is formed. */
export interface FeatureGridOptions {
  /**
   * How stages 2 and 3 are brought to stage 1's grid: 'nearest' (PaDiM: each coarse cell repeated, PyTorch
   * `interpolate(mode='nearest')`) or 'bilinear' (PatchCore: `interpolate(mode='bilinear', align_corners=False)`).
   */
  upsample: 'nearest' | 'bilinear';
}

/** Float32 counts stay exact up to 2^24; larger runs are split into batches. */
const MAX_EXACT_COUNT = 2 ** 24;
/** Graph input name of the feature graphs. */
const IMAGE = 'image';

/**
 * What a feature graph outputs: the features (all channels, or the sorted `selection` of them), with the raw
 * outputs of some stages beside them when `rawStages` names them (1-based; outputs `stage<i>`), or the per-channel
 * count of positive features.
 */
export type GraphOutput = { kind: 'features'; selection?: Int32Array; rawStages?: readonly number[] } | { kind: 'countPositive' };

/** Turns batches of images into feature grids with one backbone, one upsampling and one input size. */
export class FeatureExtractor {
  /** Channels of the full feature grid (sum of the stage channels): 1792 for the ResNet-50 family. */
  readonly channels: number;

  private constructor(
    private readonly backbone: Backbone,
    private readonly opts: FeatureGridOptions,
    /** Width and height of the input images, in pixels. */
    readonly input: InputShape,
    /** Rows of the feature grid (stage 1's): 56 for 224. */
    readonly gridHeight: number,
    /** Columns of the feature grid: 56 for 224. */
    readonly gridWidth: number,
  ) {
    this.channels = totalChannels(backbone);
  }

  /**
   * Prepares feature extraction for `backbone`: the grid size as the backbone declares it (Backbone.stageOneSide),
   * else learnt from one run of the full-feature graph on a blank image.
   *
   * @param backbone the loaded backbone
   * @param opts how the grid is formed
   * @param input width and height of the ImageNet-normalised input images, in pixels
   */
  static async create(backbone: Backbone, opts: FeatureGridOptions, input: InputShape): Promise<FeatureExtractor> {
    for (const side of [input.width, input.height]) {
      if (!Number.isInteger(side) || side < 16) {
        throw new NpadConfigError(`input size ${input.width}×${input.height} is too small: the backbone needs integers ≥ 16`);
      }
    }
    if (opts.upsample !== 'nearest' && opts.upsample !== 'bilinear') {
      throw new RangeError(`upsample ${String(opts.upsample)}: expected 'nearest' or 'bilinear'`);
    }
    // A copy, so that later changes to the caller's object cannot disagree with the cached graphs.
    const options: FeatureGridOptions = { upsample: opts.upsample };
    const shape: InputShape = { width: input.width, height: input.height };
    if (backbone.stageOneSide) return new FeatureExtractor(backbone, options, shape, backbone.stageOneSide(shape.height), backbone.stageOneSide(shape.width));
    const probe = new FeatureExtractor(backbone, options, shape, 0, 0);
    const { dims } = await probe.runGraph({ kind: 'features' }, new Float32Array(3 * shape.width * shape.height), 1);
    if (dims[1] !== probe.channels) {
      throw new Error(`${backbone.id}: the stages have ${dims[1]} channels, the backbone declares ${probe.channels}`);
    }
    return new FeatureExtractor(backbone, options, shape, dims[2] as number, dims[3] as number);
  }

  /**
   * Features [B, d, H, W] (C order) of a batch of images [B, 3, height, width].
   *
   * @param images ImageNet-normalised RGB, `batch × 3 × height × width` values
   * @param batch number of images
   * @param channels optional sorted, distinct indices into the concatenated stages: only these d channels are
   *   computed past the backbone and copied out (selected inside the graph); default all channels
   */
  async extract(images: Float32Array, batch: number, channels?: Int32Array): Promise<Float32Array> {
    this.checkImages(images, batch);
    if (channels) this.checkSelection(channels);
    return (await this.runGraph({ kind: 'features', selection: channels }, images, batch)).data;
  }

  /**
   * {@link extract} and the raw outputs of some stages ({@link extractStages}) from one backbone pass: for a method
   * that reads both (N-pad with its position-free bank), the backbone runs once instead of twice.
   *
   * @param images ImageNet-normalised RGB, `batch × 3 × height × width` values
   * @param batch number of images
   * @param channels sorted, distinct indices into the concatenated stages (as for {@link extract})
   * @param rawStages the stages (1-based) whose raw outputs come back, in this order
   */
  async extractWithStages(images: Float32Array, batch: number, channels: Int32Array, rawStages: readonly number[]): Promise<{ features: Float32Array; stages: FloatTensor[] }> {
    this.checkImages(images, batch);
    this.checkSelection(channels);
    if (rawStages.some((i) => !Number.isInteger(i) || i < 1 || i > 3)) throw new RangeError(`raw stages ${rawStages.join(', ')}: expected 1, 2 or 3`);
    const names = rawStages.map((i) => STAGES_OUTPUTS[i - 1]!);
    const result = await this.runGraphOutputs({ kind: 'features', selection: channels, rawStages }, images, batch, ['out', ...names]);
    return { features: result.out!.data, stages: names.map((n) => result[n]!) };
  }

  /**
   * The raw outputs of stages 1–3 (strides 4, 8, 16) of a batch, each [B, C_i, h_i, w_i] on its own grid, for
   * methods that combine the stages their own way: PatchCore aggregates each stage over its own neighbourhoods
   * before bringing stage 3 to stage 2's grid, which the concatenated grid of {@link extract} cannot express.
   * The grid options (upsampling) play no part here.
   *
   * @param images ImageNet-normalised RGB, `batch × 3 × height × width` values
   * @param batch number of images
   */
  async extractStages(images: Float32Array, batch: number): Promise<[FloatTensor, FloatTensor, FloatTensor]> {
    this.checkImages(images, batch);
    const { width, height } = this.input;
    const { emitStages } = this.backbone;
    let stages: Record<string, FloatTensor>;
    if (emitStages) {
      // The backbone's own stages model, cached like the grid graphs (released by releaseSessions).
      const session = await cachedSession(this.cacheKey({ kind: 'stages' }), () => stagesModel(emitStages));
      stages = await runFloat(session, { [STAGES_INPUT]: { data: images, dims: [batch, 3, height, width] } }, STAGES_OUTPUTS);
    } else {
      stages = await this.runStagesModel(images, batch);
    }
    return STAGES_OUTPUTS.map((name) => stages[name]!) as [FloatTensor, FloatTensor, FloatTensor];
  }

  /**
   * Per-channel count of features > 0 over all images of the batch and all grid positions (length `channels`),
   * computed in the graph so that no features are copied out. Summing counts over batches gives the share of
   * positive activations per channel.
   */
  async countPositive(images: Float32Array, batch: number): Promise<Float64Array> {
    this.checkImages(images, batch);
    const counts = new Float64Array(this.channels);
    const perImage = 3 * this.input.width * this.input.height;
    // Split so that no float32 sum inside the graph exceeds 2^24 (where it would stop being exact).
    const step = Math.max(1, Math.floor(MAX_EXACT_COUNT / (this.gridHeight * this.gridWidth)));
    for (let start = 0; start < batch; start += step) {
      const n = Math.min(step, batch - start);
      const part = images.subarray(start * perImage, (start + n) * perImage);
      const { data } = await this.runGraph({ kind: 'countPositive' }, part, n);
      for (let c = 0; c < this.channels; c++) counts[c]! += data[c] as number;
    }
    return counts;
  }

  /** Frees the channel count's graph and its memory arena (call once all batches are counted). */
  async releaseCountGraph(): Promise<void> {
    await releaseCachedSession(this.cacheKey({ kind: 'countPositive' }));
  }

  private checkImages(images: Float32Array, batch: number): void {
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch ${batch}: expected a positive integer`);
    const expected = batch * 3 * this.input.width * this.input.height;
    if (images.length !== expected) {
      throw new RangeError(`images: ${images.length} values, expected ${expected} for [${batch}, 3, ${this.input.height}, ${this.input.width}]`);
    }
  }

  private checkSelection(channels: Int32Array): void {
    if (channels.length === 0) throw new RangeError('channel selection is empty');
    for (let i = 0; i < channels.length; i++) {
      const c = channels[i] as number;
      if (c < 0 || c >= this.channels) throw new RangeError(`channel ${c} out of range [0, ${this.channels})`);
      if (i > 0 && c <= (channels[i - 1] as number)) {
        throw new RangeError('channel selection must be sorted and distinct');
      }
    }
  }

  /** Runs the graph for `output` on a batch: in one session, or after the stages model for an ONNX-file backbone. */
  private async runGraph(output: GraphOutput, images: Float32Array, batch: number): Promise<FloatTensor> {
    return onlyOutput(await this.runGraphOutputs(output, images, batch, ['out']));
  }

  /** {@link runGraph} with the outputs named: `out`, and the `stage<i>` of `output.rawStages`. */
  private async runGraphOutputs(output: GraphOutput, images: Float32Array, batch: number, outputs: readonly string[]): Promise<Record<string, FloatTensor>> {
    const { stageChannels, emitStages } = this.backbone;
    const { width, height } = this.input;
    const build = (stages: (g: GraphBuilder) => StageNames) => () =>
      buildFeatureGraph(stageChannels, this.opts, output, stages);
    if (emitStages) {
      const session = await cachedSession(
        this.cacheKey(output),
        build((g) => emitStages(g, g.input(IMAGE, 'float', ['batch', 3, height, width]))),
        // The arena saves ~10 % of the backbone's time (fresh activation blocks fault in page by page) and holds
        // one batch's activations (~0.4 GB at 16 images of 224²) while the session lives. The channel count's
        // full-grid intermediates are larger still, and faulting them in afresh tripled its time (24 against 7 s
        // on bottle's 209 images): it keeps an arena too, freed by releaseCountGraph() once counting is done.
        { arena: true },
      );
      return this.checkedGrid(output, await runFloat(session, { [IMAGE]: { data: images, dims: [batch, 3, height, width] } }, [...outputs]));
    }
    // A backbone given as a model returns its stages itself: the graph after it needs no raw outputs (their
    // names are its inputs), and the ones asked for are handed back from the stages.
    const stages = await this.runStagesModel(images, batch);
    const rest: GraphOutput = output.kind === 'features' ? { kind: 'features', selection: output.selection } : output;
    const session = await cachedSession(
      this.cacheKey(rest),
      () => buildFeatureGraph(stageChannels, this.opts, rest, (g) => stageInputs(g, stageChannels)),
      { arena: output.kind === 'countPositive' },
    );
    const result = await runFloat(session, stages, ['out']);
    for (const name of outputs) if (name !== 'out') result[name] = stages[name]!;
    return result;
  }

  /**
   * The result, once its features are seen to have the grid this extractor declared (a backbone's stageOneSide
   * that disagreed with its graph would be a bug in npad, not a user's mistake).
   */
  private checkedGrid(output: GraphOutput, result: Record<string, FloatTensor>): Record<string, FloatTensor> {
    const dims = result.out?.dims;
    if (output.kind === 'features' && this.gridHeight > 0 && dims && (dims[2] !== this.gridHeight || dims[3] !== this.gridWidth)) {
      throw new Error(`${this.backbone.id}: the feature grid is ${String(dims[2])}×${String(dims[3])}, not the ${this.gridHeight}×${this.gridWidth} declared for ${this.input.width}×${this.input.height} inputs`);
    }
    return result;
  }

  /** Runs a backbone given as a model (file); returns its stage outputs under the names stage1..3. */
  private async runStagesModel(images: Float32Array, batch: number): Promise<Record<string, FloatTensor>> {
    const { width, height } = this.input;
    const session = await stagesSession(this.backbone);
    const names = this.backbone.stageOutputs ?? STAGES_OUTPUTS;
    const inputName = this.backbone.inputName ?? STAGES_INPUT;
    const result = await runFloat(session, { [inputName]: { data: images, dims: [batch, 3, height, width] } }, names);
    return Object.fromEntries(names.map((name, i) => [STAGES_OUTPUTS[i]!, result[name]!]));
  }

  private cacheKey(output: GraphOutput | { kind: 'stages' }): string {
    const b = this.backbone;
    const raw = output.kind === 'features' && output.rawStages?.length ? `+stages${output.rawStages.join('')}` : '';
    const what = output.kind === 'features' ? `features:${selectionKey(output.selection)}${raw}` : output.kind;
    return `npad-features|${b.id}|${b.weightsSha256}|${this.opts.upsample}|${this.input.width}x${this.input.height}|${what}`;
  }
}

/** Graph inputs `stage1..3` [batch, C, h, w] for stage outputs computed by a separate model. */
function stageInputs(g: GraphBuilder, stageChannels: readonly number[]): StageNames {
  const input = (name: string, i: number): string =>
    g.input(name, 'float', ['batch', stageChannels[i]!, `h${i}`, `w${i}`]);
  return STAGES_OUTPUTS.map(input) as StageNames;
}

function onlyOutput(result: Record<string, FloatTensor>): FloatTensor {
  return result.out!;
}

function selectionKey(selection: Int32Array | undefined): string {
  if (!selection) return 'all';
  const bytes = new Uint8Array(selection.buffer, selection.byteOffset, selection.byteLength);
  return `${selection.length}:${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`;
}

/** Sessions of backbones that are model files (not built in code), by backbone fingerprint. */
const stagesSessions = new Map<string, Promise<ort.InferenceSession>>();

function stagesSession(backbone: Backbone): Promise<ort.InferenceSession> {
  const key = `${backbone.id}|${backbone.weightsSha256}`;
  let s = stagesSessions.get(key);
  if (!s) {
    s = createSession(backbone.buildStages());
    stagesSessions.set(key, s);
    s.catch(() => stagesSessions.delete(key));
  }
  return s;
}

/**
 * Builds the graph: stages (from `stages`) → per-stage channel selection → resize to stage 1's grid → concat,
 * then either the features (output `out` [B, d, H, W]) or the per-channel positive counts (`out` [C]).
 */
export function buildFeatureGraph(
  stageChannels: readonly [number, number, number],
  opts: FeatureGridOptions,
  output: GraphOutput,
  stages: (g: GraphBuilder) => StageNames,
): Uint8Array {
  const g = new GraphBuilder('npad-features');
  const values = stages(g);
  const gridOf = values[0];
  if (output.kind === 'countPositive') {
    // Each stage counted on its own after its resize, and only the counts concatenated: the concatenated
    // full grid (360 MB for 16 images of 224²) is never built.
    const counts = values.map((v, i) => {
      const x = i === 0 ? v : resizeTo(g, v, gridOf, opts.upsample);
      const positive = g.node('Cast', [g.node('Greater', [x, g.constFloat([0], [])])], { to: 1 });
      return g.node('ReduceSum', [positive, g.constInt64([0, 2, 3])], { keepdims: 0 });
    });
    g.node('Concat', counts, { axis: 0 }, 'out');
    g.output('out', 'float', [stageChannels.reduce((a, b) => a + b, 0)]);
    return g.build();
  }
  const parts = splitSelection(stageChannels, output.selection);
  const pieces: string[] = [];
  values.forEach((v, i) => {
    const picked = parts[i];
    if (picked && picked.length === 0) return; // nothing selected from this stage: skip its resize
    // Selecting before resizing means unselected channels are never upsampled.
    const x = picked ? g.node('Gather', [v, g.constInt64(picked)], { axis: 1 }) : v;
    pieces.push(i === 0 ? x : resizeTo(g, x, gridOf, opts.upsample));
  });
  const features = pieces.length === 1 ? (pieces[0] as string) : g.node('Concat', pieces, { axis: 1 });
  g.node('Identity', [features], {}, 'out');
  const channels = output.selection ? output.selection.length : stageChannels.reduce((a, b) => a + b, 0);
  g.output('out', 'float', ['batch', channels, 'height', 'width']);
  for (const i of output.rawStages ?? []) {
    const name = STAGES_OUTPUTS[i - 1]!;
    g.node('Identity', [values[i - 1]!], {}, name);
    g.output(name, 'float', ['batch', stageChannels[i - 1]!, `h${i}`, `w${i}`]);
  }
  return g.build();
}

/** Splits sorted indices into the concatenation into per-stage local indices (`undefined`: the whole stage). */
function splitSelection(
  stageChannels: readonly number[],
  selection: Int32Array | undefined,
): (number[] | undefined)[] {
  if (!selection) return stageChannels.map(() => undefined);
  let offset = 0;
  return stageChannels.map((c) => {
    const local: number[] = [];
    for (const idx of selection) if (idx >= offset && idx < offset + c) local.push(idx - offset);
    offset += c;
    return local.length === c ? undefined : local;
  });
}

/** Resizes x [B,C,h,w] to the spatial size of `like` [B,C',H,W] (sizes taken at run time, so any grid works). */
export function resizeTo(g: GraphBuilder, x: string, like: string, mode: FeatureGridOptions['upsample']): string {
  const batchAndChannels = g.node('Shape', [x], { start: 0, end: 2 });
  const grid = g.node('Shape', [like], { start: 2, end: 4 });
  const sizes = g.node('Concat', [batchAndChannels, grid], { axis: 0 });
  const attrs: Record<string, AttributeValue> =
    mode === 'nearest'
      ? // PyTorch's legacy 'nearest': source index floor(dst × in/out)
        { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
      : // align_corners=False: pixel centres aligned, as PyTorch's bilinear
        { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' };
  return g.node('Resize', [x, '', '', sizes], attrs);
}

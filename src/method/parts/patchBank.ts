/**
 * A position-free memory bank of PatchCore's patch features (Roth et al., CVPR 2022): backbone stages 2 and 3,
 * each aggregated over p×p neighbourhoods and pooled, stage 3 brought to stage 2's grid (patchcoreEmbedding.ts),
 * subsampled by the approximate greedy coreset (engine/coreset.ts). A patch of a new image scores its squared
 * Euclidean distance to the nearest member, wherever in the nominal images that member came from.
 *
 * PatchCore is this bank alone; N-pad's default fuses the bank's map with its per-position Gaussians' map
 * (mapFusion.ts), so that parts which are not aligned are judged by what they look like, not only by where.
 */
import type { FeatureExtractor } from '../../backbone/featureExtractor.js';
import { approximateGreedyCoreset, type CoresetOptions } from '../../engine/coreset.js';
import { buildIndex, type IndexKind, type NearestIndex } from '../../engine/nearestIndex.js';
import { float16BitsToFloat32 } from '../../tensorfile/safetensors.js';
import type { FloatTensor } from '../../onnx/session.js';
import { gaussianSmooth, upsampleBilinear } from './anomalyMap.js';
import { embedPatches, type PatchEmbeddingShape } from './patchEmbedding.js';

/** Which backbone stages feed the patch features (1-based): the authors' layer2 and layer3. */
export const PATCH_STAGES: readonly [2, 3] = [2, 3];

/**
 * The PatchCore authors' patch features (their example script): `patchsize` 3, `pretrain_embed_dimension` and
 * `target_embed_dimension` 1024, stage 3 resized bilinearly.
 */
export const AUTHORS_PATCH_FEATURES = Object.freeze({ patchSize: 3, stageDim: 1024, embedDim: 1024, upsample: 'bilinear' } as const);
/** The authors' approximate greedy coreset: a 128-dimensional random projection and 10 starting points. */
export const AUTHORS_CORESET = Object.freeze({ projectionDim: 128, startPoints: 10 } as const);

/** How the patch features are formed and subsampled. */
export interface PatchBankOptions {
  /** Side of the neighbourhood each patch feature aggregates (authors' `patchsize` 3). */
  patchSize: number;
  /** Values each stage's patch vector is pooled to (authors' `pretrain_embed_dimension` 1024). */
  stageDim: number;
  /** Values of the final patch feature (authors' `target_embed_dimension` 1024). */
  embedDim: number;
  /** How later stages are brought to stage 2's grid (authors: bilinear). */
  upsample: 'nearest' | 'bilinear';
  /** The greedy coreset that keeps a fraction of the nominal patch features. */
  coreset: CoresetOptions;
  /** How the bank is searched (engine/nearestIndex.ts): both kinds are exact. */
  search: IndexKind;
}

/** A fitted bank. */
export interface PatchBank {
  /** The patch feature's shape (stage map sizes, pooling), fixed by the backbone and the input size. */
  shape: PatchEmbeddingShape;
  /**
   * The members [bankSize, embedDim], in coreset selection order: float32, or binary16 bit patterns as an f16 or i8
   * model file holds them, in a model loaded in form 'stored' (searched so by its index;
   * {@link floatMembers} widens them).
   */
  bank: Float32Array | Uint16Array;
  /** Members of the bank (rows of `bank`). */
  bankSize: number;
  /** Nominal patch features before subsampling. */
  totalPatches: number;
  /** The members' nearest-neighbour index: every search of the bank goes through it. */
  index: NearestIndex;
}

/** The patch features' shape for the given stage outputs. */
function shapeOf(stages: readonly FloatTensor[], o: PatchBankOptions): PatchEmbeddingShape {
  return {
    stages: stages.map((t) => ({ channels: t.dims[1]!, height: t.dims[2]!, width: t.dims[3]! })),
    patchSize: o.patchSize,
    stageDim: o.stageDim,
    embedDim: o.embedDim,
    upsample: o.upsample,
  };
}

/** The outputs of PATCH_STAGES for a batch of network inputs [B, 3, S, S] (one backbone pass). */
export async function patchStages(extractor: FeatureExtractor, inputs: Float32Array, batch: number): Promise<FloatTensor[]> {
  const all = await extractor.extractStages(inputs, batch);
  return PATCH_STAGES.map((s) => all[s - 1]!);
}

/**
 * Patch features [B, P, embedDim] from the outputs of PATCH_STAGES, and the shape they were computed with
 * (`known`, or learnt from these stage maps).
 */
async function patchFeatures(stages: readonly FloatTensor[], o: PatchBankOptions, known: PatchEmbeddingShape | null): Promise<{ data: Float32Array; shape: PatchEmbeddingShape }> {
  const shape = known ?? shapeOf(stages, o);
  return { data: (await embedPatches(shape, stages)).data, shape };
}

/** Collects the nominal patch features batch by batch, then draws the coreset from all of them. */
export class PatchBankBuilder {
  private readonly blocks: Float32Array[] = [];
  private shape: PatchEmbeddingShape | null = null;

  constructor(private readonly options: PatchBankOptions) {}

  /** Adds the patch features of a batch, from its outputs of PATCH_STAGES. */
  async add(stages: readonly FloatTensor[]): Promise<void> {
    const f = await patchFeatures(stages, this.options, this.shape);
    this.shape = f.shape;
    this.blocks.push(f.data);
  }

  /**
   * The patch features added so far, in blocks of a batch each, and their shape (null before any batch): a shard's
   * share of a sharded fit (npad/fit.ts fitNpadShard). The builder gives them up.
   */
  takeBlocks(): { blocks: Float32Array[]; shape: PatchEmbeddingShape | null } {
    return { blocks: this.blocks.splice(0), shape: this.shape };
  }

  /**
   * Adds blocks of patch features computed elsewhere (another shard's {@link takeBlocks}), after those already here.
   * @throws RangeError when their shape differs from the features already here
   */
  addBlocks(blocks: readonly Float32Array[], shape: PatchEmbeddingShape): void {
    if (this.shape && JSON.stringify(this.shape) !== JSON.stringify(shape)) throw new RangeError('patch features of another shape');
    this.shape = shape;
    this.blocks.push(...blocks);
  }

  /** Subsamples everything added by the coreset; `progress` receives (members chosen, members wanted). */
  async build(progress?: (done: number, total: number) => void): Promise<PatchBank> {
    if (!this.shape) throw new Error('PatchBankBuilder.build before any batch was added');
    const E = this.options.embedDim;
    const blocks = this.blocks.splice(0);
    const total = blocks.reduce((s, b) => s + b.length / E, 0);
    const chosen = await approximateGreedyCoreset(blocks, E, this.options.coreset, progress);
    // Gather the members from the blocks (a batch each: their sizes differ at the ends of shards).
    const firstRow = new Int32Array(blocks.length + 1);
    blocks.forEach((b, i) => (firstRow[i + 1] = firstRow[i]! + b.length / E));
    const bank = new Float32Array(chosen.length * E);
    let block = 0;
    const order = Int32Array.from(chosen.keys()).sort((a, b) => chosen[a]! - chosen[b]!);
    for (const j of order) {
      const row = chosen[j]!;
      while (row >= firstRow[block + 1]!) block++;
      const r = row - firstRow[block]!;
      bank.set(blocks[block]!.subarray(r * E, (r + 1) * E), j * E);
    }
    const index = await buildIndex(this.options.search, bank, chosen.length, E);
    return { shape: this.shape, bank, bankSize: chosen.length, totalPatches: total, index };
  }
}

/** Each bank's members in float32, where they were loaded in binary16, made when first asked for. */
const widened = new WeakMap<PatchBank, Float32Array>();

/** The bank's members in float32 (PatchCore's reweighting reads them one by one). */
export function floatMembers(bank: PatchBank): Float32Array {
  if (bank.bank instanceof Float32Array) return bank.bank;
  let members = widened.get(bank);
  if (!members) {
    members = float16BitsToFloat32(bank.bank);
    widened.set(bank, members);
  }
  return members;
}

/** Nearest members of every patch of a batch. */
export interface BankDistances {
  /** The patch features [B·P, embedDim] (P = the patch grid's positions). */
  features: Float32Array;
  /** Each patch's nearest member. */
  indices: Int32Array;
  /** Each patch's squared distance to it, [B, P]. */
  distances: Float32Array;
}

/** Computes the patch features of a batch (from its outputs of PATCH_STAGES, in the bank's shape) and their nearest members. */
export async function bankDistances(bank: PatchBank, stages: readonly FloatTensor[], batch: number): Promise<BankDistances> {
  const data = (await embedPatches(bank.shape, stages)).data;
  const { height, width } = bank.shape.stages[0]!;
  const nn = await bank.index.search(data, batch * height * width);
  return { features: data, indices: nn.indices, distances: nn.distances };
}

/** An image's map from its patch scores [P]: upsampled bilinearly to the input (height × width) and smoothed (σ in pixels). */
export function bankMap(bank: PatchBank, patchScores: Float32Array, inputHeight: number, inputWidth: number, sigma: number): Float32Array {
  const { height, width } = bank.shape.stages[0]!;
  return gaussianSmooth(upsampleBilinear(patchScores, height, width, inputHeight, inputWidth), inputHeight, inputWidth, sigma);
}

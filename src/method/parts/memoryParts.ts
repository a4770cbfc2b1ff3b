/**
 * The large buffers of a fit, as the memory guard (detector/memoryEstimate.ts) counts them: each method's
 * memoryPhases adds up these parts phase by phase. Budgets are imported from the code that allocates them; the
 * constants for what is not counted buffer by buffer (backbone activations, transient chunk copies) are calibrated
 * against measured peak RSS (docs/robustness.md lists the comparison).
 */
import { CORESET_CANDIDATES } from '../../engine/coreset.js';
import { packedBlockBounds, packedMatrixSize } from '../../engine/packedPrecision.js';
import { GATHER_BUDGET_BYTES, packedSize } from '../../engine/positionStatistics.js';
import { PRECISION_CHUNK_BYTES } from './gaussians.js';
import { NpadConfigError } from '../../errors.js';
import type { FeatureGeometry, MemoryPart } from '../types.js';
import type { InputShape } from '../../image/preprocess.js';

const MiB = 2 ** 20;

/**
 * Backbone activations, decoded images and feature copies per image of a batch at a 224-pixel input, scaled by
 * the input area; measured as (peak RSS − baseline) / 16 with batches of 16 images at d = 12 (where the
 * statistics are negligible). N-pad's channel-count pass builds the full 1792 × 56 × 56 grid (37 MiB per image
 * measured); PaDiM and N-pad with random channels extract only the d selected channels (2 MiB); PatchCore copies
 * the raw stages 2–3 out and embeds them (45 MiB with its bank's share removed).
 */
export const ACTIVATIONS_PER_IMAGE_224 = { fullGrid: 40 * MiB, selected: 4 * MiB, patchcore: 48 * MiB } as const;

/**
 * Copies of a precision chunk alive at once, as calibrated on the code that built a chunk's covariances and
 * onnxruntime's inverse output whole: two copies fit the measured d = 550 and MTD-without-crop peaks within 1 %
 * (docs/robustness.md). Today's code inverts 8 MiB runs, so this errs high by up to one chunk (256 MiB). Fits
 * measured since (bench/run.ts, bottle): N-pad d = 100 / 200 / 550 at 1.69 / 2.52 / 11.80 GiB against estimates
 * of 1.64 / 2.62 / 11.93; PaDiM d = 100 at 1.28 GiB against 1.01 (its gather buffer holds all 209 images at that
 * d, and the backbone's arena a batch of activations).
 */
const PRECISION_CHUNK_COPIES = 2;

/** A batch of `batch` decoded images and their backbone activations, `perImage224` each at a 224-pixel input. */
export function batchPart(batch: number, perImage224: number, input: InputShape): MemoryPart {
  return { what: `a batch of ${batch} images and backbone activations`, bytes: (batch * perImage224 * input.width * input.height) / 224 ** 2 };
}

/** Most elements one JavaScript typed array may hold (V8: 2^32 − 1). */
export const MAX_TYPED_ARRAY_ELEMENTS = 2 ** 32 - 1;

/**
 * Refuses a channel count d that the backbone does not have, or whose per-position statistics (one array of
 * P × d(d+1)/2 float64 sums, engine/positionStatistics.ts) would not fit one typed array at this grid.
 * @throws NpadConfigError naming option dim and the largest d that fits
 */
export function checkStatisticsDim(dim: number, geometry: FeatureGeometry): void {
  if (dim > geometry.channels) throw new NpadConfigError(`option dim = ${dim} exceeds the backbone's ${geometry.channels} channels`);
  const positions = geometry.gridHeight * geometry.gridWidth;
  // The scatter sums, PositionStatistics' largest array.
  const elements = positions * packedSize(dim);
  if (elements > MAX_TYPED_ARRAY_ELEMENTS) {
    const largest = Math.floor((Math.sqrt(1 + (8 * MAX_TYPED_ARRAY_ELEMENTS) / positions) - 1) / 2);
    throw new NpadConfigError(
      `option dim = ${dim} needs per-position statistics of ${elements} values at this ${geometry.gridHeight}×${geometry.gridWidth} grid, more than one ` +
        `array may hold (2^32); at most dim = ${largest} here`,
    );
  }
}

/** Bytes of one set of streaming statistics: reference (f32), sums (f64) and packed scatter (f64) per position. */
export function statisticsBytes(positions: number, d: number): number {
  return positions * (4 * d + 8 * d + 8 * ((d * (d + 1)) / 2));
}

/** Bytes of one Gaussian grid: means and the precision matrices, float32, packed by symmetry from d = 384 on. */
export function gridBytes(positions: number, d: number): number {
  return positions * (4 * d + 4 * packedMatrixSize(packedBlockBounds(d), d));
}

/** Transient copies of precision chunks while a grid is inverted (the chunk budget: PRECISION_CHUNK_BYTES). */
export function chunkBytes(positions: number, d: number): number {
  return PRECISION_CHUNK_COPIES * Math.min(PRECISION_CHUNK_BYTES, positions * 4 * d * d);
}

/**
 * Feature copies of a batch on the grid while statistics stream: `copies` [batch, d, P] float32 arrays, plus what
 * the streaming Gram gathers for one call (GATHER_BUDGET_BYTES).
 */
export function streamedFeatureBytes(copies: number, batch: number, positions: number, d: number): number {
  return copies * batch * d * positions * 4 + Math.min(GATHER_BUDGET_BYTES, positions * 4 * (d * d + batch * d));
}

/**
 * A patch bank's memory (PatchCore, N-pad's position-free bank): every nominal patch feature until the coreset is
 * drawn (`all`), what the coreset phase holds (`coreset`, `all` and `bank` included), and the bank it leaves (`bank`).
 */
export function patchBankParts(
  images: number,
  geometry: FeatureGeometry,
  o: { embedDim: number; projectionDim: number; startPoints: number; ratio: number },
): { all: MemoryPart; coreset: MemoryPart[]; bank: MemoryPart } {
  const n = images * geometry.patchHeight * geometry.patchWidth;
  const E = o.embedDim;
  const all: MemoryPart = { what: `all ${n} patch features (${images} images × ${geometry.patchHeight}×${geometry.patchWidth} × ${E})`, bytes: n * E * 4 };
  const projected = o.projectionDim > 0 ? o.projectionDim : E;
  const bank: MemoryPart = { what: `the memory bank (${Math.round(100 * o.ratio * 100) / 100} %)`, bytes: Math.floor(n * o.ratio) * E * 4 };
  return {
    all,
    coreset: [
      all,
      { what: `their projection to ${projected} dimensions`, bytes: o.projectionDim > 0 ? n * o.projectionDim * 4 : 0 },
      // The candidate distance rows of the greedy coreset (CORESET_CANDIDATES), its start points' and three more.
      { what: 'coreset distances', bytes: (CORESET_CANDIDATES + o.startPoints + 3) * n * 4 },
      bank,
    ],
    bank,
  };
}

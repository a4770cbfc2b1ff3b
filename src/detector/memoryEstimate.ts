/**
 * The memory guard: before a fit starts, estimate the peak memory its configuration needs and refuse one that
 * cannot fit the machine, suggesting one that can. A fit that runs out of memory is killed by the OS after
 * minutes of work with no message; a refusal up front names the numbers and the way out.
 *
 * The estimate follows the fitting code's large buffers (src/method, src/engine) phase by phase and takes the
 * largest phase; the constants for what is not counted buffer by buffer (the process, onnxruntime and the
 * backbone; backbone activations; transient chunk copies) are calibrated against measured peak RSS
 * (docs/robustness.md lists the comparison):
 *
 * - N-pad: per module on, streaming statistics P × (d + d(d+1)/2) float64 and a Gaussian grid P × d² float32
 *   (0.625 · d² from d = 384 on, packed by symmetry),
 *   with P the feature grid's positions (the loaded backbone's stage-1 grid: (input / 4)² for a ResNet); module A's statistics are released before module B's inverses; the
 *   k-means sample (≤ kmeansSample × d float32); with the position-free bank (option bank 'patch-coreset') instead
 *   PatchCore's terms below for the images fitted on, while the statistics are held, and the bank afterwards.
 * - PaDiM: one set of statistics and one grid.
 * - PatchCore: every nominal patch feature (training images × the patch grid, stage 2's: (input / 8)² for a ResNet,
 *   × embedDim float32) until the coreset is drawn, plus its random projection, the candidate distance rows and
 *   the final bank.
 * - every method: the process baseline and one batch of decoded images and backbone activations.
 *
 * Available memory is the smaller of os.totalmem() and the cgroup limit (v2 memory.max or v1
 * memory.limit_in_bytes), minus a margin for the OS and other processes; NPAD_MEMORY_LIMIT (or an explicit
 * limit, e.g. the CLI's --memory-limit) replaces it.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { NpadInputError } from '../errors.js';
import { CORESET_CANDIDATES } from '../engine/coreset.js';
import { KERNEL_CHUNK_BYTES } from '../engine/kernels.js';
import { packedBlockBounds, packedMatrixSize } from '../engine/packedPrecision.js';
import { GATHER_BUDGET_BYTES } from '../engine/positionStatistics.js';
import { PRECISION_CHUNK_BYTES } from '../method/parts/gaussians.js';
import type { FeatureExtractor } from '../backbone/featureExtractor.js';
import { heldOutCount, npadPatchBankOptions, usesPatchBank } from '../method/npad/npad.js';
import type { DetectorConfig } from './config.js';
import { inputSize } from '../image/preprocess.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * The process before any fitting buffer: Node, sharp, onnxruntime, the backbone's weights and graph sessions.
 * Measured 541 MiB (peak RSS of a fit at d = 12 on 4 images, under tsx); rounded up.
 */
const BASELINE_BYTES = 550 * MiB;
/**
 * Backbone activations, decoded images and feature copies per image of a batch at a 224-pixel input, scaled by
 * the input area; measured as (peak RSS − baseline) / 16 with batches of 16 images at d = 12 (where the
 * statistics are negligible). N-pad's channel-count pass builds the full 1792 × 56 × 56 grid (37 MiB per image
 * measured); PaDiM and N-pad with random channels extract only the d selected channels (2 MiB); PatchCore copies
 * the raw stages 2–3 out and embeds them (45 MiB with its bank's share removed).
 */
const ACTIVATIONS_PER_IMAGE_224 = { fullGrid: 40 * MiB, selected: 4 * MiB, patchcore: 48 * MiB } as const;
/**
 * Copies of a precision chunk alive at once, as calibrated on the code that built a chunk's covariances and
 * onnxruntime's inverse output whole: two copies fit the measured d = 550 and MTD-without-crop peaks within 1 %
 * (docs/robustness.md). Today's code inverts 8 MiB runs, so this errs high by up to one chunk (256 MiB). Fits
 * measured since (bench/run.ts, bottle): N-pad d = 100 / 200 / 550 at 1.69 / 2.52 / 11.80 GiB against estimates
 * of 1.64 / 2.62 / 11.93; PaDiM d = 100 at 1.28 GiB against 1.01 (its gather buffer holds all 209 images at that
 * d, and the backbone's arena a batch of activations).
 */
const PRECISION_CHUNK_COPIES = 2;
/*
 * Budgets owned by the code that allocates them, imported: a precision chunk (PRECISION_CHUNK_BYTES), the images
 * the streaming Gram gathers for one call (GATHER_BUDGET_BYTES, per module; at the measured sizes the feature phase
 * stays below the Gaussian phases), one k-means assignment run's distance block (KERNEL_CHUNK_BYTES), the coreset's
 * candidate distance rows (CORESET_CANDIDATES).
 */
/** Channels of stages 1–3 of the ResNet-50 family, assumed when the backbone is not loaded yet. */
const RESNET50_CHANNELS = 1792;

/** One named share of an estimate. */
export interface MemoryPart {
  /** What the memory holds, e.g. "module A statistics". */
  what: string;
  /** Bytes. */
  bytes: number;
}

/** Estimated peak memory of a fit. */
export interface MemoryEstimate {
  /** Estimated peak resident memory, bytes. */
  bytes: number;
  /** The fitting phase at which the peak falls, e.g. "module B Gaussians". */
  phase: string;
  /** What the peak is made of (they sum to `bytes`). */
  parts: MemoryPart[];
}

/** The memory a fit may use, and where that figure comes from. */
export interface MemoryBudget {
  /** Bytes a fit may use. */
  bytes: number;
  /** Where the figure comes from, for messages, e.g. "NPAD_MEMORY_LIMIT=8G". */
  source: string;
}

/** What a caller of {@link checkFitMemory} may set. */
export interface MemoryGuardOptions {
  /**
   * Bytes the fit may use, replacing the machine's figure and NPAD_MEMORY_LIMIT (e.g. the CLI's --memory-limit).
   */
  memoryLimit?: number;
}

/** The sizes a fit's buffers follow: the backbone's stages 1–3 and the feature grids they give at the input size. */
export interface FeatureGeometry {
  /** Channels of stages 1–3 together (1792 for the ResNet-50 family). */
  channels: number;
  /** Rows and columns of the feature grid (stage 1's: N-pad, PaDiM). */
  gridHeight: number;
  gridWidth: number;
  /** Rows and columns of the patch grid (stage 2's: PatchCore, N-pad's position-free bank). */
  patchHeight: number;
  patchWidth: number;
}

/**
 * The geometry of a loaded backbone: its channel count and its measured stage-1 grid (FeatureExtractor runs it once
 * on a blank image); stage 2 at half that grid, as in every backbone whose stages double their stride.
 */
export function geometryOf(extractor: Pick<FeatureExtractor, 'channels' | 'gridHeight' | 'gridWidth'>): FeatureGeometry {
  const { channels, gridHeight, gridWidth } = extractor;
  return { channels, gridHeight, gridWidth, patchHeight: Math.ceil(gridHeight / 2), patchWidth: Math.ceil(gridWidth / 2) };
}

/**
 * The geometry a configuration implies before its backbone is loaded: the ResNet family's (stage 1 at stride 4 — a
 * stride-2 convolution and a stride-2 max pool — stage 2 at stride 8; 1792 channels, 448 for ResNet-18).
 */
export function assumedGeometry(config: DetectorConfig): FeatureGeometry {
  const side = Math.ceil(Math.ceil(inputSize(config.preprocess) / 2) / 2);
  const b = config.backbone;
  const channels = b.kind === 'torchvision' && b.arch === 'resnet18' ? 448 : RESNET50_CHANNELS;
  return { channels, gridHeight: side, gridWidth: side, patchHeight: Math.ceil(side / 2), patchWidth: Math.ceil(side / 2) };
}

/** Bytes of one module's streaming statistics: reference (f32), sums (f64) and packed scatter (f64) per position. */
function statisticsBytes(positions: number, d: number): number {
  return positions * (4 * d + 8 * d + 8 * ((d * (d + 1)) / 2));
}

/** Bytes of one Gaussian grid: means and the precision matrices, float32, packed by symmetry from d = 384 on. */
function gridBytes(positions: number, d: number): number {
  return positions * (4 * d + 4 * packedMatrixSize(packedBlockBounds(d), d));
}

/** Transient copies of precision chunks while a grid is inverted. */
function chunkBytes(positions: number, d: number): number {
  return PRECISION_CHUNK_COPIES * Math.min(PRECISION_CHUNK_BYTES, positions * 4 * d * d);
}

/** One batch of decoded images and backbone activations. */
function batchBytes(config: DetectorConfig, batch: number, input: number): number {
  const perImage =
    config.method === 'patchcore'
      ? ACTIVATIONS_PER_IMAGE_224.patchcore
      : config.method === 'npad' && config.options.channelSelection !== 'random'
        ? ACTIVATIONS_PER_IMAGE_224.fullGrid
        : ACTIVATIONS_PER_IMAGE_224.selected;
  return batch * perImage * (input / 224) ** 2;
}

/** The largest of several phases, each a list of parts; the baseline is added to every phase. */
function peakOf(phases: { phase: string; parts: MemoryPart[] }[]): MemoryEstimate {
  let best: MemoryEstimate | null = null;
  for (const p of phases) {
    const parts = [{ what: 'process, onnxruntime and backbone', bytes: BASELINE_BYTES }, ...p.parts.filter((x) => x.bytes > 0)];
    const bytes = parts.reduce((s, x) => s + x.bytes, 0);
    if (best === null || bytes > best.bytes) best = { bytes, phase: p.phase, parts };
  }
  return best!;
}

/**
 * Estimates the peak memory of fitting `config` on `trainCount` images (N-pad, PaDiM or PatchCore).
 *
 * @param config a complete, validated configuration
 * @param trainCount number of nominal images (PatchCore's and the position-free bank's memory grow with it)
 * @param geometry the backbone's channels and grids: {@link geometryOf} a loaded one (Detector.fit), else
 *   {@link assumedGeometry}
 * @returns the estimated peak, its phase and its parts
 */
export function estimateFitMemory(config: DetectorConfig, trainCount: number, geometry: FeatureGeometry = assumedGeometry(config)): MemoryEstimate {
  const input = inputSize(config.preprocess);
  const P = geometry.gridHeight * geometry.gridWidth;
  const batch = Math.max(1, Math.min(config.batchSize, trainCount));
  const images = { what: `a batch of ${batch} images and backbone activations`, bytes: batchBytes(config, batch, input) };
  switch (config.method) {
    case 'npad': {
      const o = config.options;
      const d = Math.min(o.dim, geometry.channels);
      const stats = (m: string): MemoryPart => ({ what: `module ${m} statistics (${P} positions × d = ${d})`, bytes: statisticsBytes(P, d) });
      const grid = (m: string): MemoryPart => ({ what: `module ${m} Gaussians (${P} precision matrices ${d}×${d})`, bytes: gridBytes(P, d) });
      const chunks: MemoryPart = { what: 'precision matrices being inverted', bytes: chunkBytes(P, d) };
      const sample = o.moduleB && !usesPatchBank(o) ? Math.min(o.kmeansSample, trainCount * P) : 0;
      const reservoir: MemoryPart = { what: `k-means sample (${sample} vectors)`, bytes: sample * d * 4 };
      const streamFeatures: MemoryPart = {
        what: 'feature copies of a batch',
        bytes: (o.moduleB ? 4 : 2) * batch * d * P * 4 + Math.min(GATHER_BUDGET_BYTES, P * 4 * (d * d + batch * d)),
      };
      // The position-free bank: its patch features until the coreset (drawn before the Gaussians), then the bank.
      const fused = usesPatchBank(o);
      const fitImages = fused ? Math.max(1, trainCount - heldOutCount(trainCount, o.fusionHoldout)) : trainCount;
      const b = npadPatchBankOptions(o);
      const bank = fused ? patchBankParts(fitImages, geometry, { embedDim: b.embedDim, projectionDim: b.coreset.projectionDim, startPoints: b.coreset.startPoints, ratio: b.coreset.ratio }) : null;
      const patchActivations: MemoryPart = { what: 'stages 2–3 of a batch for the patch features', bytes: fused ? batch * ACTIVATIONS_PER_IMAGE_224.patchcore * (input / 224) ** 2 : 0 };
      const kept = bank ? [bank.bank] : [];
      const phases: { phase: string; parts: MemoryPart[] }[] = [
        {
          phase: 'feature extraction',
          parts: [...(o.moduleA ? [stats('A')] : []), ...(o.moduleB ? [stats('B'), reservoir] : []), images, streamFeatures, ...(bank ? [bank.all, patchActivations] : [])],
        },
      ];
      if (bank) phases.push({ phase: 'patch bank coreset', parts: [...(o.moduleA ? [stats('A')] : []), stats('B'), ...bank.coreset] });
      if (o.moduleA) {
        phases.push({ phase: 'module A Gaussians', parts: [stats('A'), ...(o.moduleB ? [stats('B'), reservoir] : []), grid('A'), chunks, ...kept] });
      }
      if (o.moduleB) {
        const kmeans: MemoryPart = { what: 'k-means assignment', bytes: KERNEL_CHUNK_BYTES };
        phases.push({ phase: 'module B Gaussians', parts: [stats('B'), reservoir, ...(o.moduleA ? [grid('A')] : []), grid('B'), chunks, ...(fused ? kept : [kmeans])] });
      }
      return peakOf(phases);
    }
    case 'padim': {
      const d = Math.min(config.options.dim, geometry.channels);
      const stats: MemoryPart = { what: `statistics (${P} positions × d = ${d})`, bytes: statisticsBytes(P, d) };
      const streamFeatures: MemoryPart = { what: 'feature copies of a batch', bytes: 2 * batch * d * P * 4 + Math.min(GATHER_BUDGET_BYTES, P * 4 * (d * d + batch * d)) };
      return peakOf([
        { phase: 'feature extraction', parts: [stats, images, streamFeatures] },
        {
          phase: 'Gaussians',
          parts: [stats, { what: `Gaussians (${P} precision matrices ${d}×${d})`, bytes: gridBytes(P, d) }, { what: 'precision matrices being inverted', bytes: chunkBytes(P, d) }],
        },
      ]);
    }
    case 'patchcore': {
      const o = config.options;
      const bank = patchBankParts(trainCount, geometry, { embedDim: o.embedDim, projectionDim: o.projectionDim, startPoints: o.startPoints, ratio: o.coresetRatio });
      return peakOf([
        { phase: 'feature extraction', parts: [bank.all, images] },
        { phase: 'coreset', parts: bank.coreset },
      ]);
    }
  }
}

/**
 * A patch bank's memory (PatchCore, N-pad's position-free bank): every nominal patch feature until the coreset is
 * drawn (`all`), what the coreset phase holds (`coreset`, `all` and `bank` included), and the bank it leaves (`bank`).
 */
function patchBankParts(
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
      { what: 'coreset distances', bytes: (CORESET_CANDIDATES + o.startPoints + 3) * n * 4 },
      bank,
    ],
    bank,
  };
}

/**
 * Parses a memory size: a number of bytes, or a number with a unit K, M, G, T (powers of 1024; "GiB", "GB" and
 * "g" mean the same), e.g. "8G", "512M", "1.5GiB".
 * @param text the size
 * @param what what the size is, for the error message (e.g. "--memory-limit")
 * @throws NpadInputError when the text is not a positive size
 */
export function parseMemorySize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  const units: Record<string, number> = { '': 1, k: 2 ** 10, m: MiB, g: GiB, t: 2 ** 40 };
  const bytes = m ? Number(m[1]) * units[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isFinite(bytes) || bytes < 1) {
    throw new NpadInputError(`${what}: expected a memory size such as 8G, 512M or 1.5GiB, got '${text}'`);
  }
  return Math.floor(bytes);
}

/** "2.8 GiB" or "640 MiB". */
export function formatBytes(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`;
}

/** Reads a cgroup limit file: bytes, or null for "max", a missing file or an effectively unlimited value. */
function readLimit(file: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
  const v = Number(text);
  // cgroup v1 writes "no limit" as a huge page-aligned number (9223372036854771712).
  return Number.isFinite(v) && v > 0 && v < 2 ** 60 ? v : null;
}

/**
 * The tightest memory limit of this process's cgroups (v2 `memory.max`, v1 `memory.limit_in_bytes`), walking up
 * from its own cgroup to the root, since a parent's limit binds as well; null when there is none.
 * @param root where the cgroup file system is mounted (a parameter so tests can point it at a fake tree)
 */
export function cgroupMemoryLimit(root = '/sys/fs/cgroup'): number | null {
  let membership = '';
  try {
    membership = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    // Not Linux: no cgroups.
  }
  const limits: number[] = [];
  const walk = (base: string, own: string, file: string): void => {
    const parts = own.split('/').filter(Boolean);
    for (let i = parts.length; i >= 0; i--) {
      const v = readLimit([base, ...parts.slice(0, i), file].join('/'));
      if (v !== null) limits.push(v);
    }
  };
  for (const line of membership.split('\n')) {
    const [, controllers, own] = line.split(':');
    if (own === undefined) continue;
    if (controllers === '') walk(root, own, 'memory.max');
    else if (controllers!.split(',').includes('memory')) walk(`${root}/memory`, own, 'memory.limit_in_bytes');
  }
  // Inside a container the cgroup root is often the container's own: read it directly as well.
  for (const file of [`${root}/memory.max`, `${root}/memory/memory.limit_in_bytes`]) {
    const v = readLimit(file);
    if (v !== null) limits.push(v);
  }
  return limits.length === 0 ? null : Math.min(...limits);
}

/**
 * The memory a fit may use: an explicit limit, else NPAD_MEMORY_LIMIT, else the smaller of the machine's total
 * memory and the cgroup limit minus a margin for the OS and other processes (10 %, at least 0.5 GiB and at most
 * 4 GiB).
 * @param explicit bytes (e.g. from the CLI's --memory-limit); wins over everything
 * @throws NpadInputError when NPAD_MEMORY_LIMIT is not a memory size
 */
export function memoryBudget(explicit?: number): MemoryBudget {
  if (explicit !== undefined) {
    if (!Number.isFinite(explicit) || explicit < 1) throw new NpadInputError(`memory limit must be a positive number of bytes, got ${String(explicit)}`);
    return { bytes: explicit, source: `the memory limit ${formatBytes(explicit)}` };
  }
  const env = process.env.NPAD_MEMORY_LIMIT;
  if (env !== undefined && env.trim() !== '') {
    return { bytes: parseMemorySize(env, 'NPAD_MEMORY_LIMIT'), source: `NPAD_MEMORY_LIMIT=${env.trim()}` };
  }
  const total = os.totalmem();
  const cgroup = cgroupMemoryLimit();
  const usable = cgroup === null ? total : Math.min(total, cgroup);
  const margin = Math.min(4 * GiB, Math.max(GiB / 2, 0.1 * usable));
  const what = cgroup !== null && cgroup < total ? `the cgroup limit ${formatBytes(cgroup)}` : `total memory ${formatBytes(total)}`;
  return { bytes: Math.max(0, usable - margin), source: `${what} less a ${formatBytes(margin)} margin` };
}

/** A configuration like `config` with one option changed (the method's own options type is kept). */
function withOptions(config: DetectorConfig, change: Record<string, number>): DetectorConfig {
  return { ...config, options: { ...config.options, ...change } } as DetectorConfig;
}

/** The largest integer in [1, high] for which `fits` holds (it must be monotone), or null. */
function largestFitting(high: number, fits: (v: number) => boolean): number | null {
  if (high < 1 || !fits(1)) return null;
  let lo = 1;
  let hi = high;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Ways to make the fit smaller that would fit `budget`, as "option (flag): about X" phrases. */
function suggestions(config: DetectorConfig, trainCount: number, budget: number, geometry: FeatureGeometry): string[] {
  const out: string[] = [];
  const need = (c: DetectorConfig, n = trainCount): number => estimateFitMemory(c, n, geometry).bytes;
  const fits = (c: DetectorConfig, n = trainCount): boolean => need(c, n) <= budget;
  switch (config.method) {
    case 'npad':
    case 'padim': {
      const d = largestFitting(config.options.dim - 1, (v) => fits(withOptions(config, { dim: v })));
      if (d !== null) out.push(`dim ${d} (--dim ${d}), about ${formatBytes(need(withOptions(config, { dim: d })))}`);
      break;
    }
    case 'patchcore': {
      const o = config.options;
      if (o.coresetRatio > 0.01) {
        const small = withOptions(config, { coresetRatio: 0.01 });
        if (fits(small)) out.push(`coresetRatio 0.01 (--set coresetRatio=0.01), about ${formatBytes(need(small))}`);
      }
      const n = largestFitting(trainCount - 1, (v) => fits(config, v));
      if (n !== null) out.push(`${n} training images (--train-subset ${n}), about ${formatBytes(need(config, n))}`);
      const e = largestFitting(o.embedDim - 1, (v) => fits(withOptions(config, { embedDim: v })));
      if (e !== null) out.push(`embedDim ${e} (--set embedDim=${e}), about ${formatBytes(need(withOptions(config, { embedDim: e })))}`);
      break;
    }
  }
  if (config.batchSize > 1) {
    const b = largestFitting(config.batchSize - 1, (v) => fits({ ...config, batchSize: v }));
    if (b !== null) out.push(`batch size ${b} (--batch-size ${b}), about ${formatBytes(need({ ...config, batchSize: b }))}`);
  }
  return out;
}

/** "N-pad with d = 550" and the like, for messages. */
function describe(config: DetectorConfig, trainCount: number): string {
  const size = inputSize(config.preprocess);
  switch (config.method) {
    case 'npad':
      return `N-pad with d = ${config.options.dim} on ${size}×${size} inputs`;
    case 'padim':
      return `PaDiM with d = ${config.options.dim} on ${size}×${size} inputs`;
    case 'patchcore':
      return `PatchCore on ${trainCount} images of ${size}×${size} (coresetRatio ${config.options.coresetRatio}, embedDim ${config.options.embedDim})`;
  }
}

/**
 * Refuses a fit whose estimated peak memory exceeds what the machine allows, suggesting smaller settings that
 * fit. Called by Detector.fit before any work.
 *
 * @param config a complete, validated configuration
 * @param trainCount number of nominal images
 * @param options an explicit memory limit (default: NPAD_MEMORY_LIMIT, else the machine's, see {@link memoryBudget})
 * @param geometry the loaded backbone's channels and grids ({@link geometryOf}; default {@link assumedGeometry})
 * @returns the estimate, when it fits
 * @throws NpadInputError "not enough memory …" naming the estimate, the budget and its source, and suggestions
 */
export function checkFitMemory(
  config: DetectorConfig,
  trainCount: number,
  options: MemoryGuardOptions = {},
  geometry: FeatureGeometry = assumedGeometry(config),
): MemoryEstimate {
  const estimate = estimateFitMemory(config, trainCount, geometry);
  const budget = memoryBudget(options.memoryLimit);
  if (estimate.bytes <= budget.bytes) return estimate;
  const ideas = suggestions(config, trainCount, budget.bytes, geometry);
  const biggest = [...estimate.parts].sort((a, b) => b.bytes - a.bytes).slice(0, 3);
  throw new NpadInputError(
    `not enough memory: fitting ${describe(config, trainCount)} needs about ${formatBytes(estimate.bytes)} ` +
      `(at ${estimate.phase}: ${biggest.map((p) => `${p.what} ${formatBytes(p.bytes)}`).join(', ')}), ` +
      `more than the ${formatBytes(budget.bytes)} available (${budget.source}). ` +
      (ideas.length > 0 ? `Would fit: ${ideas.join('; ')}. ` : 'No smaller setting of this method fits; use a machine with more memory. ') +
      'If the estimate is wrong for this machine, set the limit with --memory-limit SIZE or NPAD_MEMORY_LIMIT.',
  );
}

/**
 * The memory guard: before a fit starts, estimate the peak memory its configuration needs and refuse one that
 * cannot fit the machine, suggesting one that can. A fit that runs out of memory is killed by the OS after
 * minutes of work with no message; a refusal up front names the numbers and the way out.
 *
 * The estimate adds up, phase by phase, the large buffers each method's definition lists (its memoryPhases, with
 * the shared parts of method/parts/memoryParts.ts) and takes the largest phase; the process itself (Node,
 * onnxruntime, the backbone) is added to every phase, calibrated against measured peak RSS (docs/robustness.md).
 *
 * Available memory is the smaller of os.totalmem() and the cgroup limit (v2 memory.max or v1
 * memory.limit_in_bytes), minus a margin for the OS and other processes; NPAD_MEMORY_LIMIT (or an explicit
 * limit, e.g. the CLI's --memory-limit) replaces it.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { NpadInputError } from '../errors.js';
import type { FeatureExtractor } from '../backbone/featureExtractor.js';
import { expectedInputShape } from '../image/preprocess.js';
import { definitionOf } from '../method/registry.js';
import type { FeatureGeometry, MemoryPart, MemoryPhase } from '../method/types.js';
import { settingsOf, type DetectorConfig } from './config.js';

export type { FeatureGeometry, MemoryPart } from '../method/types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * The process before any fitting buffer: Node, sharp, onnxruntime, the backbone's weights and graph sessions.
 * Measured 541 MiB (peak RSS of a fit at d = 12 on 4 images, under tsx); rounded up.
 */
const BASELINE_BYTES = 550 * MiB;
/** Channels of stages 1–3 of the ResNet-50 family, assumed when the backbone is not loaded yet. */
const RESNET50_CHANNELS = 1792;

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

/**
 * The geometry of a loaded backbone: its channel count and its measured stage-1 grid (FeatureExtractor runs it once
 * on a blank image); stage 2 at half that grid, as in every backbone whose stages double their stride.
 */
export function geometryOf(extractor: Pick<FeatureExtractor, 'channels' | 'gridHeight' | 'gridWidth'>): FeatureGeometry {
  const { channels, gridHeight, gridWidth } = extractor;
  return { channels, gridHeight, gridWidth, patchHeight: Math.ceil(gridHeight / 2), patchWidth: Math.ceil(gridWidth / 2) };
}

/**
 * The geometry a configuration implies before its backbone has run: the ResNet family's (stage 1 at stride 4 — a
 * stride-2 convolution and a stride-2 max pool — stage 2 at stride 8; 1792 channels, 448 for ResNet-18), at the
 * input's shape or, for a whole image before its fit, the side² area it will have.
 * @param channels the loaded backbone's channel count, when it is loaded
 */
export function assumedGeometry(config: DetectorConfig, channels = assumedChannels(config)): FeatureGeometry {
  const input = expectedInputShape(config.preprocess);
  const [gridHeight, gridWidth] = [input.height, input.width].map((v) => Math.ceil(Math.ceil(v / 2) / 2)) as [number, number];
  return { channels, gridHeight, gridWidth, patchHeight: Math.ceil(gridHeight / 2), patchWidth: Math.ceil(gridWidth / 2) };
}

/** The channel count of the configuration's backbone family, before it is loaded. */
function assumedChannels(config: DetectorConfig): number {
  const b = config.backbone;
  return b.kind === 'torchvision' && b.arch === 'resnet18' ? 448 : RESNET50_CHANNELS;
}

/** The largest of several phases, each a list of parts; the baseline is added to every phase. */
function peakOf(phases: readonly MemoryPhase[]): MemoryEstimate {
  let best: MemoryEstimate | null = null;
  for (const p of phases) {
    const parts = [{ what: 'process, onnxruntime and backbone', bytes: BASELINE_BYTES }, ...p.parts.filter((x) => x.bytes > 0)];
    const bytes = parts.reduce((s, x) => s + x.bytes, 0);
    if (best === null || bytes > best.bytes) best = { bytes, phase: p.phase, parts };
  }
  return best!;
}

/**
 * Estimates the peak memory of fitting `config` on `trainCount` images, from its method's phases.
 *
 * @param config a complete, validated configuration
 * @param trainCount number of nominal images (PatchCore's and the position-free bank's memory grow with it)
 * @param geometry the backbone's channels and grids: {@link geometryOf} a loaded one (Detector.fit), else
 *   {@link assumedGeometry}
 * @returns the estimated peak, its phase and its parts
 */
export function estimateFitMemory(config: DetectorConfig, trainCount: number, geometry: FeatureGeometry = assumedGeometry(config)): MemoryEstimate {
  return peakOf(definitionOf(config.method).memoryPhases(settingsOf(config), trainCount, geometry));
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

/** A smaller setting that would fit the budget, and the memory it would need. */
export interface FittingChange {
  /** What changes: an option of the method, the number of training images, or the batch size. */
  setting: { option: string } | 'trainImages' | 'batchSize';
  /** Its new value. */
  value: number;
  /** The estimate with it, bytes. */
  bytes: number;
}

/** Smaller settings that would fit `budget`: the method's remedies (MethodDefinition.memoryRemedies), then a smaller batch. */
function fittingChanges(config: DetectorConfig, trainCount: number, budget: number, geometry: FeatureGeometry): FittingChange[] {
  const out: FittingChange[] = [];
  const need = (c: DetectorConfig, n = trainCount): number => estimateFitMemory(c, n, geometry).bytes;
  const fits = (c: DetectorConfig, n = trainCount): boolean => need(c, n) <= budget;
  const options = config.options as unknown as Record<string, number>;
  for (const remedy of definitionOf(config.method).memoryRemedies) {
    if ('trainImages' in remedy) {
      const n = largestFitting(trainCount - 1, (v) => fits(config, v));
      if (n !== null) out.push({ setting: 'trainImages', value: n, bytes: need(config, n) });
    } else if (remedy.to === 'largest') {
      const v = largestFitting(options[remedy.option]! - 1, (x) => fits(withOptions(config, { [remedy.option]: x })));
      if (v !== null) out.push({ setting: { option: remedy.option }, value: v, bytes: need(withOptions(config, { [remedy.option]: v })) });
    } else if (options[remedy.option]! > remedy.to) {
      const smaller = withOptions(config, { [remedy.option]: remedy.to });
      if (fits(smaller)) out.push({ setting: { option: remedy.option }, value: remedy.to, bytes: need(smaller) });
    }
  }
  if (config.batchSize > 1) {
    const b = largestFitting(config.batchSize - 1, (v) => fits({ ...config, batchSize: v }));
    if (b !== null) out.push({ setting: 'batchSize', value: b, bytes: need({ ...config, batchSize: b }) });
  }
  return out;
}

/** How a face names the settings of a {@link NpadMemoryError}: the library's option names, the CLI's flags. */
export interface MemoryErrorWording {
  /** One change, e.g. "dim 120 (option dim)" or "dim 120 (--dim 120)". */
  change(c: FittingChange): string;
  /** How to set the memory limit by hand. */
  limit: string;
}

/** The library's wording: option and field names. */
export const LIBRARY_MEMORY_WORDING: MemoryErrorWording = {
  change: (c) =>
    c.setting === 'trainImages'
      ? `${c.value} training images`
      : c.setting === 'batchSize'
        ? `batch size ${c.value} (batchSize)`
        : `${c.setting.option} ${c.value} (option ${c.setting.option})`,
  limit: 'the memoryLimit of the guard options or NPAD_MEMORY_LIMIT',
};

/**
 * A fit refused because its estimated peak memory exceeds the budget. It carries the figures and the smaller
 * settings that would fit, so that each face can word them its own way ({@link messageWith}).
 */
/**
 * Refuses, before its tensors are read, a model whose loaded form would not fit the memory a process may use
 * (memoryBudget), from the shapes its header declares. The loaded form is bounded by twice the float32 size of its
 * float tensors: the values as read, F16 ones widened to float32 (a bank; f16 and i8 precision matrices stay as
 * stored), float32 precision matrices of older files packed again, and a bank's search form. The bound holds for
 * any file, forged or not: the file cannot hold more values than its header declares.
 * @throws NpadInputError naming the file, the memory it needs and the budget
 */
export function checkLoadMemory(tensors: readonly { dtype: string; shape: readonly number[] }[], file: string, budget: MemoryBudget = memoryBudget()): void {
  let floats = 0;
  for (const t of tensors) if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'F64') floats += t.shape.reduce((a, b) => a * b, 1);
  const needed = 2 * 4 * floats;
  if (needed > budget.bytes) {
    throw new NpadInputError(`${file}: loading this model needs up to ${formatBytes(needed)} (its ${floats} floats, expanded for scoring), more than ${budget.source} (${formatBytes(budget.bytes)})`, file);
  }
}

export class NpadMemoryError extends NpadInputError {
  constructor(
    /** The fit in a few words, e.g. "N-pad with d = 550 on 224×224 inputs". */
    readonly fit: string,
    /** The estimate that did not fit. */
    readonly estimate: MemoryEstimate,
    /** The budget it did not fit. */
    readonly budget: MemoryBudget,
    /** Smaller settings that would fit, in the order they are suggested. */
    readonly changes: readonly FittingChange[],
  ) {
    super('');
    this.name = 'NpadMemoryError';
    this.message = this.messageWith(LIBRARY_MEMORY_WORDING);
  }

  /** The message with the settings named as `wording` names them. */
  messageWith(wording: MemoryErrorWording): string {
    const biggest = [...this.estimate.parts].sort((a, b) => b.bytes - a.bytes).slice(0, 3);
    const ideas = this.changes.map((c) => `${wording.change(c)}, about ${formatBytes(c.bytes)}`);
    return (
      `not enough memory: fitting ${this.fit} needs about ${formatBytes(this.estimate.bytes)} ` +
      `(at ${this.estimate.phase}: ${biggest.map((p) => `${p.what} ${formatBytes(p.bytes)}`).join(', ')}), ` +
      `more than the ${formatBytes(this.budget.bytes)} available (${this.budget.source}). ` +
      (ideas.length > 0 ? `Would fit: ${ideas.join('; ')}. ` : 'No smaller setting of this method fits; use a machine with more memory. ') +
      `If the estimate is wrong for this machine, set the limit with ${wording.limit}.`
    );
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
 * @throws NpadMemoryError "not enough memory …" naming the estimate, the budget and its source, and smaller settings
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
  const fit = definitionOf(config.method).describe(settingsOf(config), trainCount);
  throw new NpadMemoryError(fit, estimate, budget, fittingChanges(config, trainCount, budget.bytes, geometry));
}

/**
 * A fitted N-pad model: what the fit leaves (kept channels, the Gaussians of modules A and B, module B's bank) and
 * the small rules both fitting and scoring read off the options.
 */
import { AUTHORS_CORESET, AUTHORS_PATCH_FEATURES, type PatchBank, type PatchBankOptions } from '../parts/patchBank.js';
import type { MethodSettings } from '../types.js';
import type { ScoringModel } from './gridScores.js';
import type { NominalMaxima } from './mapFusion.js';
import type { NpadOptions } from './options.js';

/** Module B's position-free bank (option bank 'patch-coreset') and what its map is fused with. */
export interface FusedBank extends PatchBank {
  /** Nominal images held out of the fit, whose maxima standardise the maps. */
  heldOut: number;
  /** The per-position map's maxima over the held-out images. */
  positionMaxima: NominalMaxima;
  /** The bank map's maxima over the held-out images. */
  bankMaxima: NominalMaxima;
}

/** A fitted N-pad detector. */
export interface NpadModel {
  settings: MethodSettings<NpadOptions>;
  /** Kept channel indices into the backbone's concatenated stages [d]. */
  channels: Int32Array;
  /** Nominal images given to the fit (with bank 'patch-coreset', `fusion.heldOut` of them were held out of it). */
  trainCount: number;
  scoring: ScoringModel;
  /** The position-free bank and the fusion's statistics (bank 'patch-coreset' with module B), else null. */
  fusion: FusedBank | null;
}

/** True when the options fuse a position-free bank's map with the per-position map. */
export function usesPatchBank(o: Pick<NpadOptions, 'moduleB' | 'bank'>): boolean {
  return o.moduleB && o.bank === 'patch-coreset';
}

/** The position-free bank's features and coreset: PatchCore's authors', at N-pad's ratio, dimension and seed. */
export function npadPatchBankOptions(o: NpadOptions): PatchBankOptions {
  return { ...AUTHORS_PATCH_FEATURES, embedDim: o.bankDim, coreset: { ...AUTHORS_CORESET, ratio: o.bankRatio, seed: o.seed }, search: o.bankSearch };
}

/** How many of n nominal images the fit holds out to standardise the maps: ⌈fraction · n⌉, at least 2, at most n − 1. */
export function heldOutCount(n: number, fraction: number): number {
  return Math.min(n - 1, Math.max(2, Math.ceil(fraction * n - 1e-9)));
}

/**
 * Several fitted detectors scoring as one (the N-pad paper's table 4: models fitted on 224 and 336 crops,
 * their anomaly maps averaged). Members may differ in input size, method or options; their maps are brought
 * to the first member's size and averaged, and so are their image scores.
 *
 * The members must look at the same part of each image, so their crops must keep the same fraction of the
 * resized image (224/256 = 336/384); otherwise a pixel of one map would not be the same pixel of another.
 */
import { NpadInputError } from '../errors.js';
import { describePreprocess, isWhole, type PreprocessOptions } from '../image/preprocess.js';
import { upsampleBilinear } from '../method/parts/anomalyMap.js';
import type { Detector } from './detector.js';
import type { ScoredImage, ScoredImageHandler } from '../method/types.js';

/** Images scored by every member before their results are combined (bounds the maps held at once). */
const IMAGES_PER_ROUND = 16;

/** The part of the resized image a crop keeps (1 without a crop, and for the whole image or its tiles). */
function cropFraction(p: PreprocessOptions): number {
  return isWhole(p) || p.crop === null ? 1 : p.crop / p.resize;
}

/**
 * Checks that detectors can be averaged: at least one, and every crop keeps the same fraction of its image.
 * @throws NpadInputError naming the member (its `names` entry) that does not line up with the first
 */
export function checkEnsembleMembers(members: readonly Pick<Detector, 'config'>[], names: readonly string[]): void {
  if (members.length === 0) throw new NpadInputError('an ensemble needs at least one detector');
  const first = cropFraction(members[0]!.config.preprocess);
  members.forEach((m, i) => {
    const f = cropFraction(m.config.preprocess);
    if (Math.abs(f - first) > 1e-9) {
      const p = m.config.preprocess;
      const p0 = members[0]!.config.preprocess;
      throw new NpadInputError(
        `${names[i] ?? `member ${i}`} (${describePreprocess(p)}) sees ${(100 * f).toFixed(1)} % of the image, but ` +
          `${names[0] ?? 'member 0'} (${describePreprocess(p0)}) sees ${(100 * first).toFixed(1)} %: their maps would not line up`,
        names[i],
      );
    }
  });
}

/** Averages member results of one image at the first's map size (members at another size are resized bilinearly). */
export function averageScoredImages(results: readonly ScoredImage[]): ScoredImage {
  const { width, height } = results[0]!;
  const map = new Float32Array(width * height);
  let score = 0;
  for (const r of results) {
    const m = r.width === width && r.height === height ? r.map : upsampleBilinear(r.map, r.height, r.width, height, width);
    for (let i = 0; i < map.length; i++) map[i]! += m[i]! / results.length;
    score += r.score / results.length;
  }
  return { map, width, height, score };
}

/** Detectors whose maps and scores are averaged; scores images like a single Detector. */
export class DetectorEnsemble {
  /**
   * @param members fitted detectors, the first fixing the map size and the preprocessing of the ground truth
   * @param names how to name each member in errors (its model file)
   */
  constructor(
    readonly members: readonly Detector[],
    names: readonly string[] = members.map((_, i) => `member ${i}`),
  ) {
    checkEnsembleMembers(members, names);
  }

  /** The first member: its configuration describes the ensemble's output. */
  get config(): Detector['config'] {
    return this.members[0]!.config;
  }

  /** Scores images with every member; `onImage` receives each averaged result in order. */
  async score(paths: readonly string[], onImage: ScoredImageHandler): Promise<void> {
    for (let start = 0; start < paths.length; start += IMAGES_PER_ROUND) {
      const round = paths.slice(start, start + IMAGES_PER_ROUND);
      const perImage: ScoredImage[][] = round.map(() => []);
      for (const member of this.members) {
        await member.score(round, (i, r) => {
          perImage[i]!.push(r);
        });
      }
      for (let i = 0; i < round.length; i++) await onImage(start + i, averageScoredImages(perImage[i]!));
    }
  }
}

/** What scripts/compare.ts measures per run (results/compare/<dataset>/<group>-<label>.json), read by results.ts too. */
export interface ComparedRow {
  label: string;
  /** The compare.ts group the run belongs to (methods, ablations, channels, …). */
  group: string;
  image_auroc: number;
  pixel_auroc: number;
  pro: number;
  /** Wall time of `npad fit`, process start and backbone included. */
  fit_seconds: number;
  ms_per_image: number;
  model_mib: number;
}

/** The paper's table 3: pixel AUROC on MVTec AD (mean of 15 categories, WideResNet-50). */
export const PAPER_TABLE3: Record<string, string> = { exper1: '98.38', exper2: '98.45', exper3: '98.59', exper4: '98.57', exper5: '98.65', npad: '98.75' };

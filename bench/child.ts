/**
 * One fit in its own process (so its peak memory is its own), run by bench/run.ts: fits a detector on the
 * dataset's training images and saves it for bench/speedChild.ts. Prints one JSON line.
 *
 *   node --import tsx bench/child.ts '{"method":"npad","options":{"dim":200}}' DATASET MODEL_OUT
 */
import { readMvtecDataset } from '../src/data/mvtec.js';
import { Detector } from '../src/detector/detector.js';
import type { DetectorConfigInput } from '../src/detector/config.js';

/** What a fit costs. */
export interface FitFigures {
  fitSeconds: number;
  /** CPU time of the fit in user space and in the kernel (page faults above all), seconds. */
  fitUserSeconds: number;
  fitSystemSeconds: number;
  /** Pages the fit touched for the first time (minor page faults). */
  fitMinorFaults: number;
  /** Peak resident memory of the process, which is the fit's: nothing before it is larger. */
  fitPeakMiB: number;
  trainImages: number;
}

async function main(): Promise<void> {
  const [configJson, dataset, out] = process.argv.slice(2);
  const config = JSON.parse(configJson!) as DetectorConfigInput;
  const data = await readMvtecDataset(dataset!);
  const before = process.resourceUsage();
  const t0 = performance.now();
  const detector = await Detector.fit(data.train, config);
  const fitSeconds = (performance.now() - t0) / 1000;
  const after = process.resourceUsage();
  const figures: FitFigures = {
    fitSeconds,
    fitUserSeconds: (after.userCPUTime - before.userCPUTime) / 1e6,
    fitSystemSeconds: (after.systemCPUTime - before.systemCPUTime) / 1e6,
    fitMinorFaults: after.minorPageFault - before.minorPageFault,
    fitPeakMiB: after.maxRSS / 1024,
    trainImages: data.train.length,
  };
  await detector.save(out!);
  process.stdout.write(JSON.stringify(figures) + '\n');
}

await main();

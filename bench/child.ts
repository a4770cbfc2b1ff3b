/**
 * One end-to-end measurement in its own process (so its peak memory is its own), run by bench/run.ts:
 * fit a detector on bottle's training images, then score test images one per call (latency, batch 1) and many
 * in one call (throughput, batched). Prints one JSON line.
 *
 *   node --import tsx bench/child.ts '{"method":"npad","options":{"dim":200}}' DATASET LATENCY_IMAGES THROUGHPUT_IMAGES
 */
import { readMvtecDataset } from '../src/data/mvtec.js';
import { Detector } from '../src/detector/detector.js';
import type { DetectorConfigInput } from '../src/detector/config.js';

/** The figures of one configuration. */
export interface EndToEndFigures {
  fitSeconds: number;
  /** Peak resident memory of the process after fitting (the fit's peak: nothing before it is larger). */
  fitPeakMiB: number;
  /** Median ms to score one image in its own call. */
  latencyMs: number;
  /** Images per second when many are scored in one call. */
  throughput: number;
  trainImages: number;
}

const peakMiB = (): number => process.resourceUsage().maxRSS / 1024;

async function main(): Promise<void> {
  const [configJson, dataset, latencyArg, throughputArg] = process.argv.slice(2);
  const config = JSON.parse(configJson!) as DetectorConfigInput;
  const data = await readMvtecDataset(dataset!);
  const t0 = performance.now();
  const detector = await Detector.fit(data.train, config);
  const fitSeconds = (performance.now() - t0) / 1000;
  const fitPeakMiB = peakMiB();
  const test = data.test.map((t) => t.path);
  const ignore = (): void => {};
  await detector.score([test[0]!], ignore); // warm-up: onnxruntime optimises each graph on its first run
  const single: number[] = [];
  for (const p of test.slice(0, Number(latencyArg))) {
    const s = performance.now();
    await detector.score([p], ignore);
    single.push(performance.now() - s);
  }
  single.sort((a, b) => a - b);
  const many = test.slice(0, Number(throughputArg));
  const s = performance.now();
  await detector.score(many, ignore);
  const throughput = many.length / ((performance.now() - s) / 1000);
  const figures: EndToEndFigures = { fitSeconds, fitPeakMiB, latencyMs: single[Math.floor(single.length / 2)]!, throughput, trainImages: data.train.length };
  process.stdout.write(JSON.stringify(figures) + '\n');
}

await main();

/**
 * Scoring speed of saved models, measured side by side in one process, run by bench/run.ts: the models take
 * turns image by image (latency: one image per call) and batch by batch (throughput: many images per call),
 * so that a slow spell of this shared machine falls on all of them alike and their ratio holds. Prints one
 * JSON line: an array of figures, one per model.
 *
 *   node --import tsx bench/speedChild.ts DATASET LATENCY_IMAGES THROUGHPUT_IMAGES MODEL...
 */
import { readMvtecDataset } from '../src/data/mvtec.js';
import { Detector } from '../src/detector/detector.js';

/** The scoring speed of one model. */
export interface SpeedFigures {
  /** Median ms to score one image in its own call. */
  latencyMs: number;
  /** Images per second when many are scored in one call (the better of two turns). */
  throughput: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const [dataset, latencyArg, throughputArg, ...models] = process.argv.slice(2);
  const data = await readMvtecDataset(dataset!);
  const test = data.test.map((t) => t.path);
  const detectors: Detector[] = [];
  for (const m of models) detectors.push(await Detector.load(m));
  const ignore = (): void => {};
  // Warm-up: onnxruntime optimises each graph shape on its first run.
  for (const d of detectors) {
    await d.score([test[0]!], ignore);
    await d.score(test.slice(0, 2), ignore);
  }
  const single: number[][] = detectors.map(() => []);
  for (const p of test.slice(1, 1 + Number(latencyArg))) {
    for (const [i, d] of detectors.entries()) {
      const s = performance.now();
      await d.score([p], ignore);
      single[i]!.push(performance.now() - s);
    }
  }
  const many = test.slice(0, Number(throughputArg));
  const rates: number[][] = detectors.map(() => []);
  for (let turn = 0; turn < 2; turn++) {
    for (const [i, d] of detectors.entries()) {
      const s = performance.now();
      await d.score(many, ignore);
      rates[i]!.push(many.length / ((performance.now() - s) / 1000));
    }
  }
  const figures: SpeedFigures[] = detectors.map((_, i) => ({ latencyMs: median(single[i]!), throughput: Math.max(...rates[i]!) }));
  process.stdout.write(JSON.stringify(figures) + '\n');
}

await main();

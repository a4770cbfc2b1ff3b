/**
 * The bank's nearest-neighbour search, index against index, on a fitted model's bank and the patch features of real
 * images: time per image of each index kind (engine/nearestIndex.ts), taking turns, and whether they agree (the same
 * nearest member, distances within float32 rounding of the flat index's expansion).
 *
 *   node --import tsx bench/bankSearch.ts MODEL IMAGE_DIR [--images 16] [--rounds 3] [--stored]
 *
 * MODEL: an N-pad model with the position-free bank, or a PatchCore model. `--stored` loads the bank as a model
 * file keeps it (binary16), as `npad predict` of a few images does.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FeatureExtractor } from '../src/backbone/featureExtractor.js';
import { Detector } from '../src/detector/detector.js';
import { loadIndex, type IndexKind, type NearestIndex } from '../src/engine/nearestIndex.js';
import { loadImageBatch } from '../src/method/imageLoop.js';
import { patchStages, type PatchBank } from '../src/method/parts/patchBank.js';
import { embedPatches } from '../src/method/parts/patchEmbedding.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { images: { type: 'string' }, rounds: { type: 'string' }, stored: { type: 'boolean' } },
});
const [modelPath, imageDir] = positionals;
if (!modelPath || !imageDir) throw new Error('usage: bench/bankSearch.ts MODEL IMAGE_DIR [--images 16] [--rounds 3] [--stored]');
const imageCount = Number(values.images ?? 16);
const rounds = Number(values.rounds ?? 3);

const detector = await Detector.load(modelPath, { form: values.stored ? 'stored' : 'expanded' });
const fitted = detector.fitted;
const bank: PatchBank | null = fitted.method === 'npad' ? fitted.model.fusion : fitted.method === 'patchcore' ? fitted.model : null;
if (!bank) throw new Error(`${modelPath}: no position-free bank`);
const extractor = (detector as unknown as { extractor: FeatureExtractor }).extractor;

const images = readdirSync(imageDir, { recursive: true, encoding: 'utf8' })
  .filter((f) => /\.(png|jpe?g|bmp)$/i.test(f))
  .sort()
  .slice(0, imageCount)
  .map((f) => path.join(imageDir, f));
const E = bank.shape.embedDim;
const patches = bank.shape.stages[0]!.height * bank.shape.stages[0]!.width;
const queries = new Float32Array(images.length * patches * E);
for (let i = 0; i < images.length; i++) {
  const input = await loadImageBatch([images[i]!], detector.config.preprocess);
  const stages = await patchStages(extractor, input, 1);
  queries.set((await embedPatches(bank.shape, stages)).data, i * patches * E);
}
const count = images.length * patches;

const indexes: Record<IndexKind, NearestIndex> = {
  flat: loadIndex('flat', bank.bank, bank.bankSize, E, new Map()),
  subspace: bank.index.kind === 'subspace' ? bank.index : loadIndex('subspace', bank.bank, bank.bankSize, E, new Map()),
};
const times: Record<IndexKind, number[]> = { flat: [], subspace: [] };
const results: Partial<Record<IndexKind, { distances: Float32Array; indices: Int32Array }>> = {};
// A first search of each prepares it (graphs, the subspace index's projections); then rounds taking turns.
for (const kind of ['flat', 'subspace'] as const) await indexes[kind].search(queries.subarray(0, patches * E), patches);
for (let r = 0; r < rounds; r++) {
  for (const kind of ['flat', 'subspace'] as const) {
    for (let i = 0; i < images.length; i++) {
      const t0 = performance.now();
      const result = await indexes[kind].search(queries.subarray(i * patches * E, (i + 1) * patches * E), patches);
      times[kind].push(performance.now() - t0);
      if (r === 0) {
        const all = (results[kind] ??= { distances: new Float32Array(count), indices: new Int32Array(count) });
        all.distances.set(result.distances, i * patches);
        all.indices.set(result.indices, i * patches);
      }
    }
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let differentMember = 0;
let worstRelative = 0;
const flat = results.flat!;
const pruned = results.subspace!;
for (let q = 0; q < count; q++) {
  const a = flat.distances[q]!;
  const b = pruned.distances[q]!;
  worstRelative = Math.max(worstRelative, Math.abs(a - b) / Math.max(1e-12, b));
  if (flat.indices[q] !== pruned.indices[q]) differentMember++;
}
console.log(`${modelPath}: ${bank.bankSize} members of ${E}, ${images.length} images of ${patches} patches, bank ${bank.bank instanceof Uint16Array ? 'binary16' : 'float32'}`);
for (const kind of ['flat', 'subspace'] as const) {
  const t = times[kind];
  console.log(`  ${kind.padEnd(9)} median ${median(t).toFixed(1)} ms per image (min ${Math.min(...t).toFixed(1)}, max ${Math.max(...t).toFixed(1)})`);
}
console.log(`  flat / subspace: ${(median(times.flat) / median(times.subspace)).toFixed(2)}×`);
console.log(`  patches whose nearest member differs: ${differentMember} of ${count}; largest relative distance difference ${worstRelative.toExponential(2)}`);

/**
 * Dev check: npad's ResNet50-v2 graph against the independent PyTorch reference (../shared/tools/
 * reference_features.py, which needs Debian's python3-torch). The gate before trusting any AUROC.
 *
 *   node --import tsx scripts/check-backbone.ts [IMAGE | --pattern]
 *
 * Preprocesses IMAGE (default: a broken_large MVTec bottle) to [1,3,224,224], or with --pattern uses the
 * deterministic input the backbone tests pin (test/backbone/resnetV2.test.ts), saves it as .npy, runs the reference
 * for post-activation and raw features, runs our graph on the same tensor, and prints per stage the max absolute
 * difference and the max difference relative to the stage's max magnitude (must be ≤ 1e-4). With --pattern it also
 * prints the values the tests pin. Exit status 1 when a stage fails.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeNpy, readNpy } from '../src/backbone/npy.js';
import { loadImageTensor } from '../src/image/preprocess.js';
import { createSession, runFloat } from '../src/onnx/session.js';
import type { Backbone } from '../src/backbone/types.js';
import { loadBackbone } from '../src/backbone/load.js';
import { packageRoot } from '../src/util/npadPackage.js';

const PYTHON = '/usr/bin/python3';

const SHARED = path.join(packageRoot(), '..', 'shared');
const DEFAULT_IMAGE = path.join(SHARED, 'datasets', 'mvtec_ad', 'bottle', 'test', 'broken_large', '000.png');
const REFERENCE = path.join(SHARED, 'tools', 'reference_features.py');
const SIZE = 224;
const TOLERANCE = 1e-4;
const STAGES = ['layer1', 'layer2', 'layer3'] as const;

/** The deterministic input pinned by the tests (same formula as there). */
export function patternInput(): Float32Array {
  const x = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.01) + 0.5 * Math.cos(i * 0.0007);
  return x;
}

/** Runs the PyTorch reference on `input` and returns its layer1..3 as .npy arrays. */
async function reference(inputNpy: string, raw: boolean, dir: string): Promise<Record<string, Float32Array>> {
  const npz = path.join(dir, raw ? 'raw.npz' : 'post.npz');
  execFileSync(PYTHON, [REFERENCE, inputNpy, ...(raw ? ['--raw'] : []), '--out', npz], { stdio: 'inherit' });
  // Unpack the .npz with numpy rather than writing a zip reader for a dev script.
  const prefix = path.join(dir, raw ? 'raw_' : 'post_');
  const unpack = `import numpy as np, sys\nd = np.load(sys.argv[1])\nfor k in d: np.save(sys.argv[2] + k + '.npy', d[k])`;
  execFileSync(PYTHON, ['-c', unpack, npz, prefix]);
  const out: Record<string, Float32Array> = {};
  for (const k of STAGES) out[k] = (await readNpy(`${prefix}${k}.npy`)).data;
  return out;
}

async function ours(backbone: Backbone, input: Float32Array): Promise<Record<string, Float32Array>> {
  const session = await createSession(backbone.buildStages());
  const r = await runFloat(session, { image: { data: input, dims: [1, 3, SIZE, SIZE] } }, ['stage1', 'stage2', 'stage3']);
  await session.release();
  return { layer1: r.stage1!.data, layer2: r.stage2!.data, layer3: r.stage3!.data };
}

/** Compares one stage; returns whether it is within tolerance. */
function compare(label: string, a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) {
    console.log(`${label}: length ${a.length} vs reference ${b.length}`);
    return false;
  }
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  const rel = maxAbs / scale;
  const verdict = rel <= TOLERANCE ? 'ok' : 'FAIL';
  console.log(
    `${label.padEnd(22)} max|ref| ${scale.toFixed(4).padStart(9)}  ` +
      `max abs diff ${maxAbs.toExponential(3)}  max rel diff ${rel.toExponential(3)}  ${verdict}`,
  );
  return rel <= TOLERANCE;
}

/**
 * Prints values the tests pin, per stage: mean, root mean square, the maximum and its flat index, and the first
 * non-zero value at or after a third and two thirds of the array (post-activation features are mostly zeros).
 */
function printPins(label: string, feats: Record<string, Float32Array>): void {
  for (const k of STAGES) {
    const v = feats[k]!;
    let sum = 0;
    let sq = 0;
    let argmax = 0;
    for (let i = 0; i < v.length; i++) {
      sum += v[i] as number;
      sq += (v[i] as number) ** 2;
      if ((v[i] as number) > (v[argmax] as number)) argmax = i;
    }
    const nonZeroFrom = (start: number): string => {
      let i = start;
      while (i < v.length - 1 && v[i] === 0) i++;
      return `[${i}, ${v[i]}]`;
    };
    const third = Math.floor(v.length / 3);
    const stats = `mean: ${sum / v.length}, rms: ${Math.sqrt(sq / v.length)}, max: [${argmax}, ${v[argmax]}]`;
    console.log(`pin ${label} ${k}: { ${stats}, at: [${nonZeroFrom(third)}, ${nonZeroFrom(2 * third)}] }`);
  }
}

async function main(): Promise<void> {
  const usePattern = process.argv.includes('--pattern');
  const image = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? DEFAULT_IMAGE;
  const input = usePattern ? patternInput() : await loadImageTensor(image, { resize: 256, crop: SIZE });
  console.log(`input: ${usePattern ? 'deterministic pattern' : image}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'npad-check-'));
  try {
    const inputNpy = path.join(dir, 'input.npy');
    writeFileSync(inputNpy, encodeNpy([1, 3, SIZE, SIZE], input));
    let ok = true;
    for (const features of ['post-activation', 'raw'] as const) {
      const ref = await reference(inputNpy, features === 'raw', dir);
      const got = await ours(await loadBackbone({ kind: 'resnet50-v2', features }), input);
      for (const k of STAGES) ok = compare(`${features} ${k}`, got[k]!, ref[k]!) && ok;
      if (usePattern) printPins(features, ref);
    }
    console.log(ok ? 'PASS: within 1e-4 of the PyTorch reference' : 'FAIL');
    process.exitCode = ok ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

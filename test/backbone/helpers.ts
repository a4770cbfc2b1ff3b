/**
 * Test helpers for the backbone tests: a seeded random source, plain-TypeScript reference layers (convolution,
 * BatchNorm, max pooling, resizing) and writers of synthetic torchvision state dicts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { NpadInputError } from '../../src/errors.js';
import { seededRandom } from '../../src/util/random.js';
import type { GraphBuilder } from '../../src/onnx/graph.js';
import type { TorchvisionArchSpec } from '../../src/backbone/torchvisionResnet.js';
import { type DType, encodeSafetensors, float32ToFloat16Bits, float16BitsToFloat32 } from '../../src/tensorfile/safetensors.js';

export { seededRandom };

/** `n` uniform values in [lo, hi). */
export function uniform(rand: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** A tensor [N, C, H, W] in C order. */
export interface Tensor4 {
  data: Float32Array;
  dims: [number, number, number, number];
}

/** Plain convolution (no groups), zero padding `pad`, optional bias. */
export function conv2d(
  x: Tensor4,
  w: Float32Array,
  wDims: readonly number[],
  stride: number,
  pad: number,
  bias?: Float32Array,
): Tensor4 {
  const [n, c, h, wd] = x.dims;
  const [o, ci, kh, kw] = wDims as [number, number, number, number];
  if (ci !== c) throw new Error(`conv2d: input has ${c} channels, weights ${ci}`);
  const ho = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const wo = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  const out = new Float32Array(n * o * ho * wo);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++)
      for (let y = 0; y < ho; y++)
        for (let xx = 0; xx < wo; xx++) {
          let s = bias ? (bias[oc] as number) : 0;
          for (let ic = 0; ic < c; ic++)
            for (let ky = 0; ky < kh; ky++) {
              const iy = y * stride - pad + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = xx * stride - pad + kx;
                if (ix < 0 || ix >= wd) continue;
                s += (x.data[((b * c + ic) * h + iy) * wd + ix] as number) * (w[((oc * ci + ic) * kh + ky) * kw + kx] as number);
              }
            }
          out[((b * o + oc) * ho + y) * wo + xx] = s;
        }
  return { data: out, dims: [n, o, ho, wo] };
}

/** Inference BatchNorm, unfolded (the graph folds it; this checks the folding). */
export function batchNorm(x: Tensor4, gamma: Float32Array, beta: Float32Array, mean: Float32Array, variance: Float32Array, eps = 1e-5): Tensor4 {
  const [n, c, h, w] = x.dims;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const inv = 1 / Math.sqrt((variance[ch] as number) + eps);
      for (let i = 0; i < h * w; i++) {
        const k = (b * c + ch) * h * w + i;
        out[k] = ((x.data[k] as number) - (mean[ch] as number)) * inv * (gamma[ch] as number) + (beta[ch] as number);
      }
    }
  return { data: out, dims: x.dims };
}

export function relu(x: Tensor4): Tensor4 {
  return { data: x.data.map((v) => Math.max(0, v)), dims: x.dims };
}

export function add(a: Tensor4, b: Tensor4): Tensor4 {
  return { data: a.data.map((v, i) => v + (b.data[i] as number)), dims: a.dims };
}

/** 3×3 stride-2 max pooling with padding 1 (padding never wins). */
export function maxPool3s2(x: Tensor4): Tensor4 {
  const [n, c, h, w] = x.dims;
  const ho = Math.floor((h + 2 - 3) / 2) + 1;
  const wo = Math.floor((w + 2 - 3) / 2) + 1;
  const out = new Float32Array(n * c * ho * wo);
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y < ho; y++)
      for (let xx = 0; xx < wo; xx++) {
        let m = -Infinity;
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++) {
            const iy = y * 2 - 1 + ky;
            const ix = xx * 2 - 1 + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) m = Math.max(m, x.data[(p * h + iy) * w + ix] as number);
          }
        out[(p * ho + y) * wo + xx] = m;
      }
  return { data: out, dims: [n, c, ho, wo] };
}

/** k×k average pooling with stride k (no padding). */
export function avgPool(x: Tensor4, k: number): Tensor4 {
  const [n, c, h, w] = x.dims;
  const ho = Math.floor(h / k);
  const wo = Math.floor(w / k);
  const out = new Float32Array(n * c * ho * wo);
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y < ho; y++)
      for (let xx = 0; xx < wo; xx++) {
        let s = 0;
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) s += x.data[(p * h + y * k + ky) * w + xx * k + kx] as number;
        }
        out[(p * ho + y) * wo + xx] = s / (k * k);
      }
  return { data: out, dims: [n, c, ho, wo] };
}

/** PyTorch `interpolate(mode='nearest')`: source index floor(dst · in / out). */
export function resizeNearest(x: Tensor4, ho: number, wo: number): Tensor4 {
  const [n, c, h, w] = x.dims;
  const out = new Float32Array(n * c * ho * wo);
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y < ho; y++)
      for (let xx = 0; xx < wo; xx++) {
        const sy = Math.min(h - 1, Math.floor((y * h) / ho));
        const sx = Math.min(w - 1, Math.floor((xx * w) / wo));
        out[(p * ho + y) * wo + xx] = x.data[(p * h + sy) * w + sx] as number;
      }
  return { data: out, dims: [n, c, ho, wo] };
}

/** PyTorch `interpolate(mode='bilinear', align_corners=False)`: half-pixel centres, negative sources clamped to 0. */
export function resizeBilinear(x: Tensor4, ho: number, wo: number): Tensor4 {
  const [n, c, h, w] = x.dims;
  const taps = (dst: number, inSize: number, outSize: number): [number, number, number] => {
    const src = Math.max(0, ((dst + 0.5) * inSize) / outSize - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return [i0, i1, src - i0];
  };
  const out = new Float32Array(n * c * ho * wo);
  for (let p = 0; p < n * c; p++)
    for (let y = 0; y < ho; y++) {
      const [y0, y1, fy] = taps(y, h, ho);
      for (let xx = 0; xx < wo; xx++) {
        const [x0, x1, fx] = taps(xx, w, wo);
        const at = (yy: number, xi: number): number => x.data[(p * h + yy) * w + xi] as number;
        const top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
        const bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
        out[(p * ho + y) * wo + xx] = top * (1 - fy) + bottom * fy;
      }
    }
  return { data: out, dims: [n, c, ho, wo] };
}

/** Concatenates [N, Ci, H, W] tensors along channels. */
export function concatChannels(parts: Tensor4[]): Tensor4 {
  const [n, , h, w] = parts[0]!.dims;
  const c = parts.reduce((s, p) => s + p.dims[1], 0);
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) {
    let offset = 0;
    for (const p of parts) {
      const size = p.dims[1] * h * w;
      out.set(p.data.subarray(b * size, (b + 1) * size), (b * c * h * w) + offset * h * w);
      offset += p.dims[1];
    }
  }
  return { data: out, dims: [n, c, h, w] };
}

/** Largest |a − b|. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** A synthetic state dict: float values (already rounded to the stored dtype) by key. */
export type StateDictValues = Map<string, { shape: number[]; values: Float32Array }>;

/**
 * Random torchvision-layout weights for `spec` (stem and layers 1–3, plus `num_batches_tracked` counters and an
 * `fc.weight` that the loader must ignore). He-scaled weights keep activations of order 1 through the blocks.
 */
export function syntheticStateDict(spec: TorchvisionArchSpec, seed: number, dtype: 'F32' | 'F16' = 'F32'): StateDictValues {
  const rand = seededRandom(seed);
  const sd: StateDictValues = new Map();
  // Store what the file will hold, so references use exactly the rounded values.
  const round = (v: Float32Array): Float32Array => (dtype === 'F16' ? float16BitsToFloat32(float32ToFloat16Bits(v)) : v);
  const conv = (key: string, o: number, i: number, k: number): void => {
    const bound = Math.sqrt(6 / (i * k * k));
    sd.set(key, { shape: [o, i, k, k], values: round(uniform(rand, o * i * k * k, -bound, bound)) });
  };
  const bn = (prefix: string, c: number): void => {
    sd.set(`${prefix}.weight`, { shape: [c], values: round(uniform(rand, c, 0.5, 1.5)) });
    sd.set(`${prefix}.bias`, { shape: [c], values: round(uniform(rand, c, -0.3, 0.3)) });
    sd.set(`${prefix}.running_mean`, { shape: [c], values: round(uniform(rand, c, -0.3, 0.3)) });
    sd.set(`${prefix}.running_var`, { shape: [c], values: round(uniform(rand, c, 0.5, 2)) });
  };
  conv('conv1.weight', spec.stemChannels, 3, 7);
  bn('bn1', spec.stemChannels);
  const expansion = spec.block === 'bottleneck' ? 4 : 1;
  let inC = spec.stemChannels;
  spec.planes.forEach((planes, l) => {
    const out = planes * expansion;
    for (let b = 0; b < spec.blocks[l]!; b++) {
      const p = `layer${l + 1}.${b}`;
      const cin = b === 0 ? inC : out;
      if (spec.block === 'basic') {
        conv(`${p}.conv1.weight`, planes, cin, 3);
        bn(`${p}.bn1`, planes);
        conv(`${p}.conv2.weight`, planes, planes, 3);
        bn(`${p}.bn2`, planes);
      } else {
        const width = planes * spec.widthFactor;
        conv(`${p}.conv1.weight`, width, cin, 1);
        bn(`${p}.bn1`, width);
        conv(`${p}.conv2.weight`, width, width, 3);
        bn(`${p}.bn2`, width);
        conv(`${p}.conv3.weight`, out, width, 1);
        bn(`${p}.bn3`, out);
      }
      if (b === 0 && (l > 0 || cin !== out)) {
        conv(`${p}.downsample.0.weight`, out, cin, 1);
        bn(`${p}.downsample.1`, out);
      }
    }
    inC = out;
  });
  sd.set('fc.weight', { shape: [10, inC], values: round(uniform(rand, 10 * inC, -0.1, 0.1)) });
  return sd;
}

/** Writes a state dict as `.safetensors` in `dtype` (with I64 `num_batches_tracked` like PyTorch saves). */
export function writeStateDict(file: string, sd: StateDictValues, dtype: 'F32' | 'F16' = 'F32'): void {
  const tensors = new Map<string, { dtype: DType; shape: number[]; data: Uint8Array }>();
  for (const [key, { shape, values }] of sd) {
    const stored = dtype === 'F16' ? float32ToFloat16Bits(values) : values;
    tensors.set(key, { dtype, shape, data: new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength) });
    if (key.endsWith('.running_var')) {
      const counter = new BigInt64Array([100n]);
      const name = key.replace('running_var', 'num_batches_tracked');
      tensors.set(name, { dtype: 'I64', shape: [], data: new Uint8Array(counter.buffer) });
    }
  }
  writeFileSync(file, Buffer.concat(encodeSafetensors(tensors, { format: 'pt' })));
}

/** The torchvision forward pass (stem, layers 1–3) in plain TypeScript, BatchNorms unfolded. */
export function referenceTorchvision(sd: StateDictValues, spec: TorchvisionArchSpec, x: Tensor4): [Tensor4, Tensor4, Tensor4] {
  const w = (key: string): Float32Array => sd.get(key)!.values;
  const shape = (key: string): number[] => sd.get(key)!.shape;
  const cv = (t: Tensor4, key: string, stride: number): Tensor4 =>
    conv2d(t, w(key), shape(key), stride, Math.floor(shape(key)[2]! / 2));
  const bnr = (t: Tensor4, p: string): Tensor4 =>
    batchNorm(t, w(`${p}.weight`), w(`${p}.bias`), w(`${p}.running_mean`), w(`${p}.running_var`));
  let h = maxPool3s2(relu(bnr(cv(x, 'conv1.weight', 2), 'bn1')));
  const outs: Tensor4[] = [];
  spec.blocks.forEach((n, l) => {
    for (let b = 0; b < n; b++) {
      const p = `layer${l + 1}.${b}`;
      const stride = b === 0 && l > 0 ? 2 : 1;
      let y: Tensor4;
      if (spec.block === 'basic') {
        y = relu(bnr(cv(h, `${p}.conv1.weight`, stride), `${p}.bn1`));
        y = bnr(cv(y, `${p}.conv2.weight`, 1), `${p}.bn2`);
      } else {
        y = relu(bnr(cv(h, `${p}.conv1.weight`, 1), `${p}.bn1`));
        y = relu(bnr(cv(y, `${p}.conv2.weight`, stride), `${p}.bn2`));
        y = bnr(cv(y, `${p}.conv3.weight`, 1), `${p}.bn3`);
      }
      const projected = sd.has(`${p}.downsample.0.weight`);
      const shortcut = projected ? bnr(cv(h, `${p}.downsample.0.weight`, stride), `${p}.downsample.1`) : h;
      h = relu(add(y, shortcut));
    }
    outs.push(h);
  });
  return outs as [Tensor4, Tensor4, Tensor4];
}

/**
 * A tiny backbone whose stages are simple enough to compute by hand: stage 1 = 4×4 average pooling (3 channels),
 * stage 2 = 8×8 average pooling and its negation (6 channels, so some features are negative), stage 3 = 16×16
 * average pooling (3 channels).
 */
export function emitPoolStages(g: GraphBuilder, image: string): [string, string, string] {
  const pool = (k: number): string => g.node('AveragePool', [image], { kernel_shape: [k, k], strides: [k, k] });
  const p8 = pool(8);
  return [pool(4), g.node('Concat', [p8, g.node('Neg', [p8])], { axis: 1 }), pool(16)];
}

/** The feature grid of {@link emitPoolStages} in plain TypeScript. */
export function poolFeatures(x: Tensor4, upsample: 'nearest' | 'bilinear'): Tensor4 {
  const s1 = avgPool(x, 4);
  const p8 = avgPool(x, 8);
  const s2: Tensor4 = concatChannels([p8, { data: p8.data.map((v) => -v), dims: p8.dims }]);
  const s3 = avgPool(x, 16);
  const [, , h, w] = s1.dims;
  const resize = upsample === 'nearest' ? resizeNearest : resizeBilinear;
  return concatChannels([s1, resize(s2, h, w), resize(s3, h, w)]);
}

/**
 * A validator for `assert.throws` / `assert.rejects`: the error is an NpadInputError whose message starts with
 * `file` (when given) and contains every fragment.
 */
export function inputError(file: string | undefined, ...fragments: string[]): (e: unknown) => true {
  return (e: unknown) => {
    assert.ok(e instanceof NpadInputError, `expected NpadInputError, got ${String(e)}`);
    const msg = JSON.stringify(e.message);
    if (file !== undefined) assert.ok(e.message.startsWith(file), `message ${msg} should start with ${file}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${msg} lacks ${JSON.stringify(f)}`);
    return true;
  };
}

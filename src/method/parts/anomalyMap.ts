/**
 * From grid scores to a pixel anomaly map: bilinear upsampling to the input crop (half-pixel centres, as
 * PyTorch's interpolate with align_corners=False) and Gaussian smoothing (σ = 4 as PaDiM and PatchCore; the
 * kernel is truncated at 4σ and the border reflected, like scipy.ndimage.gaussian_filter).
 *
 * Both steps are linear and separable, so for a batch of maps they run in onnxruntime as small MatMuls:
 * map = S · U·G·Uᵀ · Sᵀ, with U the upsampling and S the smoothing as matrices along one axis
 * ({@link anomalyMaps}). The plain functions below are the same operators, kept as the reference and for
 * single maps.
 */
import { KERNEL_CHUNK_BYTES } from '../../engine/kernels.js';
import { GraphBuilder } from '../../onnx/graph.js';
import { cachedSession, runFloat } from '../../onnx/session.js';

/** For each of N outputs resized from n samples: its two source samples and the weight of the second. */
interface BilinearTaps {
  lo: Int32Array;
  hi: Int32Array;
  t: Float64Array;
}

/** Bilinear taps along one axis, n → N samples (half-pixel centres, clamped at the border). */
function bilinearTaps(n: number, N: number): BilinearTaps {
  const taps = { lo: new Int32Array(N), hi: new Int32Array(N), t: new Float64Array(N) };
  const scale = n / N;
  for (let i = 0; i < N; i++) {
    const f = Math.max(0, (i + 0.5) * scale - 0.5);
    const lo = Math.min(n - 1, Math.floor(f));
    taps.lo[i] = lo;
    taps.hi[i] = Math.min(n - 1, lo + 1);
    taps.t[i] = f - lo;
  }
  return taps;
}

/** Bilinear upsampling of an h×w map to H×W. */
export function upsampleBilinear(map: ArrayLike<number>, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  const ys = bilinearTaps(h, H);
  const xs = bilinearTaps(w, W);
  for (let y = 0; y < H; y++) {
    const r0 = ys.lo[y]! * w;
    const r1 = ys.hi[y]! * w;
    const ty = ys.t[y]!;
    for (let x = 0; x < W; x++) {
      const x0 = xs.lo[x]!;
      const x1 = xs.hi[x]!;
      const tx = xs.t[x]!;
      const top = map[r0 + x0]! * (1 - tx) + map[r0 + x1]! * tx;
      const bottom = map[r1 + x0]! * (1 - tx) + map[r1 + x1]! * tx;
      out[y * W + x] = top * (1 - ty) + bottom * ty;
    }
  }
  return out;
}

/** Normalised 1-D Gaussian kernel of radius round(4σ). */
export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.round(4 * sigma);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/** scipy's 'reflect' border (d c b a | a b c d | d c b a). */
function reflect(i: number, n: number): number {
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

/**
 * Separable Gaussian smoothing of an H×W map (σ in pixels; σ = 0 returns a copy).
 * Both passes run along contiguous memory (each row is copied once with its reflected border; the vertical pass
 * adds whole rows), with each output's sum taken in the kernel's order in float64, as a per-pixel loop would.
 */
export function gaussianSmooth(map: Float32Array, H: number, W: number, sigma: number): Float32Array {
  if (sigma <= 0) return map.slice();
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const tmp = new Float32Array(H * W);
  const padded = new Float64Array(W + 2 * r);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = -r; x < W + r; x++) padded[x + r] = map[row + reflect(x, W)]!;
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let i = 0; i < k.length; i++) s += k[i]! * padded[x + i]!;
      tmp[row + x] = s;
    }
  }
  const out = new Float32Array(H * W);
  const acc = new Float64Array(W);
  for (let y = 0; y < H; y++) {
    acc.fill(0);
    for (let i = -r; i <= r; i++) {
      const weight = k[i + r]!;
      const src = reflect(y + i, H) * W;
      for (let x = 0; x < W; x++) acc[x]! += weight * tmp[src + x]!;
    }
    out.set(acc, y * W);
  }
  return out;
}

/** The h → H bilinear upsampling along one axis as an H×h matrix (the weights upsampleBilinear uses). */
export function bilinearMatrix(h: number, H: number): Float32Array {
  const m = new Float32Array(H * h);
  const { lo, hi, t } = bilinearTaps(h, H);
  for (let y = 0; y < H; y++) {
    m[y * h + lo[y]!]! += 1 - t[y]!;
    m[y * h + hi[y]!]! += t[y]!;
  }
  return m;
}

/** The 1-D Gaussian smoothing of n samples (radius round(4σ), scipy's reflect border) as an n×n matrix. */
export function gaussianMatrix(n: number, sigma: number): Float32Array {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let t = -r; t <= r; t++) m[i * n + reflect(i + t, n)]! += k[t + r]!;
  return Float32Array.from(m);
}

/** How the aligned copies of one image's map are combined (N-pad's module D; one copy: no choice). */
export type CopyAggregate = 'min' | 'mean';

/**
 * Anomaly maps of M images from their grid scores [M, V, h, w]: each of the V aligned copies upsampled to
 * height × width (the network input), the copies combined (minimum or mean), then smoothed with σ (0: none).
 * Returns [M, height, width]. One onnxruntime call; float32 arithmetic, within ~1e-6 relative of the float64
 * plain functions.
 */
export async function anomalyMaps(
  grids: Float32Array,
  images: number,
  copies: number,
  h: number,
  w: number,
  height: number,
  width: number,
  sigma: number,
  aggregate: CopyAggregate,
): Promise<Float32Array> {
  const key = `anomalyMaps:${h}:${w}:${height}:${width}:${sigma}:${copies > 1 ? aggregate : 'one'}`;
  const session = await cachedSession(key, () => {
    const g = new GraphBuilder('anomalyMaps');
    const grid = g.input('grid', 'float', ['m', copies, h, w]);
    const uy = g.constFloat(bilinearMatrix(h, height), [height, h]);
    const uxT = g.node('Transpose', [g.constFloat(bilinearMatrix(w, width), [width, w])], { perm: [1, 0] });
    const up = g.node('MatMul', [g.node('MatMul', [uy, grid]), uxT]); // [m, V, height, width]
    const merged = copies === 1 ? g.node('Squeeze', [up, g.constInt64([1])]) : g.node(aggregate === 'min' ? 'ReduceMin' : 'ReduceMean', [up], { axes: [1], keepdims: 0 });
    if (sigma > 0) {
      // Columns smoothed by the height × height matrix on the left, rows by the width × width one on the right.
      const smoothY = g.constFloat(gaussianMatrix(height, sigma), [height, height]);
      const smoothXT = g.node('Transpose', [g.constFloat(gaussianMatrix(width, sigma), [width, width])], { perm: [1, 0] });
      g.node('MatMul', [g.node('MatMul', [smoothY, merged]), smoothXT], {}, 'maps');
    } else {
      g.node('Identity', [merged], {}, 'maps');
    }
    g.output('maps', 'float', ['m', height, width]);
    return g.build();
  }, { arena: true });
  // Runs of images whose upsampled copies [m, V, height, width] stay within a kernel run (the session keeps its arena).
  const pixels = height * width;
  const run = Math.max(1, Math.floor(KERNEL_CHUNK_BYTES / (4 * copies * pixels)));
  const perImage = copies * h * w;
  const maps = new Float32Array(images * pixels);
  for (let m0 = 0; m0 < images; m0 += run) {
    const n = Math.min(run, images - m0);
    const out = await runFloat(session, { grid: { data: grids.subarray(m0 * perImage, (m0 + n) * perImage), dims: [n, copies, h, w] } });
    maps.set(out.maps!.data, m0 * pixels);
  }
  return maps;
}

/** The largest value of a map (an image score from its map). */
export function maxOf(values: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > m) m = values[i]!;
  return m;
}

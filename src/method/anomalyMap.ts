/**
 * From grid scores to a pixel anomaly map: bilinear upsampling to the input crop (half-pixel centres, as
 * PyTorch's interpolate with align_corners=False) and Gaussian smoothing (σ = 4 as PaDiM and PatchCore; the
 * kernel is truncated at 4σ and the border reflected, like scipy.ndimage.gaussian_filter).
 */

/** Bilinear upsampling of an h×w map to H×W. */
export function upsampleBilinear(map: ArrayLike<number>, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W);
  const sy = h / H;
  const sx = w / W;
  for (let y = 0; y < H; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(h - 1, Math.floor(fy));
    const y1 = Math.min(h - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5);
      const x0 = Math.min(w - 1, Math.floor(fx));
      const x1 = Math.min(w - 1, x0 + 1);
      const tx = fx - x0;
      const top = map[y0 * w + x0]! * (1 - tx) + map[y0 * w + x1]! * tx;
      const bottom = map[y1 * w + x0]! * (1 - tx) + map[y1 * w + x1]! * tx;
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

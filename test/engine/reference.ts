/**
 * Plain float64 TypeScript versions of the onnxruntime kernels, slow and obvious, for tests on small cases.
 */

/** Inverse of a d×d matrix by Gauss–Jordan elimination with partial pivoting (float64). */
export function invertReference(a: ArrayLike<number>, d: number): Float64Array {
  const m = new Float64Array(d * 2 * d);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) m[r * 2 * d + c] = a[r * d + c]!;
    m[r * 2 * d + d + r] = 1;
  }
  const w = 2 * d;
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(m[r * w + col]!) > Math.abs(m[pivot * w + col]!)) pivot = r;
    if (m[pivot * w + col] === 0) throw new RangeError('matrix is singular');
    for (let c = 0; c < w; c++) {
      const t = m[col * w + c]!;
      m[col * w + c] = m[pivot * w + c]!;
      m[pivot * w + c] = t;
    }
    const inv = 1 / m[col * w + col]!;
    for (let c = 0; c < w; c++) m[col * w + c]! *= inv;
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = m[r * w + col]!;
      if (f === 0) continue;
      for (let c = 0; c < w; c++) m[r * w + c]! -= f * m[col * w + c]!;
    }
  }
  const out = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) out[r * d + c] = m[r * w + d + c]!;
  return out;
}

/** Squared Mahalanobis distance (x − μ)ᵀ P (x − μ) in float64. */
export function mahalanobisReference(x: ArrayLike<number>, mean: ArrayLike<number>, precision: ArrayLike<number>, d: number): number {
  let total = 0;
  for (let r = 0; r < d; r++) {
    let row = 0;
    for (let c = 0; c < d; c++) row += precision[r * d + c]! * (x[c]! - mean[c]!);
    total += (x[r]! - mean[r]!) * row;
  }
  return total;
}

/** Unbiased covariance of n samples [n, d] in float64 (two-pass: mean first, then centred products). */
export function covarianceReference(samples: ArrayLike<number>, n: number, d: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c]! += samples[i * d + c]! / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < d; r++) {
      const xr = samples[i * d + r]! - mean[r]!;
      for (let c = 0; c < d; c++) cov[r * d + c]! += (xr * (samples[i * d + c]! - mean[c]!)) / (n - 1);
    }
  }
  return { mean, cov };
}

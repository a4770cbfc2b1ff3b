/**
 * Module B's aggregated features (paper §3.3): each position's feature averaged over its (2r+1)² window,
 * positions outside the grid left out of the average (adaptive pooling at the border, no zero padding).
 */

/** Box-averages channel-major features [B, d, h, w] over square windows; returns a new array. */
export function averageNeighbourhood(features: Float32Array, batch: number, dim: number, height: number, width: number, radius: number): Float32Array {
  if (radius === 0) return features.slice();
  const out = new Float32Array(features.length);
  const plane = height * width;
  const rows = new Float32Array(plane);
  for (let m = 0; m < batch * dim; m++) {
    const base = m * plane;
    // Separable: horizontal window sums, then vertical sums of those, divided by the clipped window area.
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let dx = Math.max(0, x - radius); dx <= Math.min(width - 1, x + radius); dx++) s += features[base + y * width + dx]!;
        rows[y * width + x] = s;
      }
    }
    for (let y = 0; y < height; y++) {
      const y0 = Math.max(0, y - radius);
      const y1 = Math.min(height - 1, y + radius);
      for (let x = 0; x < width; x++) {
        const nx = Math.min(width - 1, x + radius) - Math.max(0, x - radius) + 1;
        let s = 0;
        for (let yy = y0; yy <= y1; yy++) s += rows[yy * width + x]!;
        out[base + y * width + x] = s / (nx * (y1 - y0 + 1));
      }
    }
  }
  return out;
}

/**
 * Neighbourhoods on the feature grid: the square window of a given radius around a position, clipped at
 * the border (paper §3.2 for training, §3.4 for inference).
 */

/** Neighbour lists of every position of an h×w grid, padded to a fixed width for batching. */
export interface Neighbourhoods {
  /** Window width (2r+1)²: the fixed number of entries per position. */
  perPosition: number;
  /** [P, perPosition] neighbour indices; clipped windows are padded with the position itself. */
  indices: Int32Array;
  /** [P, perPosition] 1 for a real neighbour, 0 for padding. */
  valid: Uint8Array;
}

/**
 * (2r+1)×(2r+1) windows, row-major, the centre included. 'cross' keeps only the window's own row and column
 * (the other entries become padding, so the layout stays the same).
 */
export function squareNeighbourhoods(height: number, width: number, radius: number, shape: 'square' | 'cross' = 'square'): Neighbourhoods {
  const side = 2 * radius + 1;
  const perPosition = side * side;
  const P = height * width;
  const indices = new Int32Array(P * perPosition);
  const valid = new Uint8Array(P * perPosition);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      let k = p * perPosition;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++, k++) {
          const ny = y + dy;
          const nx = x + dx;
          const inside = ny >= 0 && ny < height && nx >= 0 && nx < width && (shape === 'square' || dx === 0 || dy === 0);
          indices[k] = inside ? ny * width + nx : p;
          valid[k] = inside ? 1 : 0;
        }
      }
    }
  }
  return { perPosition, indices, valid };
}

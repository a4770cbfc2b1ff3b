/**
 * Connected-component labelling of binary masks, used by PRO to split a
 * ground-truth mask into individual defects ("regions").
 */

import { assertIntegerAtLeast } from './validate.js';

/** The result of {@link labelConnectedComponents}. */
export interface ConnectedComponents {
  /** Per pixel (row-major): 0 for background, 1..count for the component it belongs to. */
  readonly labels: Int32Array;
  /** Number of components. */
  readonly count: number;
}

/**
 * Labels the 4-connected components of a binary mask (pixels touching by an edge
 * belong together; diagonal neighbours do not). 4-connectivity matches
 * `scipy.ndimage.label` with its default structure, which the official MVTec AD
 * evaluation code uses, so region counts — and hence PRO — agree with it.
 *
 * Components are numbered in row-major order of their first pixel. The flood
 * fill uses an explicit stack (no recursion), so a 1000×1000 all-foreground mask
 * is fine; memory is one Int32Array for the labels plus one for the stack.
 *
 * @param mask - row-major width×height pixels, 1 = foreground, 0 = background
 * @param width - mask width in pixels (integer ≥ 1)
 * @param height - mask height in pixels (integer ≥ 1)
 * @throws RangeError on bad dimensions, a mask length ≠ width·height, or a mask value other than 0/1
 */
export function labelConnectedComponents(mask: Uint8Array, width: number, height: number): ConnectedComponents {
  assertMaskShape(mask, width, height, 'mask');
  const labels = new Int32Array(mask.length);
  // Each pixel is pushed at most once (it is labelled when pushed), so mask.length bounds the stack.
  const stack = new Int32Array(mask.length);
  let count = 0;
  for (let seed = 0; seed < mask.length; seed++) {
    if (mask[seed] === 0 || labels[seed] !== 0) continue;
    count++;
    labels[seed] = count;
    let stackSize = 0;
    stack[stackSize++] = seed;
    while (stackSize > 0) {
      const pixel = stack[--stackSize]!;
      const x = pixel % width;
      // Neighbours in the four edge directions, skipping those past the mask's border.
      if (x > 0 && mask[pixel - 1] !== 0 && labels[pixel - 1] === 0) {
        labels[pixel - 1] = count;
        stack[stackSize++] = pixel - 1;
      }
      if (x < width - 1 && mask[pixel + 1] !== 0 && labels[pixel + 1] === 0) {
        labels[pixel + 1] = count;
        stack[stackSize++] = pixel + 1;
      }
      if (pixel >= width && mask[pixel - width] !== 0 && labels[pixel - width] === 0) {
        labels[pixel - width] = count;
        stack[stackSize++] = pixel - width;
      }
      if (pixel + width < mask.length && mask[pixel + width] !== 0 && labels[pixel + width] === 0) {
        labels[pixel + width] = count;
        stack[stackSize++] = pixel + width;
      }
    }
  }
  return { labels, count };
}

/**
 * Throws a RangeError unless the dimensions are positive integers and `mask` is a
 * width·height array of 0/1 values.
 * @param mask - the mask to check
 * @param width - expected width in pixels
 * @param height - expected height in pixels
 * @param what - how the error message refers to the mask, e.g. "masks[2]"
 */
export function assertMaskShape(mask: Uint8Array, width: number, height: number, what: string): void {
  assertIntegerAtLeast('width', width, 1);
  assertIntegerAtLeast('height', height, 1);
  if (mask.length !== width * height) {
    throw new RangeError(`${what}.length = ${mask.length} but width × height = ${width} × ${height} = ${width * height}`);
  }
  for (let i = 0; i < mask.length; i++) {
    const value = mask[i]!;
    if (value > 1) {
      throw new RangeError(`${what}[${i}] = ${value}: mask pixels must be 0 (nominal) or 1 (anomalous)`);
    }
  }
}

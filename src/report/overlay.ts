/**
 * Pictures of a prediction: the anomaly map as a heatmap over the image the network saw (the resized,
 * centre-cropped input, so every pixel lines up with the map), with the outline of the predicted defect mask and,
 * for evaluation reports, of the ground truth; and the binary defect mask itself.
 */
import sharp from 'sharp';
import { normalisePixelScore, type ScoreCalibration } from '../detector/calibration.js';
import type { Prediction } from '../detector/predict.js';
import { centreOffset, resizeBilinear, validatePreprocessOptions, type PreprocessOptions, inputSize } from '../image/preprocess.js';
import { decodeImageSource, type ImageSource } from '../image/source.js';

/** Extra layers of an overlay. */
export interface OverlayOptions {
  /** ground-truth mask (size×size, 1 = defect), outlined in green */
  groundTruth?: Uint8Array;
  /** outline the predicted mask (default true), in white */
  outlinePrediction?: boolean;
}

/** Colour stops of the heatmap over normalised scores: blue (typical good, 0.1) → yellow (threshold, 0.5) → red. */
const HEAT_STOPS: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 0, 140],
  [0.3, 0, 140, 255],
  [0.5, 255, 230, 0],
  [0.75, 255, 110, 0],
  [1, 220, 0, 0],
];

/** Heatmap colour (0–255 RGB) of a normalised score in [0, 1]. */
export function heatColour(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  for (let s = 1; s < HEAT_STOPS.length; s++) {
    const [t1, r1, g1, b1] = HEAT_STOPS[s]!;
    if (x <= t1) {
      const [t0, r0, g0, b0] = HEAT_STOPS[s - 1]!;
      const f = (x - t0) / (t1 - t0);
      return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)];
    }
  }
  const [, r, g, b] = HEAT_STOPS[HEAT_STOPS.length - 1]!;
  return [r, g, b];
}

/** Pixels within `width` of the edge of a mask's regions (inside them), the image border counting as outside. */
export function maskOutline(mask: Uint8Array, size: number, width = 2): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!mask[y * size + x]) continue;
      let edge = false;
      for (let dy = -width; dy <= width && !edge; dy++) {
        for (let dx = -width; dx <= width && !edge; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          edge = yy < 0 || xx < 0 || yy >= size || xx >= size || !mask[yy * size + xx];
        }
      }
      if (edge) out[y * size + x] = 1;
    }
  }
  return out;
}

/** The input as the network saw it, before normalisation: RGB in [0, 1], size×size. */
async function networkView(input: ImageSource, preprocess: PreprocessOptions): Promise<Float32Array> {
  const { resize, crop } = validatePreprocessOptions(preprocess);
  const img = resizeBilinear(await decodeImageSource(input), resize, resize);
  const size = inputSize(preprocess);
  const offset = crop === null ? 0 : centreOffset(resize, crop);
  const out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) out.set(img.data.subarray(((offset + y) * resize + offset) * 3, ((offset + y) * resize + offset + size) * 3), y * size * 3);
  return out;
}

/**
 * A PNG (size×size, 8-bit RGB) of the input as the network saw it (resized and centre-cropped as `preprocess`
 * says), tinted by the anomaly map: each pixel's normalised score (the pixel threshold ↦ 0.5, yellow) picks the
 * colour, and the more anomalous the pixel the stronger the tint; the predicted mask is outlined in white and
 * `options.groundTruth`, when given, in green.
 *
 * @param input the image that was scored (file path, bytes or pixels)
 * @param prediction its prediction (map and mask size must match the preprocessing)
 * @param preprocess the detector's resize and crop
 * @param calibration the detector's calibration (its pixel threshold and typical pixel score set the colours)
 * @throws NpadInputError when the input cannot be decoded; RangeError when the sizes do not match
 */
export async function renderOverlayPng(
  input: ImageSource,
  prediction: Prediction,
  preprocess: PreprocessOptions,
  calibration: ScoreCalibration,
  options: OverlayOptions = {},
): Promise<Buffer> {
  const size = inputSize(preprocess);
  const n = size * size;
  if (prediction.size !== size || prediction.map.length !== n) {
    throw new RangeError(`prediction map is ${prediction.size}×${prediction.size} but the preprocessing gives ${size}×${size}`);
  }
  if (options.groundTruth && options.groundTruth.length !== n) throw new RangeError(`ground truth has ${options.groundTruth.length} pixels, expected ${n}`);
  const view = await networkView(input, preprocess);
  const rgb = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const t = normalisePixelScore(calibration, prediction.map[i]!);
    const colour = heatColour(t);
    // Typical good pixels (0.1) stay close to the photograph; defects are painted over.
    const alpha = 0.15 + 0.55 * t;
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round((1 - alpha) * 255 * view[i * 3 + c]! + alpha * colour[c]!);
  }
  const paint = (outline: Uint8Array, colour: readonly [number, number, number]): void => {
    for (let i = 0; i < n; i++) if (outline[i]) rgb.set(colour, i * 3);
  };
  if (options.outlinePrediction ?? true) paint(maskOutline(prediction.mask, size), [255, 255, 255]);
  if (options.groundTruth) paint(maskOutline(options.groundTruth, size), [0, 230, 0]);
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

/**
 * A PNG (size×size, 8-bit greyscale) of the prediction's defect mask: 255 where the pixel score is at or above
 * the pixel threshold, 0 elsewhere; aligned with the resized, centre-cropped input.
 */
export async function renderMaskPng(prediction: Prediction): Promise<Buffer> {
  const { size, mask } = prediction;
  if (mask.length !== size * size) throw new RangeError(`mask has ${mask.length} pixels, expected ${size}×${size}`);
  const grey = Buffer.alloc(mask.length);
  for (let i = 0; i < mask.length; i++) grey[i] = mask[i] ? 255 : 0;
  // b-w: without it sharp writes one grey channel as three.
  return sharp(grey, { raw: { width: size, height: size, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

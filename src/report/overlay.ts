/**
 * Pictures of a prediction: the anomaly map as a heatmap over the image (at the map's size: a prediction's map
 * is the image's own; an evaluation's covers the network input, for the benchmark's crop the resized,
 * centre-cropped image), with the outline of the predicted defect mask and, for evaluation reports, of the ground
 * truth; and the binary defect mask itself.
 */
import sharp from 'sharp';
import { normalisePixelScore, type ScoreCalibration } from '../detector/calibration.js';
import type { Prediction } from '../detector/predict.js';
import { centreOffset, resizeBilinear, validatePreprocessOptions, type CropPreprocess } from '../image/preprocess.js';
import { decodeImageSource, type ImageSource } from '../image/source.js';

/** Extra layers of an overlay. */
export interface OverlayOptions {
  /** ground-truth mask (the map's size, 1 = defect), outlined in green */
  groundTruth?: Uint8Array;
  /** outline the predicted mask (default true), in white */
  outlinePrediction?: boolean;
  /** the benchmark's preprocessing, when the map covers its centre crop rather than the whole image */
  crop?: CropPreprocess;
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

/** Pixels within `thickness` of the edge of a mask's regions (inside them), the image border counting as outside. */
export function maskOutline(mask: Uint8Array, width: number, height: number, thickness = 2): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      let edge = false;
      for (let dy = -thickness; dy <= thickness && !edge; dy++) {
        for (let dx = -thickness; dx <= thickness && !edge; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          edge = yy < 0 || xx < 0 || yy >= height || xx >= width || !mask[yy * width + xx];
        }
      }
      if (edge) out[y * width + x] = 1;
    }
  }
  return out;
}

/**
 * The image under the map, RGB in [0, 1] at the map's size: with `crop`, the benchmark's resized, centre-cropped
 * input the network saw (an evaluation report of a crop model); otherwise the whole image resized to the map
 * (a prediction's map is the image's own size, so this is the image itself).
 */
async function viewUnderMap(input: ImageSource, width: number, height: number, crop?: CropPreprocess): Promise<Float32Array> {
  const decoded = await decodeImageSource(input);
  if (!crop) return resizeBilinear(decoded, width, height).data;
  const { resize } = validatePreprocessOptions(crop) as CropPreprocess;
  const img = resizeBilinear(decoded, resize, resize);
  const offset = crop.crop === null ? 0 : centreOffset(resize, crop.crop);
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) out.set(img.data.subarray(((offset + y) * resize + offset) * 3, ((offset + y) * resize + offset + width) * 3), y * width * 3);
  return out;
}

/**
 * A PNG (8-bit RGB, the map's size) of the image under the prediction's map, tinted by it: each pixel's
 * normalised score (the pixel threshold ↦ 0.5, yellow) picks the colour, and the more anomalous the pixel the
 * stronger the tint; the predicted mask is outlined in white and `options.groundTruth`, when given, in green.
 *
 * @param input the image that was scored (file path, bytes or pixels)
 * @param prediction its prediction: over the image itself (Detector.predict), or over the network's input
 * @param calibration the detector's calibration (its pixel threshold and typical pixel score set the colours)
 * @param options extra layers; `crop` when the map covers the benchmark's centre crop (an evaluation's maps)
 * @throws NpadInputError when the input cannot be decoded; RangeError when the sizes do not match
 */
export async function renderOverlayPng(
  input: ImageSource,
  prediction: Prediction,
  calibration: ScoreCalibration,
  options: OverlayOptions = {},
): Promise<Buffer> {
  const { width, height } = prediction;
  const n = width * height;
  if (prediction.map.length !== n || prediction.mask.length !== n) {
    throw new RangeError(`prediction map has ${prediction.map.length} pixels but is ${width}×${height}`);
  }
  if (options.groundTruth && options.groundTruth.length !== n) throw new RangeError(`ground truth has ${options.groundTruth.length} pixels, expected ${n}`);
  const view = await viewUnderMap(input, width, height, options.crop);
  const rgb = Buffer.alloc(n * 3);
  for (let i = 0; i < n; i++) {
    const t = normalisePixelScore(calibration, prediction.map[i]!);
    const colour = heatColour(t);
    // Typical good pixels (0.1) stay close to the photograph; defects are painted over.
    const alpha = 0.15 + 0.55 * t;
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round((1 - alpha) * 255 * view[i * 3 + c]! + alpha * colour[c]!);
  }
  // Outlines stay visible on large photos: 2 px on a network input, thicker in proportion on bigger images.
  const thickness = Math.max(2, Math.round(Math.max(width, height) / 300));
  const paint = (outline: Uint8Array, colour: readonly [number, number, number]): void => {
    for (let i = 0; i < n; i++) if (outline[i]) rgb.set(colour, i * 3);
  };
  if (options.outlinePrediction ?? true) paint(maskOutline(prediction.mask, width, height, thickness), [255, 255, 255]);
  if (options.groundTruth) paint(maskOutline(options.groundTruth, width, height, thickness), [0, 230, 0]);
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/**
 * A PNG (8-bit greyscale, the mask's size) of the prediction's defect mask: 255 where the pixel score is at or
 * above the pixel threshold, 0 elsewhere; aligned with the image the prediction's map covers.
 */
export async function renderMaskPng(prediction: Prediction): Promise<Buffer> {
  const { width, height, mask } = prediction;
  if (mask.length !== width * height) throw new RangeError(`mask has ${mask.length} pixels, expected ${width}×${height}`);
  const grey = Buffer.alloc(mask.length);
  for (let i = 0; i < mask.length; i++) grey[i] = mask[i] ? 255 : 0;
  // b-w: without it sharp writes one grey channel as three.
  return sharp(grey, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

/**
 * Verdicts: a scored image turned into good / defective, a normalised score and a defect mask by a calibration;
 * and the prediction loop that decodes inputs first, so an unreadable image is reported and skipped while the
 * others are still scored.
 */
import { NpadInputError } from '../errors.js';
import { centreOffset, inputShape, isWhole, resizeBilinear, type PreprocessOptions } from '../image/preprocess.js';
import type { RgbImage } from '../image/rgbImage.js';
import type { ImageSize } from '../image/wholeImage.js';
import { upsampleBilinear } from '../method/parts/anomalyMap.js';
import { decodeImageSource, imageSourceName, type DecodedImage, type ImageSource } from '../image/source.js';
import { normaliseImageScore, type ScoreCalibration } from './calibration.js';
import type { ScoredImage, ScoredImageHandler } from '../method/types.js';

/** The verdict on one image. */
export interface Prediction {
  /** 'defective' when the image score is at or above the calibration's image threshold */
  verdict: 'good' | 'defective';
  /** raw image score */
  score: number;
  /** the image score normalised so the threshold is 0.5 and a typical good image 0.1 (docs/scores.md) */
  normalisedScore: number;
  /**
   * raw pixel scores, width × height, row-major: from {@link Detector.predict}, over the image itself (as decoded,
   * EXIF orientation applied); with the benchmark's crop, 0 outside the part the network saw
   */
  map: Float32Array;
  /** width of the map and mask */
  width: number;
  /** height of the map and mask */
  height: number;
  /** 1 where map ≥ the calibration's pixel threshold, else 0 */
  mask: Uint8Array;
}

/** Receives each prediction, in input order (`index` into the inputs given). */
export type PredictionHandler = (index: number, prediction: Prediction) => void | Promise<void>;

/** Receives each input that could not be read or decoded, in input order. */
export type SkippedImageHandler = (index: number, error: NpadInputError) => void | Promise<void>;

/** Turns a scored image into a verdict with a calibration; its map and mask stay the size they are. */
export function predictionFrom(result: ScoredImage, calibration: ScoreCalibration): Prediction {
  const mask = new Uint8Array(result.map.length);
  for (let i = 0; i < mask.length; i++) mask[i] = result.map[i]! >= calibration.pixelThreshold ? 1 : 0;
  return {
    verdict: result.score >= calibration.imageThreshold ? 'defective' : 'good',
    score: result.score,
    normalisedScore: normaliseImageScore(calibration, result.score),
    map: result.map,
    width: result.width,
    height: result.height,
    mask,
  };
}

/**
 * A scored image's map brought onto the image itself (`image`, its decoded size): the whole image's map or its
 * tiles' mosaic resized bilinearly; the benchmark crop's map put back where the crop lies in the resized square,
 * 0 around it (not inspected), then resized.
 */
export function mapOnImage(result: ScoredImage, preprocess: PreprocessOptions, image: ImageSize): ScoredImage {
  let { map, width, height } = result;
  if (!isWhole(preprocess) && preprocess.crop !== null) {
    const { resize, crop } = preprocess;
    const offset = centreOffset(resize, crop);
    const frame = new Float32Array(resize * resize);
    for (let y = 0; y < crop; y++) frame.set(map.subarray(y * crop, (y + 1) * crop), (offset + y) * resize + offset);
    [map, width, height] = [frame, resize, resize];
  }
  if (width === image.width && height === image.height) return { ...result, map, width, height };
  return { map: upsampleBilinear(map, height, width, image.height, image.width), width: image.width, height: image.height, score: result.score };
}

/** The decoded image as the scorer takes it: resized to its input already (resizing again to that size is exact); tiles are cut from the image itself. */
function resizedForScoring(image: RgbImage, preprocess: PreprocessOptions): RgbImage {
  if (!isWhole(preprocess)) return resizeBilinear(image, preprocess.resize, preprocess.resize);
  if (preprocess.tile) return image;
  const { width, height } = inputShape(preprocess);
  return resizeBilinear(image, width, height);
}

/**
 * Images decoded (and resized) ahead of scoring at once: bounds the pixels held, and matches the 16 crops per
 * backbone call N-pad scores with (src/method/npad/score.ts), so a smaller chunk would not cap the batch.
 */
const IMAGES_PER_CHUNK = 16;

/** What prediction needs of a detector. */
export interface PredictingScorer {
  /** the detector's resize and crop */
  preprocess: PreprocessOptions;
  /** scores images in order */
  score(inputs: readonly ImageSource[], onImage: ScoredImageHandler): Promise<void>;
}

/**
 * Predicts a verdict for each input, its map and mask on the image's own pixels ({@link mapOnImage}). Inputs are
 * decoded a few at a time before scoring; one that cannot be read or decoded goes to `onSkip` (or, without
 * `onSkip`, stops the run with its NpadInputError) and the rest are scored. Each is decoded once: the scorer
 * receives the pixels, already resized (resizing to the same size again is exact), so the scores are those of
 * scoring the files themselves.
 */
export async function predictImages(
  scorer: PredictingScorer,
  calibration: ScoreCalibration,
  inputs: readonly ImageSource[],
  onResult: PredictionHandler,
  onSkip?: SkippedImageHandler,
): Promise<void> {
  const pre = scorer.preprocess;
  for (let start = 0; start < inputs.length; start += IMAGES_PER_CHUNK) {
    const chunk = inputs.slice(start, start + IMAGES_PER_CHUNK);
    const decoded = await Promise.allSettled(chunk.map((input) => decodeImageSource(input)));
    const ready: DecodedImage[] = [];
    const sizes: ImageSize[] = [];
    const indices: number[] = [];
    const skipped: { index: number; error: NpadInputError }[] = [];
    for (let j = 0; j < chunk.length; j++) {
      const d = decoded[j]!;
      if (d.status === 'fulfilled') {
        ready.push({ name: imageSourceName(chunk[j]!), image: resizedForScoring(d.value, pre) });
        sizes.push({ width: d.value.width, height: d.value.height });
        indices.push(start + j);
      } else if (d.reason instanceof NpadInputError && onSkip) {
        skipped.push({ index: start + j, error: d.reason });
      } else {
        throw d.reason;
      }
    }
    // Skips are reported between the results, so the handlers see every index in order.
    const flushSkipsBefore = async (index: number): Promise<void> => {
      while (skipped.length && skipped[0]!.index < index) {
        const s = skipped.shift()!;
        await onSkip!(s.index, s.error);
      }
    };
    if (ready.length) {
      await scorer.score(ready, async (k, r) => {
        await flushSkipsBefore(indices[k]!);
        await onResult(indices[k]!, predictionFrom(mapOnImage(r, pre, sizes[k]!), calibration));
      });
    }
    await flushSkipsBefore(Infinity);
  }
}

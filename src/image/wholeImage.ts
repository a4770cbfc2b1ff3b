/**
 * The whole image as the network sees it (preprocess mode 'whole', ./preprocess.ts): the input shape a fit
 * chooses from its images, the tiles a high-resolution image is cut into, and where each tile's map goes in the
 * image's map.
 *
 * Per-position models (N-pad, PaDiM) keep one Gaussian per feature cell, so every image must reach the network at
 * one shape: the fit takes its images' median aspect ratio and scales it to the area of a side × side square
 * (224², the benchmark crop's, by default), rounded to the backbone's stride of 16. An image of another aspect
 * ratio is stretched to that shape, as every image is in the benchmark's square.
 *
 * Tiles: a photo of 3000 × 2000 px brought to 272 × 184 shrinks a 20 px defect to under 2 px, less than one
 * feature cell (4 px). Cut into square tiles of `size` px of the original, each resized to side × side, the same
 * defect keeps its share of a tile. All tiles of all images share one model (a tile's position in the photo is not
 * modelled, as in anomalib's tiler), which suits surfaces and repeated parts; a part whose look depends on where
 * it sits in the photo is better served by the whole image. Neighbouring tiles overlap by at least `overlap` px;
 * where they do, their maps are averaged.
 */
import { INPUT_STRIDE, MAX_RESIZE, MIN_INPUT, type InputShape, type TileOptions, type WholePreprocess } from './preprocess.js';
import type { Rect } from './rgbImage.js';

/** Width and height of an image in pixels. */
export interface ImageSize {
  width: number;
  height: number;
}

/**
 * The network input shape for images of these sizes: the median aspect ratio (of width / height, taken on its
 * logarithm so that 2:1 and 1:2 weigh alike) at the area of side × side, each side a multiple of 16 within
 * 32 … 1024. Tiles are square: side × side.
 *
 * @param pre the whole-image options (side, tiles)
 * @param sizes the training images' sizes (at least one)
 */
export function chooseInputShape(pre: WholePreprocess, sizes: readonly ImageSize[]): InputShape {
  if (pre.tile) return { width: pre.side, height: pre.side };
  if (sizes.length === 0) throw new RangeError('the input shape needs at least one image size');
  const logs = sizes.map((s) => Math.log(s.width / s.height)).sort((a, b) => a - b);
  const mid = logs.length >> 1;
  const logAspect = logs.length % 2 === 1 ? logs[mid]! : (logs[mid - 1]! + logs[mid]!) / 2;
  const root = Math.exp(logAspect / 2);
  const toStride = (v: number): number => Math.min(Math.floor(MAX_RESIZE / INPUT_STRIDE) * INPUT_STRIDE, Math.max(MIN_INPUT, Math.round(v / INPUT_STRIDE) * INPUT_STRIDE));
  return { width: toStride(pre.side * root), height: toStride(pre.side / root) };
}

/**
 * How far the images' aspect ratios stray from the input shape's: the largest factor by which an image is
 * stretched along one axis more than the other (1: none). A fit warns above {@link STRETCH_WARNING}.
 */
export function largestStretch(shape: InputShape, sizes: readonly ImageSize[]): number {
  const target = shape.width / shape.height;
  let worst = 1;
  for (const s of sizes) {
    const r = s.width / s.height / target;
    worst = Math.max(worst, r, 1 / r);
  }
  return worst;
}

/** Stretch (one axis against the other) above which a fit warns that its images differ in aspect ratio. */
export const STRETCH_WARNING = 1.1;

/**
 * The square tiles covering an image: side min(size, width, height), as few per axis as keep neighbours
 * overlapping by at least `overlap` px, spread evenly so the first and last touch the image's edges.
 */
export function tileRects(image: ImageSize, tile: TileOptions): Rect[] {
  const side = Math.min(tile.size, image.width, image.height);
  const overlap = Math.min(tile.overlap, Math.floor((side - 1) / 2));
  const starts = (length: number): number[] => {
    if (length <= side) return [0];
    const count = Math.ceil((length - overlap) / (side - overlap));
    const n = Math.max(2, count);
    return Array.from({ length: n }, (_, i) => Math.round((i * (length - side)) / (n - 1)));
  };
  const rects: Rect[] = [];
  for (const top of starts(image.height)) for (const left of starts(image.width)) rects.push({ left, top, width: side, height: side });
  return rects;
}

/**
 * The size of a tiled image's map: the image at the tiles' scale (a tile's `side` input pixels for its
 * `tileSide` pixels of the original), so no map is larger than the network saw.
 */
export function mosaicSize(image: ImageSize, tileSide: number, inputSide: number): ImageSize {
  const scale = inputSide / tileSide;
  return { width: Math.max(1, Math.round(image.width * scale)), height: Math.max(1, Math.round(image.height * scale)) };
}

/**
 * Adds one tile's map (inputSide × inputSide) into an image's mosaic map, where the tile lies (scaled from the
 * original's pixels), keeping a count per pixel so that {@link finishMosaic} averages the overlaps. Each tile's
 * map is resampled to the whole-pixel extent it covers in the mosaic (nearest, as the scales differ by under a
 * pixel).
 */
export function addTileToMosaic(sum: Float64Array, count: Uint16Array, mosaic: ImageSize, rect: Rect, tileSide: number, map: Float32Array, inputSide: number): void {
  const scale = inputSide / tileSide;
  const x0 = Math.round(rect.left * scale);
  const y0 = Math.round(rect.top * scale);
  const x1 = Math.min(mosaic.width, Math.round((rect.left + rect.width) * scale));
  const y1 = Math.min(mosaic.height, Math.round((rect.top + rect.height) * scale));
  const w = x1 - x0;
  const h = y1 - y0;
  for (let y = 0; y < h; y++) {
    const sy = Math.min(inputSide - 1, Math.floor(((y + 0.5) * inputSide) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(inputSide - 1, Math.floor(((x + 0.5) * inputSide) / w));
      const i = (y0 + y) * mosaic.width + x0 + x;
      sum[i]! += map[sy * inputSide + sx]!;
      count[i]!++;
    }
  }
}

/** The mosaic's average over the tiles covering each pixel. */
export function finishMosaic(sum: Float64Array, count: Uint16Array): Float32Array {
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) {
    if (count[i] === 0) throw new RangeError(`mosaic pixel ${i} is covered by no tile`);
    out[i] = sum[i]! / count[i]!;
  }
  return out;
}

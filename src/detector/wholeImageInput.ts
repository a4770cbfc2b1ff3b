/**
 * The whole image at the detector's level (image/wholeImage.ts has the geometry): the input shape a fit chooses
 * from its images, the tiles a tiled fit learns from, and tiled scoring, where each image's tiles are scored as
 * inputs of their own and their maps put back together into one map of the image.
 */
import { inputShape, isWhole, type PreprocessOptions, type TileOptions, type WholePreprocess } from '../image/preprocess.js';
import { SharedDecode, decodeImageSource, imageSourceName, imageSourceSize, type DecodedImage, type ImageSource, type ImageTile } from '../image/source.js';
import { addTileToMosaic, chooseInputShape, finishMosaic, largestStretch, mosaicSize, STRETCH_WARNING, tileRects, type ImageSize } from '../image/wholeImage.js';
import type { ScoredImageHandler } from '../method/types.js';

/** What a fit's images make of its preprocessing: the options with the input shape set, and what to tell the user. */
export interface FitInput {
  preprocess: PreprocessOptions;
  /** The network's inputs: the images, or their tiles. */
  inputs: readonly ImageSource[];
  /** Something a user should know (images of differing aspect ratios, stretched to one shape), or null. */
  note: string | null;
}

/**
 * Sets the whole-image input shape from the training images (their headers only) and, with tiles, cuts them into
 * tiles; the benchmark's crop passes through unchanged.
 * @throws NpadInputError naming an image whose header cannot be read
 */
export async function fitInput(preprocess: PreprocessOptions, images: readonly string[]): Promise<FitInput> {
  if (!isWhole(preprocess)) return { preprocess, inputs: images, note: null };
  const sizes: ImageSize[] = [];
  for (const image of images) sizes.push(await imageSourceSize(image));
  const shape = preprocess.width !== undefined ? inputShape(preprocess) : chooseInputShape(preprocess, sizes);
  const resolved: WholePreprocess = { ...preprocess, ...shape };
  if (resolved.tile) return { preprocess: resolved, inputs: images.flatMap((image, i) => tilesOf(image, sizes[i]!, resolved.tile!)), note: null };
  const stretch = largestStretch(shape, sizes);
  const note =
    stretch > STRETCH_WARNING
      ? `the training images differ in aspect ratio: each is resized to ${shape.width}×${shape.height} (their median), the most different stretched ${stretch.toFixed(2)}× along one axis`
      : null;
  return { preprocess: resolved, inputs: images, note };
}

/** The tiles of one image, decoded once for all of them, named `<image> tile <n>`. */
function tilesOf(image: ImageSource, size: ImageSize, tile: TileOptions): ImageTile[] {
  const rects = tileRects(size, tile);
  const shared = new SharedDecode(image, rects.length);
  const name = imageSourceName(image);
  return rects.map((rect, i) => ({ name: `${name} tile ${i + 1} of ${rects.length}`, of: shared, rect }));
}

/** Images tiled and put back together at a time: bounds the decoded images and mosaics held. */
const IMAGES_PER_ROUND = 8;

/**
 * Scores tiled images: each image is decoded once, its tiles go through `scoreInputs` as inputs of their own, and
 * the image's map is the mosaic of its tiles' maps (averaged where they overlap, at the tiles' input scale:
 * image/wholeImage.ts); its score is the largest of its tiles' (a defect in any tile is a defect of the image).
 *
 * @param inputSide the side of each tile's network input
 */
export async function scoreTiled(
  images: readonly ImageSource[],
  tile: TileOptions,
  inputSide: number,
  scoreInputs: (inputs: readonly ImageSource[], onInput: ScoredImageHandler) => Promise<void>,
  onImage: ScoredImageHandler,
): Promise<void> {
  for (let start = 0; start < images.length; start += IMAGES_PER_ROUND) {
    const round = images.slice(start, start + IMAGES_PER_ROUND);
    const decoded = await Promise.all(round.map(async (image): Promise<DecodedImage> => ({ name: imageSourceName(image), image: await decodeImageSource(image) })));
    const tiles = decoded.map((d) => tilesOf(d, d.image, tile));
    const owner = tiles.flatMap((t, i) => t.map(() => i));
    const mosaics: (Mosaic | null)[] = decoded.map((d, i) => newMosaic(mosaicSize(d.image, tiles[i]![0]!.rect.width, inputSide), tiles[i]!.length));
    const flat = tiles.flat();
    await scoreInputs(flat, async (k, r) => {
      const i = owner[k]!;
      const m = mosaics[i]!;
      addTileToMosaic(m.sum, m.count, m.size, flat[k]!.rect, flat[k]!.rect.width, r.map, inputSide);
      m.score = Math.max(m.score, r.score);
      if (--m.tilesLeft === 0) {
        mosaics[i] = null; // released as soon as it is handed on
        await onImage(start + i, { map: finishMosaic(m.sum, m.count), width: m.size.width, height: m.size.height, score: m.score });
      }
    });
  }
}

/** One image's map being put together from its tiles'. */
interface Mosaic {
  size: ImageSize;
  sum: Float64Array;
  count: Uint16Array;
  score: number;
  tilesLeft: number;
}

function newMosaic(size: ImageSize, tiles: number): Mosaic {
  const pixels = size.width * size.height;
  return { size, sum: new Float64Array(pixels), count: new Uint16Array(pixels), score: -Infinity, tilesLeft: tiles };
}

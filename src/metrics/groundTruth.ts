/**
 * Pixel metrics need a ground-truth mask for every image they count. A labelled test set may lack masks for some or
 * all of its defective images (a line's OK / NOK folders): those images count for the image metrics only. Good
 * images need no mask file; their mask is empty.
 */

/** The images whose pixels have a ground truth, and those pixels flattened in image order. */
export interface PixelGroundTruth {
  /** Indices (into the maps given) of the images with a mask. */
  images: number[];
  maps: Float32Array[];
  masks: Uint8Array[];
  /** Every pixel score of those images, image after image. */
  scores: Float32Array;
  /** 1 where the pixel is defective. */
  labels: Uint8Array;
  /** True when some pixel is defective, so that pixel AUROC and PRO are defined. */
  anyDefect: boolean;
}

/**
 * The pixels with a ground truth: images whose mask is null (defective, no mask known) are left out. Maps may
 * differ in size from image to image (tiled photos); each mask must match its map.
 * @throws RangeError when a mask has another size than its map
 */
export function pixelGroundTruth(maps: readonly Float32Array[], masks: readonly (Uint8Array | null)[]): PixelGroundTruth {
  if (maps.length !== masks.length) throw new RangeError(`${maps.length} maps and ${masks.length} masks: counts differ`);
  const images = masks.flatMap((m, i) => (m === null ? [] : [i]));
  const total = images.reduce((n, i) => n + maps[i]!.length, 0);
  const scores = new Float32Array(total);
  const labels = new Uint8Array(total);
  let anyDefect = false;
  let at = 0;
  for (const image of images) {
    const map = maps[image]!;
    const mask = masks[image]!;
    if (mask.length !== map.length) throw new RangeError(`mask ${image} has ${mask.length} pixels, its map ${map.length}`);
    scores.set(map, at);
    labels.set(mask, at);
    at += map.length;
    if (!anyDefect && mask.includes(1)) anyDefect = true;
  }
  return { images, maps: images.map((i) => maps[i]!), masks: images.map((i) => masks[i]!), scores, labels, anyDefect };
}

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
 * The pixels with a ground truth: images whose mask is null (defective, no mask known) are left out.
 * @throws RangeError when a map or mask has another size than the first map
 */
export function pixelGroundTruth(maps: readonly Float32Array[], masks: readonly (Uint8Array | null)[]): PixelGroundTruth {
  if (maps.length !== masks.length) throw new RangeError(`${maps.length} maps and ${masks.length} masks: counts differ`);
  const n = maps[0]?.length ?? 0;
  const images = masks.flatMap((m, i) => (m === null ? [] : [i]));
  const scores = new Float32Array(images.length * n);
  const labels = new Uint8Array(images.length * n);
  let anyDefect = false;
  images.forEach((image, k) => {
    const map = maps[image]!;
    const mask = masks[image]!;
    if (map.length !== n || mask.length !== n) throw new RangeError(`map or mask ${image} has another size than map 0 (${n} pixels)`);
    scores.set(map, k * n);
    labels.set(mask, k * n);
    if (!anyDefect && mask.includes(1)) anyDefect = true;
  });
  return { images, maps: images.map((i) => maps[i]!), masks: images.map((i) => masks[i]!), scores, labels, anyDefect };
}

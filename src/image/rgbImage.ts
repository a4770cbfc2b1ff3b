/** The decoded image every decoder returns and preprocessing reads (its own file, so that decoders import no decoder). */
/** An RGB image with interleaved (HWC) float samples in [0,1]. */
export interface RgbImage {
  /** pixels per row */
  width: number;
  /** number of rows */
  height: number;
  /** width × height × 3 samples, row-major, R G B per pixel, in [0,1] */
  data: Float32Array;
}

/** A rectangle of an image, in its pixels. */
export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The pixels of one rectangle of an image. */
export function cutRect(img: RgbImage, r: Rect): RgbImage {
  if (r.left < 0 || r.top < 0 || r.left + r.width > img.width || r.top + r.height > img.height) {
    throw new RangeError(`rectangle ${r.width}×${r.height} at (${r.left}, ${r.top}) leaves the ${img.width}×${img.height} image`);
  }
  const out = new Float32Array(r.width * r.height * 3);
  for (let y = 0; y < r.height; y++) {
    const s = ((r.top + y) * img.width + r.left) * 3;
    out.set(img.data.subarray(s, s + r.width * 3), y * r.width * 3);
  }
  return { width: r.width, height: r.height, data: out };
}

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

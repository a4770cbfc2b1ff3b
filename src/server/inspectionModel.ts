/**
 * What the HTTP server needs from a model, and nothing more: a name, a description for `GET /v1/models`, and
 * "judge these image bytes". The server (routing, limits, queue, shutdown) is written against this interface
 * so that its tests run against a fake in milliseconds; ./detectorModel.ts wraps a real Detector.
 */

/** A model's threshold, on both scales (see docs/scores.md). */
export interface ServedThreshold {
  /** the raw image score at which an image is called defective */
  score: number;
  /** the same threshold on the normalised scale: always 0.5 */
  normalised_score: 0.5;
  /** how the threshold was chosen ('holdout', 'f1-max', 'manual') */
  source: string;
}

/** A served model as `GET /v1/models` describes it (the wire format: snake_case, as the CLI's JSON Lines). */
export interface ModelDescription {
  /** name in URLs: `/v1/models/<name>/predict` */
  name: string;
  /** 'npad', 'padim' or 'patchcore' */
  method: string;
  /** the base name of the model file it was loaded from, when there is one (never a server path) */
  file: string | null;
  /** the configuration's main settings (input size, feature dimension, backbone…) */
  config: Record<string, unknown>;
  threshold: ServedThreshold;
}

/** What the caller asks to get back besides the verdict. */
export interface PredictWanted {
  /** name of the upload, for error messages (e.g. the file name the browser sent) */
  label: string;
  /** render the heatmap overlay PNG */
  overlay: boolean;
  /** render the binary defect mask PNG */
  mask: boolean;
}

/** One image judged by a model. */
export interface PredictionReply {
  verdict: 'good' | 'defective';
  /** raw image score (the method's own scale) */
  score: number;
  /** score normalised so that the model's threshold is 0.5 */
  normalisedScore: number;
  /** fraction of the anomaly map's pixels at or above the pixel threshold */
  defectArea: number;
  /** heatmap overlay, when asked for */
  overlayPng: Buffer | null;
  /** binary defect mask (white = defective), when asked for */
  maskPng: Buffer | null;
  /** milliseconds spent scoring and rendering */
  timings: { inferenceMs: number; renderMs: number };
}

/** A model the server can serve. */
export interface InspectionModel {
  readonly description: ModelDescription;
  /**
   * Judges one encoded image.
   * @throws NpadInputError when the bytes cannot be decoded (the server answers 422 with its message)
   */
  predict(image: Buffer, wanted: PredictWanted): Promise<PredictionReply>;
}

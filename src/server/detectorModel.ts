/**
 * The adapter between the server and the library: a fitted, calibrated Detector served as an
 * {@link InspectionModel}. Each upload is decoded once; the pixels go both to the detector and to the overlay.
 */
import path from 'node:path';
import type { Detector } from '../detector/detector.js';
import type { Prediction } from '../detector/predict.js';
import { decodeRgb } from '../image/decode.js';
import type { DecodedImage } from '../image/source.js';
import { renderMaskPng, renderOverlayPng } from '../report/overlay.js';
import type { InspectionModel, ModelDescription, PredictionReply, PredictWanted } from './inspectionModel.js';
import { describePreprocess, inputShape, isWhole } from '../image/preprocess.js';

/** A Detector behind the server's model interface. */
export class DetectorModel implements InspectionModel {
  readonly description: ModelDescription;

  private constructor(
    private readonly detector: Detector,
    description: ModelDescription,
    private readonly limitInputPixels: number,
  ) {
    this.description = description;
  }

  /**
   * Wraps a detector.
   * @param detector a fitted detector with a calibration (its threshold makes the verdicts)
   * @param name the name in URLs
   * @param file the model file it came from; `GET /v1/models` shows its base name only (no server paths)
   * @param limitInputPixels largest image decoded (the server checks the header first; this is the backstop)
   * @throws NpadInputError when the detector has no calibration, with the library's advice on making one
   */
  static async create(detector: Detector, name: string, file: string | null, limitInputPixels: number): Promise<DetectorModel> {
    // predict with no inputs only checks the calibration, and its error says how to calibrate.
    await detector.predict([], () => {});
    const calibration = detector.calibration!;
    const { config } = detector;
    const input = inputShape(config.preprocess);
    return new DetectorModel(
      detector,
      {
        name,
        method: config.method,
        file: file === null ? null : path.basename(file),
        config: {
          input: describePreprocess(config.preprocess),
          input_width: input.width,
          input_height: input.height,
          ...(isWhole(config.preprocess) ? { tile: config.preprocess.tile } : { resize: config.preprocess.resize, crop: config.preprocess.crop }),
          ...('dim' in config.options ? { dim: config.options.dim } : {}),
          backbone: detector.backbone.id,
          options: config.options,
        },
        threshold: { score: calibration.imageThreshold, normalised_score: 0.5, source: calibration.source },
      },
      limitInputPixels,
    );
  }

  /**
   * Scores one plain grey image, so that onnxruntime's first-run graph optimisation (several times a normal
   * image's time) is paid before the server says it is ready, not by the first client.
   */
  async warmUp(): Promise<void> {
    const { width, height } = inputShape(this.detector.config.preprocess);
    const grey: DecodedImage = { name: 'warm-up', image: { width, height, data: new Float32Array(width * height * 3).fill(0.5) } };
    await this.detector.predict([grey], () => {});
  }

  async predict(image: Buffer, wanted: PredictWanted): Promise<PredictionReply> {
    const started = performance.now();
    const source: DecodedImage = { name: wanted.label, image: await decodeRgb(image, wanted.label, { limitInputPixels: this.limitInputPixels }) };
    let prediction: Prediction | undefined;
    await this.detector.predict([source], (_i, p) => {
      prediction = p;
    });
    if (!prediction) throw new Error(`the detector returned no prediction for ${wanted.label}`);
    const scored = performance.now();
    const calibration = this.detector.calibration!;
    const overlayPng = wanted.overlay ? await renderOverlayPng(source, prediction, calibration) : null;
    const maskPng = wanted.mask ? await renderMaskPng(prediction) : null;
    let defective = 0;
    for (const m of prediction.mask) defective += m;
    return {
      verdict: prediction.verdict,
      score: prediction.score,
      normalisedScore: prediction.normalisedScore,
      defectArea: defective / prediction.mask.length,
      overlayPng,
      maskPng,
      timings: { inferenceMs: scored - started, renderMs: performance.now() - scored },
    };
  }
}

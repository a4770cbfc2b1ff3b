/**
 * Builds the HTML evaluation report from an evaluation (htmlReport.ts lays it out): the verdicts at the threshold
 * and the score histogram first, then every image with its overlay, each defect type, the options, the metrics,
 * the ROC and PRO curves, and a gallery of the hardest test images (the highest-scored good ones, the lowest-scored
 * defective ones) with heatmap overlays and ground-truth outlines.
 */
import path from 'node:path';
import { describeCalibration, f1MaxCalibration, formatScore, type ScoreCalibration } from '../detector/calibration.js';
import { predictionFrom } from '../detector/predict.js';
import type { DatasetEvaluation } from '../evaluation/runEvaluation.js';
import { isWhole, type PreprocessOptions } from '../image/preprocess.js';
import { DEFAULT_MAX_FPR, auroc, pixelGroundTruth, proCurve, rocCurve } from '../metrics/index.js';
import sharp from 'sharp';
import { renderHtmlReport, type DefectRow, type GalleryItem, type ImageRow } from './htmlReport.js';
import { renderHistogramSvg } from './svgHistogram.js';
import { renderOverlayPng } from './overlay.js';
import { renderCurveSvg } from './svgCurves.js';

/** What the report is built from. */
export interface EvaluationReportInput {
  /** heading, e.g. "bottle: N-pad" */
  title: string;
  /** the dataset folder (image paths are shown relative to it) */
  datasetRoot: string;
  /** the scored test set */
  evaluation: DatasetEvaluation;
  /** the detector's preprocessing (the overlays show the image under the maps: the benchmark crop, or the whole image) */
  preprocess: PreprocessOptions;
  /** the model's calibration; without one, the thresholds are F1-max on this test set (and the report says so) */
  calibration: ScoreCalibration | null;
  /** further rows of the details table (model, backbone, timings…) */
  details?: readonly (readonly [string, string])[];
  /** the detector's method and options, as a readable table (name → value) */
  options?: readonly (readonly [string, string])[];
  /** pictures per gallery row (default 6) */
  gallerySize?: number;
}

/** How the test images fare at a calibration's image threshold. */
export interface OperatingPoint {
  /** good images at or above the threshold */
  falseAlarms: number;
  /** good images */
  good: number;
  /** defective images below the threshold */
  misses: number;
  /** defective images */
  defective: number;
}

/** Counts of false alarms and misses at an image threshold. */
export function operatingPoint(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): OperatingPoint {
  const p: OperatingPoint = { falseAlarms: 0, good: 0, misses: 0, defective: 0 };
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] === 1) {
      p.defective++;
      if (scores[i]! < threshold) p.misses++;
    } else {
      p.good++;
      if (scores[i]! >= threshold) p.falseAlarms++;
    }
  }
  return p;
}

/** "3 of 20 good images called defective, 1 of 63 defective missed". */
export function describeOperatingPoint(p: OperatingPoint): string {
  return `${p.falseAlarms} of ${p.good} good images called defective, ${p.misses} of ${p.defective} defective missed`;
}

const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;
/** What the pixel metrics say when no defective image has a mask. */
const NO_MASKS = 'no defect masks: image metrics only';

/** The report as a self-contained HTML document. */
export async function buildEvaluationReport(input: EvaluationReportInput): Promise<string> {
  const { evaluation, preprocess } = input;
  const { outcomes, maps, masks, metrics, shapes } = evaluation;
  const scores = outcomes.map((o) => o.score);
  const labels = outcomes.map((o) => o.label);
  const calibration = input.calibration ?? f1MaxCalibration(scores, labels, maps, masks);
  const calibrationNote = input.calibration ? describeCalibration(calibration) : `${describeCalibration(calibration)}; the model has none, so these are chosen on this test set`;

  const imageRoc = rocCurve(scores, labels);
  // Pixel curves over the images with a ground truth; none without any defect mask (labelled folders only).
  const pixels = pixelGroundTruth(maps, masks);
  const pixelRoc = pixels.anyDefect && metrics.pixel_auroc !== null ? { ...rocCurve(pixels.scores, pixels.labels), auroc: metrics.pixel_auroc } : null;
  const pro = pixels.anyDefect && metrics.pro !== null ? { ...proCurve(pixels.maps, pixels.masks, pixels.images.map((i) => shapes[i]!.width), pixels.images.map((i) => shapes[i]!.height)), area: metrics.pro } : null;
  const op = operatingPoint(scores, labels, calibration.imageThreshold);

  const rocChart = renderCurveSvg({
    title: 'ROC',
    xLabel: 'false-positive rate',
    yLabel: 'true-positive rate',
    xMax: 1,
    diagonal: true,
    series: [
      { label: `image (AUROC ${(100 * metrics.image_auroc).toFixed(1)})`, x: imageRoc.fpr, y: imageRoc.tpr, colour: '#1f6fd1' },
      ...(pixelRoc ? [{ label: `pixel (AUROC ${(100 * pixelRoc.auroc).toFixed(1)})`, x: pixelRoc.fpr, y: pixelRoc.tpr, colour: '#e07b00' }] : []),
    ],
    points: [{ x: op.falseAlarms / Math.max(1, op.good), y: 1 - op.misses / Math.max(1, op.defective), label: `image threshold ${formatScore(calibration.imageThreshold)}`, colour: '#c0182b' }],
  });
  const proChart = pro
    ? renderCurveSvg({
        title: `PRO up to FPR ${DEFAULT_MAX_FPR}`,
        xLabel: 'pixel false-positive rate',
        yLabel: 'per-region overlap',
        xMax: DEFAULT_MAX_FPR,
        series: [{ label: `PRO (area ${(100 * pro.area).toFixed(1)})`, x: pro.fpr, y: pro.pro, colour: '#2e9d4f' }],
      })
    : '';

  const count = input.gallerySize ?? 6;
  const byScore = outcomes.map((o, i) => ({ o, i }));
  const worstGood = byScore.filter((x) => x.o.label === 0).sort((a, b) => b.o.score - a.o.score).slice(0, count);
  const hardestDefective = byScore.filter((x) => x.o.label === 1).sort((a, b) => a.o.score - b.o.score).slice(0, count);
  // Every image's overlay is rendered once, one image at a time (each decodes its file: all at once would hold
  // every decoded image); the table keeps a JPEG of each, the galleries the PNG of theirs.
  const inGallery = new Set([...worstGood, ...hardestDefective].map((x) => x.i));
  const predictions = outcomes.map((o, i) => predictionFrom({ map: maps[i]!, width: shapes[i]!.width, height: shapes[i]!.height, score: o.score }, calibration));
  const overlays = new Map<number, Buffer>();
  const images: ImageRow[] = [];
  for (const [i, o] of outcomes.entries()) {
    const p = predictions[i]!;
    const truth = masks[i];
    const png = await renderOverlayPng(o.path, p, calibration, { ...(truth ? { groundTruth: truth } : {}), ...(isWhole(preprocess) ? {} : { crop: preprocess }) });
    if (inGallery.has(i)) overlays.set(i, png);
    images.push({
      name: path.relative(input.datasetRoot, o.path) || o.path,
      defect: o.defect,
      label: o.label,
      score: o.score,
      normalised: p.normalisedScore,
      verdict: p.verdict,
      // JPEG keeps a report of hundreds of images to a few MB.
      thumbnail: await sharp(png).jpeg({ quality: 80 }).toBuffer(),
    });
  }
  const picture = ({ o, i }: { o: (typeof outcomes)[number]; i: number }): GalleryItem => {
    const p = predictions[i]!;
    return {
      title: images[i]!.name,
      lines: [`score ${formatScore(o.score)} (normalised ${p.normalisedScore.toFixed(3)}): ${p.verdict}`],
      png: overlays.get(i)!,
    };
  };
  const galleries = [
    {
      heading: 'Highest-scored good images',
      note: 'The good test images closest to (or over) the threshold: where false alarms come from.',
      items: worstGood.map(picture),
    },
    {
      heading: 'Lowest-scored defective images',
      note: 'The defective test images closest to (or under) the threshold: the defects most easily missed.',
      items: hardestDefective.map(picture),
    },
  ].filter((g) => g.items.length > 0);

  const verdicts = {
    threshold: `${calibrationNote}. Images at or over the image threshold are called defective.`,
    goodCalledGood: op.good - op.falseAlarms,
    goodCalledDefective: op.falseAlarms,
    defectiveCalledGood: op.misses,
    defectiveCalledDefective: op.defective - op.misses,
  };
  const histogram = renderHistogramSvg(
    'Image scores',
    [
      { label: 'good', scores: outcomes.filter((o) => o.label === 0).map((o) => o.score), colour: '#1f6fd1' },
      { label: 'defective', scores: outcomes.filter((o) => o.label === 1).map((o) => o.score), colour: '#e07b00' },
    ],
    calibration.imageThreshold,
  );


  return renderHtmlReport({
    title: input.title,
    subtitle: path.resolve(input.datasetRoot),
    verdicts,
    histogram,
    images,
    defects: defectRows(evaluation, calibration.imageThreshold),
    options: input.options ?? [],
    metrics: [
      ['image AUROC', pct(metrics.image_auroc)],
      ['pixel AUROC', metrics.pixel_auroc === null ? NO_MASKS : pct(metrics.pixel_auroc)],
      [`PRO (FPR ≤ ${DEFAULT_MAX_FPR})`, metrics.pro === null ? NO_MASKS : pct(metrics.pro)],
      ['image F1-max', pct(metrics.image_f1_max)],
    ],
    details: [
      ['test images', `${outcomes.length} (${op.good} good, ${op.defective} defective)`],
      ['thresholds', calibrationNote],
      ['at the image threshold', describeOperatingPoint(op)],
      ...(input.details ?? []),
    ],
    charts: [rocChart, proChart].filter((c) => c !== ''),
    galleries,
    generatedAt: new Date().toISOString(),
  });
}

/**
 * Each defect type against the good images: how many the threshold finds, its image AUROC, and its pixel AUROC over
 * the good images and its own masked ones.
 */
function defectRows(evaluation: DatasetEvaluation, threshold: number): DefectRow[] {
  const { outcomes, maps, masks } = evaluation;
  const good = outcomes.flatMap((o, i) => (o.label === 0 ? [i] : []));
  const defects = [...new Set(outcomes.filter((o) => o.label === 1).map((o) => o.defect))].sort();
  return defects.map((defect) => {
    const own = outcomes.flatMap((o, i) => (o.label === 1 && o.defect === defect ? [i] : []));
    const both = [...good, ...own];
    const pixels = pixelGroundTruth(both.map((i) => maps[i]!), both.map((i) => masks[i] ?? null));
    return {
      defect,
      images: own.length,
      found: own.filter((i) => outcomes[i]!.score >= threshold).length,
      imageAuroc: good.length ? auroc(both.map((i) => outcomes[i]!.score), both.map((i) => outcomes[i]!.label)) : NaN,
      pixelAuroc: pixels.anyDefect ? auroc(pixels.scores, pixels.labels) : null,
    };
  });
}

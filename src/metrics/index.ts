/**
 * Evaluation metrics of industrial anomaly detection, following the MVTec AD
 * conventions: image/pixel AUROC, AU-PRO and F1-max.
 */

export { auroc, rocCurve, DEFAULT_CURVE_POINTS, type RocCurve } from './roc.js';
export {
  perRegionOverlap,
  proCurve,
  labelConnectedComponents,
  DEFAULT_MAX_FPR,
  type ProCurve,
  type ConnectedComponents,
} from './pro.js';
export { f1Max, type F1Max } from './f1.js';
export { pixelGroundTruth, type PixelGroundTruth } from './groundTruth.js';

/**
 * CNN building blocks written into a {@link GraphBuilder}: convolutions with BatchNorm folded in, per-channel
 * affine BatchNorm, max pooling. Shared by the ResNet-v2 and torchvision ResNet graphs.
 *
 * Inference-mode BatchNorm is the per-channel affine map y = scale·x + shift with scale = γ/√(σ² + ε) and
 * shift = β − μ·scale. When it directly follows a convolution it folds exactly into that convolution's weights and
 * bias, which removes a full pass over the activations; when it precedes one (the pre-activation ResNet-v2 blocks)
 * a ReLU sits in between, so it stays a separate per-channel node.
 */
import type { GraphBuilder } from '../onnx/graph.js';

/** BatchNorm epsilon of both GluonCV and torchvision ResNets. */
export const BN_EPSILON = 1e-5;

/** Inference-mode BatchNorm parameters, one value per channel. */
export interface BatchNormParams {
  /** γ, the learned scale. */
  gamma: Float32Array;
  /** β, the learned shift. */
  beta: Float32Array;
  /** μ, the running mean. */
  mean: Float32Array;
  /** σ², the running variance. */
  variance: Float32Array;
}

/** A convolution's weights [out, in, k, k] (no groups) and optional bias [out]. */
export interface ConvParams {
  /** Weights in [out, in, kh, kw] C order. */
  weight: Float32Array;
  /** [out channels, in channels, kernel height, kernel width]. */
  dims: readonly [number, number, number, number];
  /** Per-output-channel bias (from a folded BatchNorm). */
  bias?: Float32Array;
}

/** A BatchNorm as a per-channel affine map (computed in float64, then rounded once). */
export function batchNormAffine(bn: BatchNormParams, eps = BN_EPSILON): { scale: Float32Array; shift: Float32Array } {
  const c = bn.gamma.length;
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    const s = (bn.gamma[i] as number) / Math.sqrt((bn.variance[i] as number) + eps);
    scale[i] = s;
    shift[i] = (bn.beta[i] as number) - (bn.mean[i] as number) * s;
  }
  return { scale, shift };
}

/** Folds a BatchNorm that follows `conv` into its weights and bias (exact up to float32 rounding). */
export function foldBatchNorm(conv: ConvParams, bn: BatchNormParams, eps = BN_EPSILON): ConvParams {
  const [out, inC, kh, kw] = conv.dims;
  const perOut = inC * kh * kw;
  const weight = new Float32Array(conv.weight.length);
  const bias = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const s = (bn.gamma[o] as number) / Math.sqrt((bn.variance[o] as number) + eps);
    for (let j = o * perOut; j < (o + 1) * perOut; j++) weight[j] = (conv.weight[j] as number) * s;
    const b = conv.bias ? (conv.bias[o] as number) : 0;
    bias[o] = (bn.beta[o] as number) + (b - (bn.mean[o] as number)) * s;
  }
  return { weight, dims: conv.dims, bias };
}

/** Writes a square-kernel convolution with "same"-style padding k/2 (as both ResNet families use). */
export function emitConv(g: GraphBuilder, x: string, conv: ConvParams, stride: number): string {
  const [, , kh, kw] = conv.dims;
  const pad = Math.floor(kh / 2);
  const inputs = [x, g.constFloat(conv.weight, conv.dims)];
  if (conv.bias) inputs.push(g.constFloat(conv.bias, [conv.dims[0]]));
  return g.node('Conv', inputs, {
    kernel_shape: [kh, kw],
    strides: [stride, stride],
    pads: [pad, pad, pad, pad],
  });
}

/** Writes y = scale·x + shift per channel of an NCHW tensor. */
export function emitAffine(g: GraphBuilder, x: string, scale: Float32Array, shift: Float32Array): string {
  const c = scale.length;
  const scaled = g.node('Mul', [x, g.constFloat(scale, [c, 1, 1])]);
  return g.node('Add', [scaled, g.constFloat(shift, [c, 1, 1])]);
}

/**
 * Writes an inference-mode BatchNormalization node (for a BatchNorm that cannot be folded into a convolution).
 * Numerically it is the same per-channel affine map as {@link batchNormAffine}.
 */
export function emitBatchNorm(g: GraphBuilder, x: string, bn: BatchNormParams, eps = BN_EPSILON): string {
  const c = bn.gamma.length;
  const param = (v: Float32Array): string => g.constFloat(v, [c]);
  return g.node('BatchNormalization', [x, param(bn.gamma), param(bn.beta), param(bn.mean), param(bn.variance)], {
    epsilon: { float: eps },
  });
}

/** Writes ReLU. */
export function emitRelu(g: GraphBuilder, x: string): string {
  return g.node('Relu', [x]);
}

/** Writes the ResNet stem's 3×3 stride-2 max pooling with padding 1. */
export function emitStemMaxPool(g: GraphBuilder, x: string): string {
  return g.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
}

/**
 * Rows or columns of a ResNet's stage-1 grid for an input side of `side` pixels: the stem's 7×7 stride-2
 * convolution (padding 3) and its 3×3 stride-2 max pooling (padding 1) each give ⌈s / 2⌉; stage 1 keeps its grid.
 */
export function resnetStageOneSide(side: number): number {
  return Math.ceil(Math.ceil(side / 2) / 2);
}

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

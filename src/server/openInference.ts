/**
 * The Open Inference Protocol v2 (KServe, NVIDIA Triton, Seldon: the "V2 inference protocol"), HTTP/REST, so that
 * existing model-serving clients can call npad:
 *
 *   GET  /v2/health/live, /v2/health/ready      server liveness and readiness
 *   GET  /v2                                    server metadata
 *   GET  /v2/models/NAME, /v2/models/NAME/ready  model metadata and readiness
 *   POST /v2/models/NAME/infer                  inference
 *
 * A model has one input, `image`: BYTES of shape [N], each element an image file (PNG, JPEG, TIFF, BMP) in base64.
 * Its outputs, shape [N] each: `verdict` (BYTES: "good" or "defective"), `score`, `normalised_score` and
 * `defect_area` (FP64, as the /v1 API), and, only when the request names it in `outputs`, `overlay_png` (BYTES,
 * base64 PNG). Errors are the protocol's `{"error": "message"}`.
 */
import { HttpError } from './httpError.js';
import type { ImageUpload } from './upload.js';
import { isRecord } from '../util/isRecord.js';

/** The outputs a model answers with, in order, and their datatypes. */
export const OIP_OUTPUTS = [
  { name: 'verdict', datatype: 'BYTES' },
  { name: 'score', datatype: 'FP64' },
  { name: 'normalised_score', datatype: 'FP64' },
  { name: 'defect_area', datatype: 'FP64' },
  { name: 'overlay_png', datatype: 'BYTES' },
] as const;

/** Outputs answered when the request names none (the overlay only on request: it is large). */
const DEFAULT_OUTPUTS = ['verdict', 'score', 'normalised_score', 'defect_area'];

/** A model's metadata as the protocol describes it. */
export function modelMetadata(name: string, method: string): Record<string, unknown> {
  return {
    name,
    versions: [],
    platform: `npad-${method}`,
    inputs: [{ name: 'image', datatype: 'BYTES', shape: [-1] }],
    outputs: OIP_OUTPUTS.map((o) => ({ ...o, shape: [-1] })),
  };
}

/** An inference request's images, the outputs it asks for, and its id to echo. */
export interface InferRequest {
  id: string | undefined;
  images: ImageUpload[];
  outputs: string[];
}

/**
 * Parses an inference request body.
 * @throws HttpError 400 naming what is wrong (not JSON, no `image` input, wrong datatype or shape, bad base64, an
 *   unknown output)
 */
export function parseInferRequest(body: Buffer, maxImages: number): InferRequest {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, 'bad_json', `the inference request is not JSON: ${(e as Error).message}`);
  }
  if (!isRecord(value) || !Array.isArray(value.inputs)) throw new HttpError(400, 'bad_request', 'the inference request needs "inputs", a list of tensors');
  const input = value.inputs.find((t) => isRecord(t) && t.name === 'image');
  if (!isRecord(input)) throw new HttpError(400, 'bad_request', 'the inference request has no input named "image" (BYTES, shape [N], each element an image file in base64)');
  if (input.datatype !== 'BYTES') throw new HttpError(400, 'bad_request', `input "image" must have datatype BYTES, got ${JSON.stringify(input.datatype)}`);
  const data = Array.isArray(input.data) ? input.data.flat() : null;
  if (!data || data.length === 0 || !data.every((d) => typeof d === 'string')) throw new HttpError(400, 'bad_request', 'input "image" needs "data": a non-empty list of base64 strings');
  const shape = Array.isArray(input.shape) ? input.shape : null;
  if (!shape || shape.length !== 1 || shape[0] !== data.length) throw new HttpError(400, 'bad_request', `input "image" has shape ${JSON.stringify(input.shape)} but ${data.length} elements: expected [${data.length}]`);
  if (data.length > maxImages) throw new HttpError(400, 'too_many_images', `${data.length} images in one request; at most ${maxImages}`);
  const images = (data as string[]).map((text, i) => {
    const base64 = text.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 === 1) throw new HttpError(400, 'bad_base64', `input "image" element ${i} is not valid base64`);
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.length === 0) throw new HttpError(400, 'empty_body', `input "image" element ${i} is empty`);
    return { bytes, label: `image[${i}]` };
  });
  const known = OIP_OUTPUTS.map((o) => o.name as string);
  let outputs = DEFAULT_OUTPUTS;
  if (value.outputs !== undefined) {
    if (!Array.isArray(value.outputs) || !value.outputs.every((o) => isRecord(o) && typeof o.name === 'string')) {
      throw new HttpError(400, 'bad_request', '"outputs" must be a list of {"name": …}');
    }
    outputs = value.outputs.map((o) => (o as { name: string }).name);
    const unknown = outputs.find((o) => !known.includes(o));
    if (unknown !== undefined) throw new HttpError(400, 'bad_request', `unknown output ${JSON.stringify(unknown)} (outputs: ${known.join(', ')})`);
  }
  return { id: typeof value.id === 'string' ? value.id : undefined, images, outputs };
}

/** One judged image's values, by output name. */
export interface OipValues {
  verdict: string;
  score: number;
  normalised_score: number;
  defect_area: number;
  overlay_png: string | null;
}

/** The inference response: the asked outputs in the protocol's tensor form, one element per image. */
export function inferResponse(modelName: string, request: InferRequest, values: readonly OipValues[]): Record<string, unknown> {
  return {
    model_name: modelName,
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: request.outputs.map((name) => ({
      name,
      datatype: OIP_OUTPUTS.find((o) => o.name === name)!.datatype,
      shape: [values.length],
      data: values.map((v) => v[name as keyof OipValues] ?? ''),
    })),
  };
}

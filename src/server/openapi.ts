/**
 * The HTTP API as an OpenAPI 3.0 document, served at `GET /openapi.json`: what a client generator or an API
 * gateway reads. test/server/server.test.ts checks the server's real answers against these schemas, so the
 * document cannot drift from the code.
 */
import { LATENCY_BUCKETS } from './metrics.js';
import { MAX_IMAGES_PER_REQUEST } from './upload.js';

const number = { type: 'number' } as const;
const string = { type: 'string' } as const;
const integer = { type: 'integer' } as const;

/** A JSON object schema whose listed properties are all required and no others allowed. */
function object(properties: Record<string, unknown>, optional: readonly string[] = []): Record<string, unknown> {
  return { type: 'object', properties, required: Object.keys(properties).filter((k) => !optional.includes(k)), additionalProperties: false };
}

const threshold = object({
  score: { ...number, description: 'the raw image score at which an image is called defective' },
  normalised_score: { type: 'number', enum: [0.5], description: 'the same threshold on the normalised scale' },
  source: { ...string, description: "how it was chosen: 'holdout', 'f1-max' or 'manual'" },
});

const model = object({
  name: { ...string, description: 'the name in URLs' },
  method: { ...string, description: 'the detection method: npad, padim or patchcore' },
  file: { type: 'string', nullable: true, description: "the model file's base name (never a server path)" },
  config: { type: 'object', description: 'the main settings: input (a description), input_width, input_height, tile (whole image) or resize and crop (the benchmark crop), dim, backbone, options' },
  threshold,
});

const prediction = object({
  model: string,
  file: { ...string, description: 'the upload\'s file name, or "uploaded image"' },
  verdict: { type: 'string', enum: ['good', 'defective'] },
  score: { ...number, description: 'the raw image score' },
  normalised_score: { ...number, description: 'the image score on the normalised scale: 0.5 at the threshold (docs/scores.md)' },
  threshold,
  image: object({ width: integer, height: integer }),
  defect_area: { ...number, description: 'share of the pixels over the pixel threshold' },
  timings: object({ queue_ms: number, inference_ms: number, render_ms: number, total_ms: number }),
  overlay_png: { type: 'string', nullable: true, format: 'byte', description: 'base64 PNG of the heatmap over the image; null with ?overlay=0' },
  mask_png: { type: 'string', nullable: true, format: 'byte', description: 'base64 PNG of the defect mask with ?mask=1, else null' },
});

const error = object({
  error: object({ status: integer, code: { ...string, description: 'a stable machine-readable code, e.g. body_too_large' }, message: string }),
});

const json = (schema: unknown): Record<string, unknown> => ({ content: { 'application/json': { schema } } });
const errors = (...statuses: number[]): Record<string, unknown> =>
  Object.fromEntries(statuses.map((s) => [String(s), { description: 'an error', ...json({ $ref: '#/components/schemas/Error' }) }]));

/** The document. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'npad inspection server',
    version: '1',
    description:
      'Visual anomaly detection: judge images with fitted npad models (N-pad, PaDiM, PatchCore). Errors are {"error": {"status", "code", "message"}}. ' +
      'Any path may also answer 401 (a token is needed), 403 (a foreign web origin) or 421 (a Host name the server does not answer to): docs/security.md.',
  },
  paths: {
    '/healthz': { get: { summary: 'liveness', responses: { '200': { description: 'the process serves HTTP', ...json(object({ status: { type: 'string', enum: ['alive'] } })) } } } },
    '/readyz': {
      get: {
        summary: 'readiness',
        responses: {
          '200': { description: 'models loaded', ...json(object({ status: { type: 'string', enum: ['ready'] }, models: { type: 'array', items: string } })) },
          '503': { description: 'loading or shutting down', ...json(object({ status: { type: 'string', enum: ['loading', 'shutting down'] } })) },
        },
      },
    },
    '/metrics': {
      get: {
        summary: `Prometheus metrics (text format 0.0.4; latency buckets ${LATENCY_BUCKETS.join(', ')} s)`,
        responses: { '200': { description: 'the metrics', content: { 'text/plain': { schema: string } } } },
      },
    },
    '/v1/models': {
      get: { summary: 'the models served', responses: { '200': { description: 'the models', ...json(object({ models: { type: 'array', items: { $ref: '#/components/schemas/Model' } } })) }, ...errors(400, 503) } },
    },
    '/v1/models/{name}': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: string }],
      get: { summary: 'one model', responses: { '200': { description: 'the model', ...json({ $ref: '#/components/schemas/Model' }) }, ...errors(400, 404, 503) } },
    },
    '/v1/models/{name}/predict': {
      parameters: [
        { name: 'name', in: 'path', required: true, schema: string },
        { name: 'overlay', in: 'query', schema: { type: 'string', enum: ['1', '0', 'true', 'false', 'yes', 'no'] }, description: 'return the heatmap overlay (default 1)' },
        { name: 'mask', in: 'query', schema: { type: 'string', enum: ['1', '0', 'true', 'false', 'yes', 'no'] }, description: 'return the defect mask (default 0)' },
      ],
      post: {
        summary: `judge one image, or several (at most ${MAX_IMAGES_PER_REQUEST}) answered as a list in the order sent`,
        requestBody: {
          required: true,
          content: {
            'image/*': { schema: { type: 'string', format: 'binary' } },
            'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
            'multipart/form-data': { schema: { type: 'object', properties: { image: { type: 'string', format: 'binary' } }, description: 'the field "image" or any file; several files: a list' } },
            'application/json': {
              schema: {
                oneOf: [
                  object({ image: { type: 'string', format: 'byte' }, filename: string }, ['filename']),
                  object({ images: { type: 'array', items: object({ image: { type: 'string', format: 'byte' }, filename: string }, ['filename']) } }),
                ],
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'the verdict (one image), or {"predictions": [...]} (several)',
            ...json({ oneOf: [{ $ref: '#/components/schemas/Prediction' }, object({ predictions: { type: 'array', items: { $ref: '#/components/schemas/Prediction' } } })] }),
          },
          ...errors(400, 404, 408, 413, 415, 422, 503, 504),
        },
      },
    },
    // The Open Inference Protocol v2 (KServe, Triton; ./openInference.ts); its errors are {"error": "message"}.
    '/v2/health/live': { get: { summary: 'OIP liveness', responses: { '200': { description: 'live', ...json(object({ live: { type: 'boolean' } })) } } } },
    '/v2/health/ready': {
      get: {
        summary: 'OIP readiness',
        responses: { '200': { description: 'ready', ...json(object({ ready: { type: 'boolean' } })) }, '503': { description: 'not ready', ...json(object({ ready: { type: 'boolean' } })) } },
      },
    },
    '/v2/models/{name}/infer': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: string }],
      post: {
        summary: 'OIP inference: input "image" (BYTES [N], image files in base64); outputs verdict, score, normalised_score, defect_area and, when named, overlay_png',
        requestBody: { required: true, ...json({ type: 'object', properties: { id: string, inputs: { type: 'array', items: { type: 'object' } }, outputs: { type: 'array', items: object({ name: string }) } }, required: ['inputs'] }) },
        responses: {
          '200': { description: 'the outputs, one element per image', ...json({ type: 'object', properties: { model_name: string, id: string, outputs: { type: 'array', items: object({ name: string, datatype: string, shape: { type: 'array', items: integer }, data: { type: 'array', items: {} } }) } }, required: ['model_name', 'outputs'] }) },
          '400': { description: 'a malformed request', ...json(object({ error: string })) },
        },
      },
    },
  },
  components: {
    schemas: { Model: model, Prediction: prediction, Error: error },
    // Only when the server was started with a token (--token-file, NPAD_TOKEN): then every path but the health
    // probes and the page needs it, and answers 401 without it (./access.ts).
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the token the server was started with, if any' } },
  },
  security: [{ bearer: [] }, {}],
} as const;

/**
 * A user-supplied ONNX feature extractor: any model that takes one ImageNet-normalised float image [B,3,S,S] and
 * has three feature outputs, finest first (strides 4/8/16 expected, but any grid sizes work: the feature extractor
 * resizes the coarser ones to the first output's grid).
 */
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { NpadInputError } from '../errors.js';
import { createSession, runFloat } from '../onnx/session.js';
import type { Backbone, StageNames } from './types.js';
import { hashFile } from './weightsHash.js';

/** Image side used to learn the output channels when the model does not declare them (and fixes no size). */
const PROBE_SIZE = 224;

/**
 * Loads `file` as a {@link Backbone} whose stages are the outputs `outputs`. The model is opened once here to check
 * its input and outputs and to learn the channel counts (from the declared shapes, else from one probe run).
 * The fingerprint covers the `.onnx` file's bytes (not external-data files).
 *
 * @throws NpadInputError naming the file when it cannot be loaded, has no output of a given name (the message
 *   lists the outputs it has), or its input is not a float [B,3,H,W] image
 */
export async function loadOnnxFileBackbone(file: string, outputs: StageNames): Promise<Backbone> {
  const session = await openModel(file);
  try {
    checkOutputs(file, session, outputs);
    const inputName = checkInput(file, session);
    const stageChannels =
      declaredChannels(session, outputs) ?? (await probeChannels(file, session, inputName, outputs));
    return {
      id: `onnx/${path.basename(file)}`,
      weightsSha256: await hashFile(file),
      stageChannels,
      inputName,
      stageOutputs: [...outputs],
      buildStages: () => path.resolve(file),
    };
  } finally {
    await session.release();
  }
}

async function openModel(file: string): Promise<ort.InferenceSession> {
  try {
    return await createSession(file);
  } catch (e) {
    throw new NpadInputError(`${file}: cannot load the ONNX model (${(e as Error).message})`, file);
  }
}

function checkOutputs(file: string, session: ort.InferenceSession, outputs: StageNames): void {
  const missing = outputs.filter((o) => !session.outputNames.includes(o));
  if (missing.length > 0) {
    throw new NpadInputError(
      `${file}: the model has no output named ${missing.map((m) => JSON.stringify(m)).join(', ')}; ` +
        `its outputs are ${session.outputNames.map((m) => JSON.stringify(m)).join(', ')}`,
      file,
    );
  }
}

/** The image input's name, after checking it is the only input and could be a float [B,3,H,W] image. */
function checkInput(file: string, session: ort.InferenceSession): string {
  const fail = (problem: string): never => {
    throw new NpadInputError(`${file}: ${problem}`, file);
  };
  if (session.inputNames.length !== 1) {
    fail(`expected one image input, the model has ${session.inputNames.length} (${session.inputNames.join(', ')})`);
  }
  const meta = session.inputMetadata[0];
  if (meta?.isTensor) {
    if (meta.type !== 'float32') fail(`input ${meta.name} is ${meta.type}; expected float32`);
    const { shape } = meta;
    if (shape.length > 0 && (shape.length !== 4 || (typeof shape[1] === 'number' && shape[1] !== 3))) {
      fail(`input ${meta.name} has shape [${shape.join(', ')}]; expected [batch, 3, height, width]`);
    }
  }
  return session.inputNames[0] as string;
}

/** Channel counts when the model declares them for all three outputs. */
function declaredChannels(session: ort.InferenceSession, outputs: StageNames): [number, number, number] | undefined {
  const channels = outputs.map((name) => {
    const meta = session.outputMetadata.find((m) => m.name === name);
    const c = meta?.isTensor && meta.shape.length === 4 ? meta.shape[1] : undefined;
    return typeof c === 'number' ? c : undefined;
  });
  return channels.every((c) => c !== undefined) ? (channels as [number, number, number]) : undefined;
}

/** Channel counts from one run on a blank image (of the model's fixed size, if it has one). */
async function probeChannels(
  file: string,
  session: ort.InferenceSession,
  inputName: string,
  outputs: StageNames,
): Promise<[number, number, number]> {
  const meta = session.inputMetadata[0];
  const shape = meta?.isTensor ? meta.shape : [];
  const h = typeof shape[2] === 'number' ? shape[2] : PROBE_SIZE;
  const w = typeof shape[3] === 'number' ? shape[3] : PROBE_SIZE;
  const blank = { data: new Float32Array(3 * h * w), dims: [1, 3, h, w] };
  let result;
  try {
    result = await runFloat(session, { [inputName]: blank }, outputs);
  } catch (e) {
    const why = (e as Error).message;
    throw new NpadInputError(`${file}: the model failed on a [1, 3, ${h}, ${w}] float image (${why})`, file);
  }
  return outputs.map((name) => {
    const dims = result[name]?.dims ?? [];
    if (dims.length !== 4) {
      const got = dims.join(', ');
      const problem = `output ${name} has shape [${got}]; expected [batch, channels, height, width]`;
      throw new NpadInputError(`${file}: ${problem}`, file);
    }
    return dims[1] as number;
  }) as [number, number, number];
}

/**
 * The stand-alone ONNX model of a backbone's stages (what {@link Backbone.buildStages} returns for the built-in
 * backbones): the same nodes the feature extractor writes into its own graph, with named inputs and outputs.
 */
import { GraphBuilder } from '../onnx/graph.js';
import type { Backbone, StageNames } from './types.js';

/** Input name of a built-in stages model. */
export const STAGES_INPUT = 'image';
/** Output names of a built-in stages model, strides 4, 8 and 16. */
export const STAGES_OUTPUTS: StageNames = ['stage1', 'stage2', 'stage3'];

/** Builds the model: input `image` [batch,3,H,W] float, outputs `stage1..3` [batch,C,h,w] float. */
export function stagesModel(emit: NonNullable<Backbone['emitStages']>): Uint8Array {
  const g = new GraphBuilder('npad-backbone');
  const image = g.input(STAGES_INPUT, 'float', ['batch', 3, 'height', 'width']);
  emit(g, image).forEach((value, i) => {
    const name = STAGES_OUTPUTS[i] as string;
    // Identity gives the internal value its public name without the emitter having to know it.
    g.node('Identity', [value], {}, name);
    g.output(name, 'float', ['batch', `c${i + 1}`, `h${i + 1}`, `w${i + 1}`]);
  });
  return g.build();
}

/**
 * The table of detection methods. Each is one folder under src/method/ that exports a MethodDefinition
 * (types.ts); the detector, the model file, the memory guard and the CLI reach every method through this table, so
 * adding one is a new folder and one line here (docs/architecture.md).
 */
import { NPAD } from './npad/definition.js';
import { PADIM } from './padim/definition.js';
import { PATCHCORE } from './patchcore/definition.js';
import type { MethodDefinition } from './types.js';

/** Every method by its name, the default first. */
export const METHOD_DEFINITIONS = {
  /** N-pad (Jang, Hwang, Park, CVPRW 2023): npad/. */
  npad: NPAD,
  /** PaDiM (Defard et al. 2020): padim/. */
  padim: PADIM,
  /** PatchCore (Roth et al. 2022): patchcore/. */
  patchcore: PATCHCORE,
} as const;

/** A detection method's name. */
export type MethodName = keyof typeof METHOD_DEFINITIONS;

/** The method a configuration without `method` gets. */
export const DEFAULT_METHOD = 'npad' satisfies MethodName;

/** The methods, the default first. */
export const METHODS = Object.keys(METHOD_DEFINITIONS) as MethodName[];

type OptionsOfDefinition<D> = D extends MethodDefinition<infer O, object> ? O : never;
type ModelOfDefinition<D> = D extends MethodDefinition<object, infer M> ? M : never;

/** Each method's options. */
export type MethodOptions = { [M in MethodName]: OptionsOfDefinition<(typeof METHOD_DEFINITIONS)[M]> };

/** Each method's fitted model. */
export type MethodModels = { [M in MethodName]: ModelOfDefinition<(typeof METHOD_DEFINITIONS)[M]> };

/** A fitted model, tagged with its method. */
export type FittedModel = { [M in MethodName]: { method: M; model: MethodModels[M] } }[MethodName];

/** Each method's named option sets (N-pad's paper reading and ablations). */
export type MethodPresets = { [M in MethodName]: keyof (typeof METHOD_DEFINITIONS)[M]['presets'] & string };

/** True when `x` names a method. */
export function isMethodName(x: unknown): x is MethodName {
  return typeof x === 'string' && Object.hasOwn(METHOD_DEFINITIONS, x);
}

/**
 * The definition of a method, with its options and model types erased: callers that dispatch on a configuration's
 * `method` pass that configuration's own options and models, which the types cannot follow through the union.
 */
export function definitionOf(method: MethodName): MethodDefinition<object, object> {
  return METHOD_DEFINITIONS[method] as unknown as MethodDefinition<object, object>;
}

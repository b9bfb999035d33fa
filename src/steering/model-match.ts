import { InvalidInputError } from '../io/errors.js';
import type { ModelIdentity } from './vector.js';

/**
 * Whether a vector was made on the model it is applied to. A direction only means something
 * in the residual stream it was read from: another model with the same hidden size accepts it
 * without complaint and is steered at random. Vectors record the model they were made on
 * (name, architecture, layer count); a vector whose record disagrees is refused unless forced.
 */

/** The model a spec is compiled against: its shape, and, where the caller knows them, its name and architecture. */
export interface ModelShape {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly name?: string;
  readonly architecture?: string;
}

/** A vector recorded as made on another model; `detail` says which, without saying how to override. */
export class ModelMismatchError extends InvalidInputError {
  constructor(
    readonly where: string,
    readonly detail: string,
  ) {
    super(`${where}: ${detail}; set "force": true in the steering spec to apply it anyway`);
  }
}

/** Names compared loosely: "TinyStories 656K" (GGUF general.name) is the folder "tinystories-656k". */
const normName = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** "LlamaForCausalLM" (Hugging Face), "llama" (GGUF) and "llama" (a control vector's model hint) are one architecture. */
const normArch = (s: string): string => normName(s).replace(/(forcausallm|lmheadmodel|model)$/, '');

const describe = (m: { name?: string; architecture?: string; numLayers: number }): string =>
  `${m.name ?? 'unnamed'} (${m.architecture === undefined ? '' : `${m.architecture}, `}${m.numLayers} layers)`;

/**
 * Why a vector made on `madeOn` does not suit `model`, or undefined when nothing recorded
 * disagrees. Imported vectors (GGUF control vectors, plain safetensors) record no model
 * ("unknown"): only their hidden size can be checked, which the caller does.
 */
export function modelMismatch(vectorRef: string, madeOn: ModelIdentity, model: ModelShape): string | undefined {
  if (madeOn.name === 'unknown') return undefined;
  const differs =
    madeOn.numLayers !== model.numLayers ||
    (model.name !== undefined && normName(madeOn.name) !== normName(model.name)) ||
    (model.architecture !== undefined && madeOn.architecture !== 'unknown' && normArch(madeOn.architecture) !== normArch(model.architecture));
  if (!differs) return undefined;
  return `vector ${vectorRef} was made on ${describe(madeOn)}, not on this model, ${describe(model)}: the same hidden size does not make its directions mean anything here`;
}

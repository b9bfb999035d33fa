import { loadModel, type LoadOptions } from '../model/load.js';
import { HookedModel, type RuntimeOptions } from './model.js';

/** Loads a model file or directory and prepares it for hooked inference. */
export function openModel(modelPath: string, opts: RuntimeOptions & LoadOptions = {}): HookedModel {
  return new HookedModel(loadModel(modelPath, { weights: opts.weights, cacheRoot: opts.cacheRoot }), opts);
}

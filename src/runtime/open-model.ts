import { loadModel, type LoadOptions } from '../model/load.js';
import { checkDevice } from './device.js';
import { HookedModel, type RuntimeOptions } from './model.js';

/** Loads a model file or directory and prepares it for hooked inference. */
export function openModel(modelPath: string, opts: RuntimeOptions & LoadOptions = {}): HookedModel {
  // The device is checked before the weights load: a missing provider fails in a moment.
  if (opts.device !== undefined) checkDevice(opts.device);
  return new HookedModel(loadModel(modelPath, { weights: opts.weights, cacheRoot: opts.cacheRoot }), opts);
}

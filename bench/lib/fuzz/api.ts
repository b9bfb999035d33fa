/**
 * What the loader fuzzer uses of Steerer: the readers and writers of every file kind, imported
 * module by module from ../src (not through the public index, so a model, vector or SAE loader
 * is exercised with nothing else loaded alongside it).
 */
import { loadModel } from '../../../src/model/load.js';
import { HookedModel } from '../../../src/runtime/model.js';

export { SteererError, ModelFileError } from '../../../src/io/errors.js';
export { GgmlType } from '../../../src/io/gguf.js';
export { writeSafetensors, type TensorToWrite } from '../../../src/io/safetensors-write.js';
export { writeModelGguf } from '../../../src/model/export-gguf.js';
export { loadHfDirectory } from '../../../src/model/loaders/hf.js';
export { loadSae } from '../../../src/sae/load-sae.js';
export { saveSae } from '../../../src/sae/sae-file.js';
export { exportSaeLens } from '../../../src/sae/saelens-format.js';
export type { Sae } from '../../../src/sae/sae.js';
export { loadVector, saveVector, exportControlVectorGguf } from '../../../src/steering/vector-file.js';
export { validateVector } from '../../../src/steering/vector-validation.js';
export type { SteeringVector } from '../../../src/steering/vector.js';
export { sharedPath } from '../../../src/util/shared-path.js';
export { loadModel, HookedModel };

/** loadModel + HookedModel, as the public openModel does. */
export function openModel(path: string, opts: { threads?: number } = {}): HookedModel {
  return new HookedModel(loadModel(path), opts);
}

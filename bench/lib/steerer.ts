/**
 * The one place bench/ reaches into Steerer. It imports the TypeScript sources of the main
 * package directly (../src, run through tsx), so no `npm run build` is needed and the bench
 * always measures the working tree. Some of what it needs (writeModelGguf, sharedPath,
 * GgmlType) is not part of the public index, hence the deep imports.
 */
export {
  addVector,
  generate,
  HookedModel,
  KvCache,
  loadModel,
  type Activation,
  type Hook,
  type LoadedModel,
} from '../../src/index.js';
export { modelGgufMetadata, writeModelGguf } from '../../src/model/export-gguf.js';
export { GgmlType, writeGguf, type GgufTensorToWrite } from '../../src/io/gguf.js';
export type { ModelSpec } from '../../src/model/spec.js';
export { sharedPath } from '../../src/util/shared-path.js';
export { createRng } from '../../src/runtime/rng.js';
export { tokenizerFromHfJson } from '../../src/model/tokenizers/hf-tokenizer.js';

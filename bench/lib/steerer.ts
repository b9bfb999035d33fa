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
  type ForwardInput,
  type ForwardOutput,
  type Hook,
  type LoadedModel,
} from '../../src/index.js';
export { logSoftmax } from '../../src/runtime/sampling.js';
export { evaluateMultipleChoice } from '../../src/evals/multiple-choice.js';
export { benchmarkPath, readMultipleChoice } from '../../src/evals/benchmark-files.js';
export { modelGgufMetadata, writeModelGguf } from '../../src/model/export-gguf.js';
export { GgmlType, GgufFile } from '../../src/io/gguf.js';
export { writeGguf, type GgufTensorToWrite } from '../../src/io/gguf-write.js';
export type { GgufMetaEntry } from '../../src/io/gguf-format.js';
export type { ModelSpec } from '../../src/model/spec.js';
export { sharedPath } from '../../src/util/shared-path.js';
export { createRng } from '../../src/runtime/rng.js';
export { tokenizerFromHfJson } from '../../src/model/tokenizers/hf-tokenizer.js';
export { GraphBuilder, int } from '../../src/graph/onnx-builder.js';

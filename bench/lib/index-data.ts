/**
 * The data of the activation-index benchmarks: tinystories-656k's blocks.1.hook_resid_post over
 * the model's own stories (7,000 sampled at temperature 1, seed 0), 1,048,576 rows, collected
 * once into bench/models/index-tinystories/store with Steerer's store writer (resumable).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MODELS_DIR } from './paths.js';
import { sharedPath } from './steerer.js';
import { parseHookName } from '../../src/graph/hook-points.js';
import { openModel } from '../../src/runtime/open-model.js';
import { ActivationStore } from '../../src/sae/activation-store.js';
import { collectActivationStore } from '../../src/sae/activation-store-writer.js';
import { generateCorpus, readCorpus } from '../../src/sae/corpus.js';

export const INDEX_DATA_DIR = join(MODELS_DIR, 'index-tinystories');
export const STORE_DIR = join(INDEX_DATA_DIR, 'store');
export const HOOK = 'blocks.1.hook_resid_post';
export const STORE_ROWS = 1_048_576;
const STORIES = 7000;

export function modelPath(): string {
  return sharedPath('models', 'tinystories-656k');
}

/** Opens the store, generating the stories and collecting the rows first when they are missing. */
export async function ensureStore(log: (m: string) => void): Promise<ActivationStore> {
  if (existsSync(join(STORE_DIR, 'manifest.json'))) {
    const s = ActivationStore.open(STORE_DIR);
    if (s.manifest.complete && s.rows >= STORE_ROWS) return s;
  }
  mkdirSync(STORE_DIR, { recursive: true });
  const model = openModel(modelPath());
  const corpus = join(STORE_DIR, 'generated.jsonl');
  log(`generating ${STORIES} stories into ${corpus} (~4 min on 2 cores)`);
  await generateCorpus(model, corpus, { count: STORIES, maxTokens: 256, temperature: 1, seed: 0, batchSize: 64 });
  log(`collecting ${STORE_ROWS} rows of ${HOOK} (~1 min)`);
  await collectActivationStore(model, readCorpus(corpus), { dir: STORE_DIR, point: parseHookName(HOOK, model.spec.numLayers), contextSize: 128, maxTokens: STORE_ROWS });
  return ActivationStore.open(STORE_DIR);
}

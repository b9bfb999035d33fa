import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ itself, wherever the scripts are started from. */
export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
/** Generated model files (git-ignored). */
export const MODELS_DIR = join(BENCH_DIR, 'models');
/** Committed benchmark results. */
export const RESULTS_DIR = join(BENCH_DIR, 'results');

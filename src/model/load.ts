import fs from 'node:fs';
import path from 'node:path';
import { ModelFileError } from '../io/errors.js';
import { loadLlama2c } from './loaders/llama2c.js';
import { loadGguf, type GgufLoadOptions } from './loaders/gguf.js';
import { loadHfDirectory } from './loaders/hf.js';
import type { LoadedModel } from './spec.js';

/** How weights are held; only quantized GGUF files have a choice. */
export type LoadOptions = GgufLoadOptions;

/**
 * The weights choice from the environment: STEERER_WEIGHTS=f32 expands quantized weights to
 * float32 (exact arithmetic, 4-8× the memory); unset or "packed" keeps them quantized.
 */
function weightsFromEnv(env: NodeJS.ProcessEnv = process.env): LoadOptions['weights'] {
  const v = env.STEERER_WEIGHTS;
  if (v === undefined || v === '') return undefined;
  if (v !== 'f32' && v !== 'packed') throw new ModelFileError('STEERER_WEIGHTS', `must be "packed" or "f32", got "${v}"`);
  return v;
}

/**
 * Opens a model from a path, whatever its format: a Hugging Face directory (config.json),
 * a .gguf file, or a llama2.c checkpoint (a .bin file, or a directory holding one).
 */
export function loadModel(modelPath: string, opts: LoadOptions = {}): LoadedModel {
  opts = { ...opts, weights: opts.weights ?? weightsFromEnv() };
  if (!fs.existsSync(modelPath)) throw new ModelFileError(modelPath, 'no such file or directory');
  const stat = fs.statSync(modelPath);
  if (stat.isDirectory()) {
    if (fs.existsSync(path.join(modelPath, 'config.json'))) return loadHfDirectory(modelPath);
    const files = fs.readdirSync(modelPath);
    const gguf = files.filter((f) => f.endsWith('.gguf'));
    if (gguf.length === 1) return loadGguf(path.join(modelPath, gguf[0]), opts);
    const checkpoints = files.filter((f) => f.endsWith('.bin') && !/^tok/.test(f));
    if (checkpoints.length === 1) return loadLlama2c(path.join(modelPath, checkpoints[0]));
    throw new ModelFileError(
      modelPath,
      'not a model directory: expected config.json (Hugging Face), one .gguf file, or one llama2.c .bin checkpoint',
    );
  }
  if (modelPath.endsWith('.gguf') || isGguf(modelPath)) return loadGguf(modelPath, opts);
  if (modelPath.endsWith('.bin')) return loadLlama2c(modelPath);
  throw new ModelFileError(modelPath, 'unknown model format: expected a .gguf file, a llama2.c .bin checkpoint or a Hugging Face directory');
}

function isGguf(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    return fs.readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
  } finally {
    fs.closeSync(fd);
  }
}

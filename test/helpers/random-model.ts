import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRng } from '../../src/runtime/rng.js';
import { sharedPath } from '../../src/util/shared-path.js';
import { writeHfModel, type HfArch, type HfModelShape, type WrittenHfModel } from './hf-model-writer.js';

/**
 * Tiny random-initialised models in Hugging Face layout (./hf-model-writer.ts), one per
 * supported architecture, with the TinyStories tokenizer. Tensors keep their HF names and
 * [out, in] layouts so the reference forward (./reference-forward.ts) works from exactly what
 * the file holds, independently of Steerer's canonical conversion.
 */

export type TestArch = HfArch;

export interface RandomModel extends WrittenHfModel {
  readonly dir: string;
  readonly arch: TestArch;
}

export interface RandomModelOptions {
  readonly seed?: number;
  readonly hidden?: number;
  readonly layers?: number;
  readonly heads?: number;
  readonly kvHeads?: number;
  readonly intermediate?: number;
  readonly maxPositions?: number;
  readonly tied?: boolean;
  readonly ropeScaling?: Record<string, unknown>;
  readonly dtype?: HfModelShape['dtype'];
}

/** Vocabulary of the TinyStories tokenizer, reused so the random models have a real tokenizer. */
export const TEST_VOCAB = 2048;

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `steerer-${prefix}-`));
}

export function writeRandomHfModel(arch: TestArch, opts: RandomModelOptions = {}): RandomModel {
  const dir = tempDir(arch);
  const rng = createRng(opts.seed ?? 1);
  const gauss = (): number => {
    const u = Math.max(rng.nextFloat(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
  };
  const heads = opts.heads ?? 4;
  const shape: HfModelShape = {
    arch,
    vocab: TEST_VOCAB,
    hidden: opts.hidden ?? 64,
    layers: opts.layers ?? 2,
    heads,
    kvHeads: arch === 'gpt2' ? heads : (opts.kvHeads ?? 2),
    intermediate: opts.intermediate ?? 128,
    maxPositions: opts.maxPositions ?? 256,
    tied: opts.tied ?? true,
    bos: 1,
    eos: 2,
    extraConfig: { rope_scaling: opts.ropeScaling ?? null },
    dtype: opts.dtype ?? 'F32',
  };
  const tokenizer = Object.fromEntries(['tokenizer.json', 'tokenizer_config.json'].map((f) => [f, fs.readFileSync(sharedPath('models', 'tinystories-656k', f))]));
  const { config, tensors } = writeHfModel(dir, shape, gauss, tokenizer);
  return { dir, arch, config, tensors };
}

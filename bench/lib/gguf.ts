import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GgmlType, GgufFile, writeModelGguf, type LoadedModel } from './steerer.js';

/**
 * Writes `loaded` (a Hugging Face directory loaded by Steerer) as an F32 GGUF with Steerer's
 * writeModelGguf, embedding the directory's tokenizer.json. Returns the file's size.
 */
export function exportF32Gguf(loaded: LoadedModel, modelDir: string, outFile: string): number {
  const tokenizerJson = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as object;
  const tmp = `${outFile}.tmp`;
  writeModelGguf(tmp, loaded.spec, loaded.weights, {
    type: GgmlType.F32,
    name: basename(modelDir),
    tokenizerJson,
    chatTemplate: loaded.chatTemplate,
    // Parity feeds token ids, so a vocabulary without byte tokens (TinyStories) is fine here.
    allowMissingByteTokens: true,
  });
  renameSync(tmp, outFile);
  return statSync(outFile).size;
}

/** Whether `file` exists and is newer than every `inputs` file. */
export function upToDate(file: string, inputs: readonly string[]): boolean {
  if (!existsSync(file)) return false;
  const t = statSync(file).mtimeMs;
  return inputs.every((i) => statSync(i).mtimeMs <= t);
}

/** `{arch}.embedding_length` of a GGUF file: the hidden size, read from the header alone. */
export function ggufHiddenSize(file: string): number {
  const gguf = GgufFile.open(file);
  try {
    const n = gguf.getNumber(`${gguf.getString('general.architecture')}.embedding_length`);
    if (n === undefined || !Number.isSafeInteger(n) || n < 1) throw new Error(`${file}: no embedding_length`);
    return n;
  } finally {
    gguf.close();
  }
}

/**
 * Optional diagnostic: which engine is closer to exact arithmetic? Compares Steerer's and
 * llama.cpp's logits on the random SmolLM2-shape model with a float64 forward pass, the
 * plain reference in ../test/helpers/reference-forward.ts (written from the Hugging Face
 * modeling code, reading the safetensors tensors under their HF names; it shares no code
 * with Steerer's graphs). Slow: the reference runs in plain JS (about 2 minutes for 256 tokens).
 *
 * Run `npm run parity` first (it creates the model and its GGUF).
 * Usage: npm run parity:f64 [-- --tokens 256]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RandomModel } from '../test/helpers/random-model.js';
import { referenceLogits } from '../test/helpers/reference-forward.js';
import { llamaLogits, openLlama, openLlamaSession } from './lib/llama.js';
import { MODELS_DIR } from './lib/paths.js';
import { HookedModel, loadModel, sharedPath } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';

const THREADS = 2;

/** The safetensors file's F32 tensors under their HF names (read independently of Steerer). */
function readF32Safetensors(file: string): Map<string, { shape: number[]; data: Float32Array }> {
  const buf = readFileSync(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== 'F32') throw new Error(`${name}: expected F32, got ${e.dtype}`);
    const start = 8 + headerLength + e.data_offsets[0];
    const bytes = buf.subarray(start, 8 + headerLength + e.data_offsets[1]);
    out.set(name, { shape: e.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) });
  }
  return out;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--tokens');
  const T = i >= 0 ? Number(process.argv[i + 1]) : 256;
  const dir = join(MODELS_DIR, 'smollm2-random');
  const gguf = join(MODELS_DIR, 'smollm2-random.f32.gguf');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const tensors = readF32Safetensors(join(dir, 'model.safetensors'));
  // Tied head: the reference reads lm_head.weight; the file stores only the embedding.
  const embed = tensors.get('model.embed_tokens.weight');
  if (!embed) throw new Error('model.embed_tokens.weight missing');
  tensors.set('lm_head.weight', embed);
  const reference: RandomModel = { dir, arch: 'llama', config, tensors };

  const steerer = new HookedModel(loadModel(dir), { threads: THREADS });
  const V = steerer.spec.vocabSize;
  const text = readFileSync(sharedPath('data', 'text', 'wikitext-2', 'test.txt'), 'utf8').slice(0, 20000);
  const ids = steerer.encode(text).slice(0, T);
  const at = [...new Set([0, 8, 16, 32, 64, 96, 128, 160, 192, 224, T - 1].filter((p) => p < T))];
  const s = (await steerer.forward({ tokens: [ids], logits: 'all' })).logits!;
  const llama = await openLlama(THREADS);
  const session = await openLlamaSession(llama, gguf, { threads: THREADS, contextSize: 512, batchSize: 512 });
  const l = await llamaLogits(session.sequence, ids, new Set(at), V);
  console.error(`[parity-f64] float64 reference forward over ${T} tokens...`);
  const ref = referenceLogits(reference, ids);

  const rows = at.map((p) => {
    const r = ref[p];
    const lr = l.get(p)!;
    let ds = 0;
    let dl = 0;
    let dsl = 0;
    let scale = 0;
    for (let k = 0; k < V; k++) {
      ds = Math.max(ds, Math.abs(s[p * V + k] - r[k]));
      dl = Math.max(dl, Math.abs(lr[k] - r[k]));
      dsl = Math.max(dsl, Math.abs(s[p * V + k] - lr[k]));
      scale = Math.max(scale, Math.abs(r[k]));
    }
    return [String(p), fmt(ds / scale), fmt(dl / scale), fmt(dsl / scale)];
  });
  console.log(`\nrel = max_i |Δ_i| / max_i |ref_i| per position (random SmolLM2-135M shape, F32 weights)`);
  console.log(formatTable(['position', 'Steerer vs f64', 'llama.cpp vs f64', 'Steerer vs llama.cpp'], rows));
  await session.context.dispose();
  await session.model.dispose();
  await llama.dispose();
  await steerer.dispose();
}

await main();

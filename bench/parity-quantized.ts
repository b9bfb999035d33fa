/**
 * Quantized parity: Steerer's packed weights against llama.cpp on the same Q8_0 / Q4_0 GGUF.
 *
 * Neither engine computes a quantized model's function exactly: llama.cpp quantizes activations
 * to 8 bits before its quantized dot products, Steerer's 8-bit matmuls do the same (ONNX
 * Runtime's MatMulNBits at accuracy level 4) while its 4-bit ones compute in float32. The yardstick
 * is therefore llama.cpp's own quantization error: per prompt, the difference between llama.cpp's
 * quantized and F32 logits. Pass: Steerer-quantized vs llama.cpp-quantized is no larger (max
 * over rows of the centered relative difference, i.e. log-probabilities up to a constant).
 * Greedy continuations are compared too, with the token where they first differ.
 *
 * Usage: npm run parity:quantized [-- --only tinystories|smollm2]
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportF32Gguf, upToDate } from './lib/gguf.js';
import { llamaGreedy, llamaLogits, openLlama, openLlamaSession } from './lib/llama.js';
import { diffRows } from './lib/logit-diff.js';
import { MODELS_DIR, RESULTS_DIR } from './lib/paths.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { generate, GgmlType, HookedModel, loadModel, sharedPath, writeModelGguf } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';


const THREADS = 2;
const GREEDY = 32;
const log = (msg: string): void => console.error(`[parity-quantized] ${msg}`);
const TYPES = { q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0 } as const;

const MODELS = [
  { label: 'tinystories-656k', dir: () => sharedPath('models', 'tinystories-656k'), prompts: ['Once upon a time', 'Lily and Ben went to the park. They saw a big', 'The little dog was sad because'] },
  { label: 'smollm2-random', dir: () => ensureSmolRandomModel(log).dir, prompts: ['The capital of France is', 'def fibonacci(n):\n    if n < 2:\n        return n\n'] },
] as const;

interface Row {
  readonly model: string;
  readonly type: string;
  readonly prompt: string;
  /** llama.cpp quantized vs llama.cpp F32 (the yardstick). */
  readonly llamaQuantError: number;
  /** Steerer quantized vs llama.cpp quantized. */
  readonly steererVsLlama: number;
  /** Steerer quantized vs llama.cpp F32. */
  readonly steererVsF32: number;
  readonly top1Agree: string;
  readonly greedyMatched: number;
  readonly pass: boolean;
}

async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const llama = await openLlama(THREADS);
  const rows: Row[] = [];
  mkdirSync(MODELS_DIR, { recursive: true });
  for (const mc of MODELS.filter((m) => !only || m.label.startsWith(only))) {
    const dir = mc.dir();
    const loaded = loadModel(dir);
    const f32File = join(MODELS_DIR, `${mc.label}.f32.gguf`);
    if (!upToDate(f32File, [dir])) exportF32Gguf(loaded, dir, f32File);
    const tokenizerJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as object;
    const ref = await openLlamaSession(llama, f32File, { threads: THREADS, contextSize: 512, batchSize: 512 });
    for (const [type, ggml] of Object.entries(TYPES)) {
      const file = join(MODELS_DIR, `${mc.label}.${type}.gguf`);
      if (!upToDate(file, [dir])) {
        writeModelGguf(`${file}.tmp`, loaded.spec, loaded.weights, { type: ggml, name: mc.label, tokenizerJson, allowMissingByteTokens: true });
        rmSync(file, { force: true });
        renameSync(`${file}.tmp`, file);
      }
      log(`${mc.label} ${type}`);
      const q = await openLlamaSession(llama, file, { threads: THREADS, contextSize: 512, batchSize: 512 });
      const steerer = new HookedModel(loadModel(file), { threads: THREADS });
      if (!steerer.packed) throw new Error(`${file} did not load packed`);
      const V = steerer.spec.vocabSize;
      for (const prompt of mc.prompts) {
        const ids = steerer.encode(prompt);
        const at = ids.map((_, i) => i);
        const s = (await steerer.forward({ tokens: [ids], logits: 'all' })).logits!;
        const sRows = at.map((i) => s.slice(i * V, (i + 1) * V));
        await q.sequence.clearHistory();
        const lq = await llamaLogits(q.sequence, ids, new Set(at), V);
        await ref.sequence.clearHistory();
        const lf = await llamaLogits(ref.sequence, ids, new Set(at), V);
        const lqRows = at.map((i) => lq.get(i)!);
        const lfRows = at.map((i) => lf.get(i)!);
        const yardstick = diffRows(lqRows, lfRows);
        const vsLlama = diffRows(sRows, lqRows);
        const vsF32 = diffRows(sRows, lfRows);
        const sGen = (await generate(steerer, ids, { temperature: 0, maxTokens: GREEDY, stopTokens: [] })).tokens;
        const lGen = await llamaGreedy(q.sequence, ids, GREEDY);
        let matched = 0;
        while (matched < GREEDY && sGen[matched] === lGen[matched]) matched++;
        rows.push({
          model: mc.label,
          type,
          prompt,
          llamaQuantError: yardstick.relCentered,
          steererVsLlama: vsLlama.relCentered,
          steererVsF32: vsF32.relCentered,
          top1Agree: `${vsLlama.top1Agree}/${vsLlama.rows}`,
          greedyMatched: matched,
          pass: vsLlama.relCentered <= yardstick.relCentered,
        });
      }
      await steerer.dispose();
      await q.context.dispose();
      await q.model.dispose();
    }
    await ref.context.dispose();
    await ref.model.dispose();
  }
  console.log('\nCentered relative logit differences (max over prompt positions); yardstick = llama.cpp quantized vs llama.cpp F32');
  console.log(
    formatTable(
      ['model', 'weights', 'prompt', 'llama.cpp Q vs F32', 'Steerer Q vs llama.cpp Q', 'Steerer Q vs llama.cpp F32', 'top-1 agree', `greedy (of ${GREEDY})`, 'pass'],
      rows.map((r) => [r.model, r.type.toUpperCase(), JSON.stringify(r.prompt.slice(0, 28)), fmt(r.llamaQuantError, 4), fmt(r.steererVsLlama, 4), fmt(r.steererVsF32, 4), r.top1Agree, String(r.greedyMatched), r.pass ? 'yes' : 'NO']),
    ),
  );
  writeFileSync(join(RESULTS_DIR, 'parity-quantized.json'), `${JSON.stringify({ createdAt: new Date().toISOString(), greedy: GREEDY, rows }, null, 1)}\n`);
}

await main();

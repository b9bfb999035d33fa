/**
 * Parity: Steerer vs llama.cpp (node-llama-cpp, prebuilt CPU binary) on identical weights.
 *
 * For each model, Steerer loads the Hugging Face directory, writes it as an F32 GGUF with
 * writeModelGguf, and llama.cpp loads that GGUF. Both engines get the same token ids (from
 * Steerer's tokenizer; llama.cpp never tokenizes) and we compare:
 *   prefill  next-token logits of one batched pass over the prompt (Steerer: forward with
 *            logits 'all', no cache; llama.cpp: one decode with logits on those rows);
 *   decode   logits of a continuation fed one token at a time through Steerer's KV cache,
 *            against llama.cpp evaluating the same tokens on top of its KV cache;
 *   greedy   N-token greedy continuations: Steerer generate() at temperature 0 vs llama.cpp's
 *            greedy sampler (neither stops at EOS).
 * llama.cpp returns raw logits (controlledEvaluate with `logits: true`), so they are compared
 * directly: per row, rel = max_i |s_i − l_i| / max_i |s_i|, reported as the max over rows; the
 * same after subtracting each row's max ("centered", i.e. log-probabilities up to the
 * log-sum-exp) is shown as well. Pass: rel ≤ 1e-3 on every row, greedy tokens identical.
 *
 * Usage: npm run parity [-- --only tinystories|smollm2]
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportF32Gguf } from './lib/gguf.js';
import { LLAMA_SETTINGS, llamaGreedy, llamaLogits, openLlama, openLlamaSession, type LlamaSession } from './lib/llama.js';
import { MODELS_DIR } from './lib/paths.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { generate, HookedModel, loadModel, sharedPath } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';
import { diffRows, margin, type RowDiff } from './lib/logit-diff.js';

const THREADS = 2;
const TOLERANCE = 1e-3;

interface PromptCase {
  readonly label: string;
  readonly text: string;
  /** Truncate the encoded prompt to this many ids. */
  readonly maxIds?: number;
}

interface ModelCase {
  readonly label: string;
  readonly dir: () => string;
  readonly gguf: string;
  readonly contextSize: number;
  readonly greedyTokens: number;
  readonly prompts: readonly PromptCase[];
}


interface LogitResult extends RowDiff {
  readonly model: string;
  readonly prompt: string;
  readonly path: 'prefill' | 'decode';
  readonly positions: string;
  readonly pass: boolean;
}

interface GreedyResult {
  readonly model: string;
  readonly prompt: string;
  readonly promptIds: number;
  readonly n: number;
  readonly matched: number;
  /** Distinct ids in the continuation (a degenerate repeat-one-token loop would be a weak test). */
  readonly distinct: number;
  /** Smallest top-1 − top-2 logit gap along Steerer's continuation. */
  readonly minMargin: number;
  readonly note: string;
  readonly pass: boolean;
}

const log = (msg: string): void => console.error(`[parity] ${msg}`);

function wikitext(): string {
  return readFileSync(sharedPath('data', 'text', 'wikitext-2', 'test.txt'), 'utf8').slice(0, 20000);
}

const MODELS: readonly ModelCase[] = [
  {
    label: 'tinystories-656k',
    dir: () => sharedPath('models', 'tinystories-656k'),
    gguf: join(MODELS_DIR, 'tinystories-656k.f32.gguf'),
    contextSize: 512,
    greedyTokens: 64,
    prompts: [
      { label: 'once-upon', text: 'Once upon a time' },
      { label: 'park', text: 'Lily and Ben went to the park. They saw a big' },
      { label: 'sad-dog', text: 'The little dog was sad because' },
      { label: 'key', text: 'One day, a girl named Sue found a shiny key under her bed.' },
      { label: 'wikitext-384', text: wikitext(), maxIds: 384 },
    ],
  },
  {
    label: 'smollm2-random',
    dir: () => ensureSmolRandomModel(log).dir,
    gguf: join(MODELS_DIR, 'smollm2-random.f32.gguf'),
    contextSize: 512,
    greedyTokens: 32,
    prompts: [
      { label: 'capital', text: 'The capital of France is' },
      { label: 'code', text: 'def fibonacci(n):\n    if n < 2:\n        return n\n' },
      { label: 'chatml', text: '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n' },
      { label: 'wikitext-256', text: wikitext(), maxIds: 256 },
    ],
  },
];

/** Which prompt positions get their logits compared: all of a short prompt, a stride of a long one. */
function comparedPositions(n: number): number[] {
  if (n <= 64) return Array.from({ length: n }, (_, i) => i);
  const stride = Math.ceil(n / 32);
  const out: number[] = [];
  for (let i = 0; i < n - 1; i += stride) out.push(i);
  out.push(n - 1);
  return out;
}

function positionsLabel(ps: readonly number[]): string {
  if (ps.length <= 1) return ps.join(',');
  const step = ps[1] - ps[0];
  const regular = ps.slice(0, -1).every((p, i) => i === 0 || p - ps[i - 1] === step);
  return regular && step > 1 ? `${ps[0]}..${ps[ps.length - 1]} /${step}` : `${ps[0]}..${ps[ps.length - 1]}`;
}

async function runModel(mc: ModelCase): Promise<{ logits: LogitResult[]; greedy: GreedyResult[] }> {
  const dir = mc.dir();
  log(`${mc.label}: loading ${dir} with Steerer`);
  const loaded = loadModel(dir);
  const steerer = new HookedModel(loaded, { threads: THREADS });
  const V = steerer.spec.vocabSize;
  mkdirSync(MODELS_DIR, { recursive: true });
  const bytes = exportF32Gguf(loaded, dir, mc.gguf);
  log(`${mc.label}: wrote ${mc.gguf} (${(bytes / 2 ** 20).toFixed(1)} MiB, F32) with writeModelGguf`);

  const llama = await openLlama(THREADS);
  let session: LlamaSession | undefined;
  const logits: LogitResult[] = [];
  const greedy: GreedyResult[] = [];
  try {
    session = await openLlamaSession(llama, mc.gguf, { threads: THREADS, contextSize: mc.contextSize, batchSize: mc.contextSize });
    const { sequence: seq } = session;
    for (const p of mc.prompts) {
      let ids = steerer.encode(p.text);
      if (p.maxIds !== undefined) ids = ids.slice(0, p.maxIds);
      const N = mc.greedyTokens;
      if (ids.length + N > mc.contextSize) throw new Error(`${p.label}: ${ids.length}+${N} tokens exceed the context`);
      log(`${mc.label}/${p.label}: ${ids.length} prompt ids, ${N} greedy tokens`);

      // Prefill: one batched pass over the prompt.
      const at = comparedPositions(ids.length);
      const one = await steerer.forward({ tokens: [ids], logits: 'all' });
      const sRows = at.map((i) => one.logits!.slice(i * V, (i + 1) * V));
      await seq.clearHistory();
      const lPrefill = await llamaLogits(seq, ids, new Set(at), V);
      const pre = diffRows(sRows, at.map((i) => lPrefill.get(i)!));
      logits.push({ model: mc.label, prompt: p.label, path: 'prefill', positions: positionsLabel(at), ...pre, pass: pre.rel <= TOLERANCE });

      // Greedy continuations.
      const sGen = [...(await generate(steerer, ids, { temperature: 0, maxTokens: N, stopTokens: [] })).tokens];

      // Decode: Steerer's continuation fed back one token at a time through its KV cache
      // (teacher-forced, so both engines see identical inputs even if greedy diverged);
      // llama.cpp continues from the prompt already in its cache.
      const cache = steerer.createCache(1);
      const sDec: Float32Array[] = [(await steerer.forward({ tokens: [ids], cache, logits: 'last' })).logits!.slice()];
      for (const t of sGen.slice(0, -1)) sDec.push((await steerer.forward({ tokens: [[t]], cache, logits: 'last' })).logits!.slice());
      const cont = sGen.slice(0, -1);
      const lCont = await llamaLogits(seq, cont, new Set(cont.map((_, i) => i)), V);
      const lDec = [lPrefill.get(ids.length - 1)!, ...cont.map((_, i) => lCont.get(i)!)];
      const dec = diffRows(sDec, lDec);
      logits.push({
        model: mc.label,
        prompt: p.label,
        path: 'decode',
        positions: `${ids.length - 1}..${ids.length - 1 + cont.length}`,
        ...dec,
        pass: dec.rel <= TOLERANCE,
      });

      const lGen = await llamaGreedy(seq, ids, N);
      let matched = 0;
      while (matched < N && sGen[matched] === lGen[matched]) matched++;
      let note = '';
      if (matched < N) {
        const k = matched;
        note = `first difference at new token ${k}: steerer ${sGen[k]} vs llama.cpp ${lGen[k]}; steerer top-2 margin there ${fmt(margin(sDec[k]), 5)}`;
      }
      greedy.push({
        model: mc.label,
        prompt: p.label,
        promptIds: ids.length,
        n: N,
        matched,
        distinct: new Set(sGen).size,
        minMargin: Math.min(...sDec.map(margin)),
        note,
        pass: matched === N && lGen.length === N,
      });
    }
  } finally {
    await session?.context.dispose();
    await session?.model.dispose();
    await llama.dispose();
    await steerer.dispose();
  }
  return { logits, greedy };
}

async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const cases = MODELS.filter((m) => only === undefined || m.label.startsWith(only));
  if (cases.length === 0) throw new Error(`no model matches --only ${only}`);

  const llama = await openLlama(THREADS);
  log(
    `llama.cpp ${llama.llamaCppRelease.release} (${llama.buildType} binary, gpu: ${String(llama.gpu)}), ` +
      `threads ${THREADS} both engines, ${JSON.stringify(LLAMA_SETTINGS)}`,
  );
  await llama.dispose();

  const logits: LogitResult[] = [];
  const greedy: GreedyResult[] = [];
  for (const mc of cases) {
    const r = await runModel(mc);
    logits.push(...r.logits);
    greedy.push(...r.greedy);
  }

  const mark = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  console.log(`\nNext-token logits, Steerer vs llama.cpp (F32 weights; pass: rel ≤ ${TOLERANCE})`);
  console.log(
    formatTable(
      ['model', 'prompt', 'path', 'positions', 'rows', 'max|Δ|', 'rel', 'rel centered', 'top-1 agree', 'result'],
      logits.map((r) => [
        r.model,
        r.prompt,
        r.path,
        r.positions,
        String(r.rows),
        fmt(r.maxAbs),
        fmt(r.rel),
        fmt(r.relCentered),
        `${r.top1Agree}/${r.rows}`,
        mark(r.pass),
      ]),
    ),
  );
  console.log(`\nGreedy continuations (Steerer generate() at temperature 0 vs llama.cpp greedy), token for token`);
  console.log(
    formatTable(
      ['model', 'prompt', 'prompt ids', 'new tokens', 'distinct', 'min top-2 gap', 'identical', 'result'],
      greedy.map((g) => [g.model, g.prompt, String(g.promptIds), String(g.n), String(g.distinct), fmt(g.minMargin), `${g.matched}/${g.n}`, mark(g.pass)]),
    ),
  );
  for (const g of greedy) if (g.note) console.log(`  ${g.model}/${g.prompt}: ${g.note}`);
  const failed = logits.filter((r) => !r.pass).length + greedy.filter((g) => !g.pass).length;
  console.log(`\n${failed === 0 ? 'PASS' : 'FAIL'}: ${logits.length + greedy.length - failed}/${logits.length + greedy.length} checks passed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();

/**
 * Per-token cost of each decode-time steering method against plain decoding of the same
 * model in the same run: logits processors, contrastive decoding, CFG, proxy-tuning
 * (three models in lockstep), probe reranking of the top-k, best-of-N.
 *
 * Models: the real tinystories-656k, and the SmolLM2-135M-shape random model (realistic
 * vocabulary of 49k and per-token cost). Greedy, EOS ignored, so every run decodes the same
 * number of tokens.
 *
 * Usage: npm run decode [-- --threads 2 --tokens 48 --reps 3 --models tiny,smol]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RESULTS_DIR } from './lib/paths.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { createRng, generate, HookedModel, loadModel, sharedPath, type Hook } from './lib/steerer.js';
import { compileDecoding, DecodingSchema } from '../src/decoding/decoding-spec.js';
import type { CandidateScorer, DecodingPlan } from '../src/decoding/plan.js';
import { compileSteeringSpec, parseSteeringSpec } from '../src/steering/spec.js';
import { fileResolver } from '../src/steering/resolve.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const threads = Number(flag('threads', '2'));
const tokens = Number(flag('tokens', '48'));
const which = flag('models', 'tiny,smol').split(',');
const reps = Number(flag('reps', '3'));

interface Row {
  model: string;
  method: string;
  msPerToken: number;
  ratio: number;
}
const rows: Row[] = [];

async function bench(name: string, dir: string): Promise<void> {
  const model = new HookedModel(loadModel(dir), { threads });
  // Guides of proxy-tuning: the same weights loaded twice more (a worst case: guides as big as the target).
  const expert = new HookedModel(loadModel(dir), { threads });
  const base = new HookedModel(loadModel(dir), { threads });
  const rng = createRng(1);
  const D = model.spec.hiddenSize;
  const vector = Array.from({ length: D }, () => rng.nextFloat() - 0.5);
  const layer = Math.floor(model.spec.numLayers / 2);
  const hooks: Hook[] = compileSteeringSpec(parseSteeringSpec({ interventions: [{ vector: { inline: vector }, layers: layer, coefficient: 2 }] }), model.spec, fileResolver('.'));
  const u = Float32Array.from({ length: D }, () => rng.nextFloat() - 0.5);
  // A linear scorer, the cost of a probe (one dot product per candidate).
  const scorer: CandidateScorer = {
    name: 'linear',
    point: { layer, site: 'resid_post' },
    reduce: 'last',
    score: (acts, n) => Float32Array.from({ length: n }, (_, i) => acts.subarray(i * D, (i + 1) * D).reduce((s, x, d) => s + x * u[d], 0)),
  };
  const plan = (spec: unknown): DecodingPlan => compileDecoding(DecodingSchema.parse(spec), model, { model: (ref) => (ref === 'expert' ? expert : base) });
  const words = ['sad', 'happy', 'dog', 'cat', 'tree'];
  const methods: { method: string; hooks?: Hook[]; decoding?: DecodingPlan }[] = [
    { method: 'plain' },
    { method: 'bias (5 words)', decoding: plan({ processors: [{ type: 'bias', text: words, bias: 2 }] }) },
    { method: 'ban (5 words)', decoding: plan({ processors: [{ type: 'ban', text: words }] }) },
    { method: 'repetition penalty', decoding: plan({ processors: [{ type: 'repetition', penalty: 1.3 }] }) },
    { method: 'frequency+presence', decoding: plan({ processors: [{ type: 'frequency', frequency: 0.3, presence: 0.3 }] }) },
    { method: 'activation steering', hooks },
    { method: 'contrast (steered vs unsteered)', hooks, decoding: plan({ contrast: { alpha: 2 } }) },
    { method: 'cfg (negative prompt)', decoding: plan({ cfg: { scale: 1.5, negativePrompt: 'A sad story.' } }) },
    { method: 'proxy-tuning (3 models)', decoding: plan({ guide: { expert: 'expert', base: 'base', alpha: 1 } }) },
    { method: 'probe rerank top-4', decoding: { ...plan({}), rerank: { scorer, topK: 4, weight: 1 } } },
    { method: 'best-of-4 (perplexity)', decoding: plan({ select: { candidates: 4 } }) },
    { method: 'best-of-4 every 8 (probe)', decoding: { ...plan({}), select: { candidates: 4, every: 8, by: scorer } } },
  ];
  const prompt = 'Once upon a time, there was a little girl who';
  let plainMs = NaN;
  for (const m of methods) {
    const run = () => generate(model, prompt, { temperature: 0, maxTokens: tokens, stopTokens: [], hooks: m.hooks, decoding: m.decoding });
    await run(); // warm-up: graph compilation
    // Best of several runs: the machine is shared and small models decode in milliseconds.
    let ms = Infinity;
    for (let rep = 0; rep < reps; rep++) {
      const t = performance.now();
      const out = await run();
      ms = Math.min(ms, (performance.now() - t) / out.tokens.length);
    }
    if (m.method === 'plain') plainMs = ms;
    rows.push({ model: name, method: m.method, msPerToken: ms, ratio: ms / plainMs });
    console.log(`${name.padEnd(6)} ${m.method.padEnd(32)} ${ms.toFixed(2).padStart(8)} ms/token  ${(ms / plainMs).toFixed(2).padStart(6)}× plain`);
  }
  await Promise.all([model, expert, base].map((m) => m.dispose()));
}

console.log(`decode-time steering, ${tokens} greedy tokens after a 12-token prompt, ${threads} threads`);
if (which.includes('tiny')) await bench('tiny', sharedPath('models', 'tinystories-656k'));
if (which.includes('smol')) await bench('smol', ensureSmolRandomModel((m) => console.error(`[decode] ${m}`)).dir);

mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(join(RESULTS_DIR, 'decode-overhead.json'), `${JSON.stringify({ date: new Date().toISOString(), threads, tokens, rows }, null, 2)}\n`);

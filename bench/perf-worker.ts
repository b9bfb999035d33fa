/**
 * One engine of the perf benchmark, in its own process so its peak RSS is its own.
 * Started by perf.ts (child_process.fork, tsx loader); gets a WorkerConfig as argv[2] and
 * sends a WorkerResult back over IPC.
 */
import { performance } from 'node:perf_hooks';
import type { Token } from 'node-llama-cpp';
import { asTokens, LLAMA_SETTINGS, openLlama, openLlamaSession } from './lib/llama.js';
import { currentRssBytes, peakRssBytes } from './lib/mem.js';
import type { DecodeResult, MemoryResult, PrefillResult, WorkerConfig, WorkerResult } from './lib/perf-types.js';
import { Rng } from './lib/random-model.js';
import { addVector, generate, HookedModel, loadModel, type Activation, type Hook } from './lib/steerer.js';
import { median } from './lib/table.js';

const now = (): number => performance.now() / 1000;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

function decodeResult(promptSeconds: number, steps: readonly number[], generated: readonly number[]): DecodeResult {
  const seconds = steps.reduce((a, b) => a + b, 0);
  return { promptSeconds, tokens: steps.length, seconds, tokensPerSecond: steps.length / seconds, medianStepMs: median(steps) * 1000, generated };
}

function fastest(runs: readonly DecodeResult[]): DecodeResult {
  return runs.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
}

function prefillResult(tokens: number, seconds: readonly number[]): PrefillResult {
  const m = median(seconds);
  return { tokens, seconds, medianSeconds: m, tokensPerSecond: tokens / m };
}

async function runSteerer(cfg: WorkerConfig): Promise<WorkerResult> {
  let t = now();
  const model = new HookedModel(loadModel(cfg.modelDir), { threads: cfg.threads });
  const loadSeconds = now() - t;
  const rssAfterLoadBytes = currentRssBytes();
  const peakRssAfterLoadBytes = peakRssBytes();
  let weightBytes = 0;
  for (const w of model.weights.values()) weightBytes += w.data.byteLength;
  let kvBytes = 0;

  /** Prefill the prompt (untimed), then `n` timed single-token greedy forwards. */
  const decode = async (n: number, hooks?: readonly Hook[]): Promise<DecodeResult> => {
    const cache = model.createCache(1);
    const p = now();
    let out = await model.forward({ tokens: [cfg.decodePromptIds], cache, hooks, logits: 'last' });
    const promptSeconds = now() - p;
    const generated = [argmax(out.logits!)];
    const steps: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = now();
      out = await model.forward({ tokens: [[generated[generated.length - 1]]], cache, hooks, logits: 'last' });
      generated.push(argmax(out.logits!));
      steps.push(now() - s);
    }
    kvBytes = Math.max(kvBytes, cache.bytes());
    return decodeResult(promptSeconds, steps, generated);
  };

  // Warm-up: the first forward compiles the plan's ORT session.
  t = now();
  await model.forward({ tokens: [cfg.prefillIds], logits: 'last' });
  const firstForwardSeconds = now() - t;

  if (cfg.mode === 'long') {
    const decodeLong = await decode(cfg.decodeTokens);
    await model.dispose();
    return {
      engine: 'steerer',
      mode: cfg.mode,
      cpuSeconds: cpuSeconds(),
      loadSeconds,
      firstForwardSeconds,
      decode: decodeLong,
      memory: { peakRssBytes: peakRssBytes(), peakRssAfterLoadBytes, rssAfterLoadBytes, weightBytes, kvBytes },
      info: { threads: model.threads },
    };
  }
  await decode(2);
  const phases: Record<string, number> = { afterWarmup: peakRssBytes() };

  const prefillSeconds: number[] = [];
  for (let r = 0; r < cfg.prefillReps; r++) {
    const cache = model.createCache(1);
    const s = now();
    await model.forward({ tokens: [cfg.prefillIds], cache, logits: 'last' });
    prefillSeconds.push(now() - s);
    kvBytes = Math.max(kvBytes, cache.bytes());
  }

  phases.afterPrefill = peakRssBytes();
  // Hooks at every layer's resid_post: a compiled addVector, and the same addition as a JS edit.
  const D = model.spec.hiddenSize;
  const rng = new Rng(7);
  const vector = new Float32Array(D);
  for (let i = 0; i < D; i++) vector[i] = 0.1 * rng.gauss();
  const layers = Array.from({ length: model.spec.numLayers }, (_, l) => `blocks.${l}.hook_resid_post`);
  const compiledHooks: Hook[] = layers.map((at) => ({ kind: 'intervene', at, intervention: addVector(vector) }));
  const editHooks: Hook[] = layers.map((at) => ({
    kind: 'edit',
    at,
    fn: (act: Activation) => {
      for (let r = 0; r < act.batch * act.seq; r++) {
        const o = r * act.dim;
        for (let d = 0; d < act.dim; d++) act.data[o + d] += vector[d];
      }
    },
  }));
  await decode(2, compiledHooks);
  await decode(2, editHooks);

  /** The public API: generate() at temperature 0 (prompt prefill included in the time). */
  const generateApi = async (): Promise<DecodeResult> => {
    const g0 = now();
    const gen = await generate(model, cfg.decodePromptIds, { temperature: 0, maxTokens: cfg.decodeTokens + 1, stopTokens: [] });
    const seconds = now() - g0;
    return { promptSeconds: NaN, tokens: gen.tokens.length, seconds, tokensPerSecond: gen.tokens.length / seconds, medianStepMs: NaN, generated: gen.tokens };
  };

  phases.afterHookWarmup = peakRssBytes();
  // Variants interleaved, `decodeReps` times each; the fastest repetition of each counts
  // (interference from other processes only ever slows a run down).
  const reps: { base: DecodeResult[]; compiled: DecodeResult[]; edit: DecodeResult[]; api: DecodeResult[] } = { base: [], compiled: [], edit: [], api: [] };
  for (let r = 0; r < cfg.decodeReps; r++) {
    reps.base.push(await decode(cfg.decodeTokens));
    reps.compiled.push(await decode(cfg.decodeTokens, compiledHooks));
    reps.edit.push(await decode(cfg.decodeTokens, editHooks));
    reps.api.push(await generateApi());
  }
  const base = fastest(reps.base);
  const compiledAddVector = fastest(reps.compiled);
  const jsEdit = fastest(reps.edit);
  const generateApiResult = fastest(reps.api);

  await model.dispose();
  const memory: MemoryResult = { peakRssBytes: peakRssBytes(), peakRssAfterLoadBytes, rssAfterLoadBytes, weightBytes, kvBytes, phases };
  return {
    engine: 'steerer',
    mode: cfg.mode,
    cpuSeconds: cpuSeconds(),
    loadSeconds,
    firstForwardSeconds,
    prefill: prefillResult(cfg.prefillIds.length, prefillSeconds),
    decode: base,
    variants: { compiledAddVector, jsEdit, generateApi: generateApiResult },
    decodeReps: {
      none: reps.base.map((d) => d.tokensPerSecond),
      compiledAddVector: reps.compiled.map((d) => d.tokensPerSecond),
      jsEdit: reps.edit.map((d) => d.tokensPerSecond),
      generateApi: reps.api.map((d) => d.tokensPerSecond),
    },
    memory,
    info: { format: 'Hugging Face safetensors (F32)', threads: model.threads, kvCache: 'F32, grows with the sequence' },
  };
}

async function runLlama(cfg: WorkerConfig): Promise<WorkerResult> {
  let t = now();
  const llama = await openLlama(cfg.threads);
  const { model, context, sequence: seq } = await openLlamaSession(llama, cfg.gguf, {
    threads: cfg.threads,
    contextSize: cfg.contextSize,
    batchSize: cfg.batchSize,
  });
  const loadSeconds = now() - t;
  const rssAfterLoadBytes = currentRssBytes();
  const peakRssAfterLoadBytes = peakRssBytes();

  /** The prompt with the next-token logits (and a greedy pick) requested on its last token only. */
  const prefillInput = (ids: readonly number[]): (Token | [Token, { generateNext: { token: true } }])[] =>
    ids.map((id, i) => (i === ids.length - 1 ? [id as Token, { generateNext: { token: true } }] : (id as Token)));

  t = now();
  await seq.controlledEvaluate(prefillInput(cfg.prefillIds));
  const firstForwardSeconds = now() - t;

  const prefillSeconds: number[] = [];
  for (let r = 0; cfg.mode === 'main' && r < cfg.prefillReps; r++) {
    await seq.clearHistory();
    const s = now();
    await seq.controlledEvaluate(prefillInput(cfg.prefillIds));
    prefillSeconds.push(now() - s);
  }

  const decodeOnce = async (): Promise<DecodeResult> => {
    await seq.clearHistory();
    const p = now();
    const it = seq.evaluate(asTokens(cfg.decodePromptIds), { temperature: 0, yieldEogToken: true });
    const first = await it.next();
    const promptSeconds = now() - p;
    if (first.done) throw new Error('llama.cpp produced no token');
    const generated: number[] = [first.value];
    const steps: number[] = [];
    for (let i = 0; i < cfg.decodeTokens; i++) {
      const s = now();
      const r = await it.next();
      steps.push(now() - s);
      if (r.done) throw new Error('llama.cpp stopped generating');
      generated.push(r.value);
    }
    await it.return();
    return decodeResult(promptSeconds, steps, generated);
  };
  const decodeRuns: DecodeResult[] = [];
  for (let r = 0; r < (cfg.mode === 'main' ? cfg.decodeReps : 1); r++) decodeRuns.push(await decodeOnce());

  const info = {
    llamaCpp: llama.llamaCppRelease.release,
    binary: llama.buildType,
    gpu: String(llama.gpu),
    contextSize: context.contextSize,
    batchSize: context.batchSize,
    threads: cfg.threads,
    useMmap: model.useMmap,
    flashAttention: context.flashAttention,
    kvCache: LLAMA_SETTINGS.kvCacheType,
    cpu: llama.systemInfo.trim(),
  };
  const weightBytes = model.size;
  const kvBytes = cfg.kvBytesPerToken * context.contextSize;
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return {
    engine: 'llama',
    mode: cfg.mode,
    cpuSeconds: cpuSeconds(),
    loadSeconds,
    firstForwardSeconds,
    prefill: cfg.mode === 'main' ? prefillResult(cfg.prefillIds.length, prefillSeconds) : undefined,
    decode: fastest(decodeRuns),
    decodeReps: { none: decodeRuns.map((d) => d.tokensPerSecond) },
    memory: { peakRssBytes: peakRssBytes(), peakRssAfterLoadBytes, rssAfterLoadBytes, weightBytes, kvBytes },
    info,
  };
}

/** Node + tsx alone: the floor under both engines' RSS. */
function runBaseline(): WorkerResult {
  const rss = peakRssBytes();
  return {
    engine: 'baseline',
    mode: 'main',
    cpuSeconds: cpuSeconds(),
    loadSeconds: 0,
    firstForwardSeconds: 0,
    memory: { peakRssBytes: rss, peakRssAfterLoadBytes: rss, rssAfterLoadBytes: currentRssBytes(), weightBytes: 0, kvBytes: 0 },
    info: { node: process.version },
  };
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as WorkerConfig;
  const result = cfg.engine === 'steerer' ? await runSteerer(cfg) : cfg.engine === 'llama' ? await runLlama(cfg) : runBaseline();
  if (!process.send) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  process.send(result, () => process.disconnect());
}

await main();

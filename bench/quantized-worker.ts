/**
 * One whole-process generation for bench/quantized.ts, in its own process so that its peak RSS
 * and start-up are its own: open the GGUF, prefill the prompt, generate `newTokens` greedy
 * tokens (end-of-sequence ignored). Gets a QuantWorkerConfig as argv[2], sends a
 * QuantWorkerResult over IPC. Times run from the moment this module starts (imports done), so
 * neither engine is charged for loading its JavaScript.
 */
import { performance } from 'node:perf_hooks';
import { asTokens, openLlama } from './lib/llama.js';
import { peakRssBytes } from './lib/mem.js';
import { Rng } from './lib/random-model.js';
import { addVector, generate, HookedModel, loadModel, type Hook } from './lib/steerer.js';

export interface QuantWorkerConfig {
  readonly engine: 'steerer' | 'llama';
  readonly gguf: string;
  readonly threads: number;
  readonly promptIds: readonly number[];
  readonly newTokens: number;
  /** Steerer: a vector added at every layer's resid_post. */
  readonly steered: boolean;
}

export interface QuantWorkerResult {
  readonly loadSeconds: number;
  /** Load → first new token (prefill and session creation included). */
  readonly firstTokenSeconds: number;
  /** Start of this module → last new token. */
  readonly totalSeconds: number;
  readonly tokens: readonly number[];
  readonly peakRssBytes: number;
  readonly packedBytes?: number;
}

const t0 = performance.now();
const since = (t: number): number => (performance.now() - t) / 1000;

async function runSteerer(cfg: QuantWorkerConfig): Promise<QuantWorkerResult> {
  const model = new HookedModel(loadModel(cfg.gguf), { threads: cfg.threads });
  const loadSeconds = since(t0);
  let hooks: Hook[] | undefined;
  if (cfg.steered) {
    const rng = new Rng(7);
    const v = Float32Array.from({ length: model.spec.hiddenSize }, () => 0.1 * rng.gauss());
    hooks = Array.from({ length: model.spec.numLayers }, (_, l) => ({ kind: 'intervene', at: `blocks.${l}.hook_resid_post`, intervention: addVector(v) }));
  }
  let firstTokenSeconds = NaN;
  const t1 = performance.now();
  const out = await generate(model, cfg.promptIds, {
    temperature: 0,
    maxTokens: cfg.newTokens,
    stopTokens: [],
    hooks,
    onText: () => {
      if (Number.isNaN(firstTokenSeconds)) firstTokenSeconds = since(t1);
    },
  });
  if (Number.isNaN(firstTokenSeconds)) firstTokenSeconds = since(t1);
  const totalSeconds = since(t0);
  const packedBytes = model.packed?.bytes;
  await model.dispose();
  return { loadSeconds, firstTokenSeconds, totalSeconds, tokens: out.tokens, peakRssBytes: peakRssBytes(), ...(packedBytes !== undefined ? { packedBytes } : {}) };
}

async function runLlama(cfg: QuantWorkerConfig): Promise<QuantWorkerResult> {
  const llama = await openLlama(cfg.threads);
  // Defaults a user gets: the file memory-mapped, F16 KV cache.
  const model = await llama.loadModel({ modelPath: cfg.gguf, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 512, batchSize: 512, sequences: 1, threads: { ideal: cfg.threads, min: cfg.threads } });
  const seq = context.getSequence();
  const loadSeconds = since(t0);
  const t1 = performance.now();
  const it = seq.evaluate(asTokens(cfg.promptIds), { temperature: 0, yieldEogToken: true });
  const tokens: number[] = [];
  let firstTokenSeconds = NaN;
  while (tokens.length < cfg.newTokens) {
    const r = await it.next();
    if (r.done) throw new Error('llama.cpp stopped generating');
    if (tokens.length === 0) firstTokenSeconds = since(t1);
    tokens.push(r.value);
  }
  await it.return();
  const totalSeconds = since(t0);
  await context.dispose();
  await model.dispose();
  return { loadSeconds, firstTokenSeconds, totalSeconds, tokens, peakRssBytes: peakRssBytes() };
}

const cfg = JSON.parse(process.argv[2]) as QuantWorkerConfig;
const result = cfg.engine === 'steerer' ? await runSteerer(cfg) : await runLlama(cfg);
if (process.send) process.send(result, () => process.disconnect());
else console.log(JSON.stringify(result, null, 2));

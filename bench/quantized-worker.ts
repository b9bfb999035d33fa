/**
 * One whole-process generation for bench/quantized.ts, in its own process so that its peak RSS
 * and start-up are its own: open the GGUF, prefill the prompt, decode `newTokens` greedy
 * tokens (end-of-sequence ignored). Gets a QuantWorkerConfig as its first IPC message (or as
 * argv[2] when run by hand), sends a QuantWorkerResult over IPC. Not in argv from the bench: a
 * command line over ~28 KB (a steering vector of a 2048-wide model in JSON) crashes ONNX Runtime
 * 1.30 as it initialises (a stack overflow, measured; README "Reliability"). Each process loads
 * only its own engine's modules (its peak RSS is that engine's), and times run from the moment
 * they are loaded, so neither engine is charged for loading its JavaScript. It runs as plain
 * JavaScript (lib/plain-worker.ts): Steerer from its build (`steererModule`), llama.cpp from
 * node-llama-cpp's.
 */
import { performance } from 'node:perf_hooks';
import type { ControlledEvaluateInputItem, Token } from 'node-llama-cpp';
import { peakRssBytes } from './lib/mem.js';
import type { Hook, HookedModel } from './lib/steerer.js';

/** What the worker takes from Steerer's build: the index of dist/, typed by its sources. */
type SteererLib = Pick<typeof import('./lib/steerer.js'), 'addVector' | 'HookedModel' | 'loadModel'>;

export interface QuantWorkerConfig {
  readonly engine: 'steerer' | 'llama';
  readonly gguf: string;
  readonly threads: number;
  readonly promptIds: readonly number[];
  readonly newTokens: number;
  /** Steerer: this vector (hidden size) added at every layer's resid_post. */
  readonly steerVector?: readonly number[];
  /** URL of Steerer's built index (dist/index.js). */
  readonly steererModule: string;
}

export interface QuantWorkerResult {
  readonly loadSeconds: number;
  /** Load → first new token (prefill and session creation included). */
  readonly firstTokenSeconds: number;
  /** First new token → last (newTokens − 1 single-token steps). */
  readonly decodeSeconds: number;
  /** The median of those steps: this shared machine stalls a step now and then (50-200 ms, either engine). */
  readonly medianStepSeconds: number;
  /** Start of this module → last new token. */
  readonly totalSeconds: number;
  readonly tokens: readonly number[];
  readonly peakRssBytes: number;
  readonly packedBytes?: number;
  /** The prompt prefilled again after the run, into an empty cache: prefill alone, warm (median of 5; 1 for long prompts). */
  readonly warmPrefillSeconds: number;
  /**
   * Steerer's steered job: decode speed steered ÷ unsteered, the median step of 64-token decodes
   * run plain and steered alternately 6 times each in this process: single runs swing by ±10 %.
   */
  readonly interleavedSteeredRatio?: number;
}

const cfg = (process.argv[2] !== undefined ? JSON.parse(process.argv[2]) : await new Promise((resolve) => process.once('message', resolve))) as QuantWorkerConfig;
const steererLib = cfg.engine === 'steerer' ? ((await import(cfg.steererModule)) as SteererLib) : undefined;
const llamaLib = cfg.engine === 'llama' ? await import('./lib/llama.js') : undefined;
const t0 = performance.now();
const since = (t: number): number => (performance.now() - t) / 1000;

/**
 * Greedy decoding with a bare forward loop (generate() adds 2% on top, bench/perf.ts), timed per
 * token. Each forward returns its argmax alone (logits 'argmax'), as generate() asks for when
 * decoding greedily, and as llama.cpp picks its greedy token without handing logits to JavaScript.
 */
async function runSteerer(cfg: QuantWorkerConfig): Promise<QuantWorkerResult> {
  const { addVector, HookedModel, loadModel } = steererLib!;
  const model = new HookedModel(loadModel(cfg.gguf), { threads: cfg.threads });
  const loadSeconds = since(t0);
  let hooks: Hook[] | undefined;
  if (cfg.steerVector) {
    const v = Float32Array.from(cfg.steerVector);
    hooks = Array.from({ length: model.spec.numLayers }, (_, l) => ({ kind: 'intervene', at: `blocks.${l}.hook_resid_post`, intervention: addVector(v) }));
  }
  const t1 = performance.now();
  const cache = model.createCache(1);
  let out = await model.forward({ tokens: [cfg.promptIds], cache, hooks, logits: 'argmax' });
  const tokens = [out.argmax![0]];
  const firstTokenSeconds = since(t1);
  const t2 = performance.now();
  const steps: number[] = [];
  while (tokens.length < cfg.newTokens) {
    const ts = performance.now();
    out = await model.forward({ tokens: [[tokens[tokens.length - 1]]], cache, hooks, logits: 'argmax' });
    tokens.push(out.argmax![0]);
    steps.push(since(ts));
  }
  const decodeSeconds = since(t2);
  const totalSeconds = since(t0);
  const peak = peakRssBytes();
  const warmPrefillSeconds = await warmPrefill(cfg, async () => {
    await model.forward({ tokens: [cfg.promptIds], cache: model.createCache(1), hooks, logits: 'argmax' });
  });
  const interleavedSteeredRatio = hooks ? await steeredRatio(model, cfg.promptIds, hooks) : undefined;
  const packedBytes = model.packed?.bytes;
  await model.dispose();
  return {
    loadSeconds, firstTokenSeconds, decodeSeconds, medianStepSeconds: median(steps), totalSeconds, tokens, peakRssBytes: peak, warmPrefillSeconds,
    ...(packedBytes !== undefined ? { packedBytes } : {}),
    ...(interleavedSteeredRatio !== undefined ? { interleavedSteeredRatio } : {}),
  };
}

/** Decode speed with `hooks` ÷ without, 64 tokens each way, alternating 4 times (best of each). */
async function steeredRatio(model: HookedModel, promptIds: readonly number[], hooks: readonly Hook[]): Promise<number> {
  const plain: number[] = [];
  const steered: number[] = [];
  const decode = async (h: readonly Hook[] | undefined, steps: number[]): Promise<void> => {
    const cache = model.createCache(1);
    let out = await model.forward({ tokens: [promptIds], cache, hooks: h, logits: 'argmax' });
    for (let i = 0; i < 64; i++) {
      const t = performance.now();
      out = await model.forward({ tokens: [[out.argmax![0]]], cache, hooks: h, logits: 'argmax' });
      steps.push(performance.now() - t);
    }
  };
  for (let r = 0; r < 6; r++) {
    await decode(undefined, plain);
    await decode(hooks, steered);
  }
  // Medians of every step: a stall of this shared machine (50-200 ms, now and then) lands in one
  // run or the other and moved best-of-run ratios between 0.90 and 0.98 with nothing changed.
  return median(plain) / median(steered);
}

/**
 * The median of several warm prefills of the prompt into an empty cache (one for long prompts):
 * a single one swung the Q4_0 ratio between 0.65 and 1.27 from run to run on this machine.
 * `reset`, untimed, empties the cache before each.
 */
async function warmPrefill(cfg: QuantWorkerConfig, prefill: () => Promise<void>, reset?: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < (cfg.promptIds.length > 512 ? 1 : 5); i++) {
    await reset?.();
    const t = performance.now();
    await prefill();
    times.push(since(t));
  }
  return median(times);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function runLlama(cfg: QuantWorkerConfig): Promise<QuantWorkerResult> {
  const { asTokens, openLlama } = llamaLib!;
  const llama = await openLlama(cfg.threads);
  // Defaults a user gets: the file memory-mapped, F16 KV cache.
  const model = await llama.loadModel({ modelPath: cfg.gguf, gpuLayers: 0 });
  // Room for the prompt and the new tokens (a long-context run needs more than the usual 512).
  const contextSize = Math.max(512, Math.ceil((cfg.promptIds.length + cfg.newTokens + 1) / 256) * 256);
  const context = await model.createContext({ contextSize, batchSize: 512, sequences: 1, threads: { ideal: cfg.threads, min: cfg.threads } });
  const seq = context.getSequence();
  const loadSeconds = since(t0);
  const t1 = performance.now();
  const it = seq.evaluate(asTokens(cfg.promptIds), { temperature: 0, yieldEogToken: true });
  const tokens: number[] = [];
  let firstTokenSeconds = NaN;
  let t2 = NaN;
  const steps: number[] = [];
  let ts = performance.now();
  while (tokens.length < cfg.newTokens) {
    const r = await it.next();
    if (r.done) throw new Error('llama.cpp stopped generating');
    if (tokens.length === 0) {
      firstTokenSeconds = since(t1);
      t2 = performance.now();
    } else {
      steps.push(since(ts));
    }
    ts = performance.now();
    tokens.push(r.value);
  }
  const decodeSeconds = since(t2);
  await it.return();
  const totalSeconds = since(t0);
  const peak = peakRssBytes();
  // The prompt again, logits on its last token only, as Steerer's prefill asks for.
  const prompt = cfg.promptIds.map((id, i): ControlledEvaluateInputItem => (i === cfg.promptIds.length - 1 ? [id as Token, { generateNext: { token: true } }] : (id as Token)));
  const warmPrefillSeconds = await warmPrefill(
    cfg,
    async () => {
      await seq.controlledEvaluate(prompt);
    },
    () => seq.clearHistory(),
  );
  await context.dispose();
  await model.dispose();
  return { loadSeconds, firstTokenSeconds, decodeSeconds, medianStepSeconds: median(steps), totalSeconds, tokens, peakRssBytes: peak, warmPrefillSeconds };
}

const result = cfg.engine === 'steerer' ? await runSteerer(cfg) : await runLlama(cfg);
if (process.send) process.send(result, () => process.disconnect());
else console.log(JSON.stringify(result, null, 2));

import {
  getLlama,
  LlamaLogLevel,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';

/**
 * llama.cpp through node-llama-cpp, pinned to its prebuilt CPU binary
 * (@node-llama-cpp/linux-x64 etc., installed as npm optional dependencies):
 *  - gpu: false            CPU backend only;
 *  - build: 'never'        never compile llama.cpp from source (throws NoBinaryFoundError instead);
 *  - skipDownload: true    never fetch llama.cpp sources at run time.
 * The install-time postinstall (which may also try to build) is switched off by
 * `"config": {"nodeLlamaCppPostinstall": "skip"}` in bench/package.json; the environment
 * variable NODE_LLAMA_CPP_SKIP_DOWNLOAD=true does the same for other setups.
 */
export async function openLlama(threads: number): Promise<Llama> {
  return getLlama({
    gpu: false,
    build: 'never',
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    maxThreads: threads,
    // "special_eos_id is not in special_eog_ids" is a benign warning for vocabularies whose EOS
    // text is not one of llama.cpp's known end-of-generation strings.
    logLevel: LlamaLogLevel.error,
  });
}

export interface LlamaSession {
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly sequence: LlamaContextSequence;
}

export interface LlamaSessionOptions {
  readonly threads: number;
  readonly contextSize: number;
  readonly batchSize: number;
}

/** Settings shared by parity and perf, echoed into the results. */
export const LLAMA_SETTINGS = {
  gpuLayers: 0,
  useMmap: false,
  flashAttention: false,
  kvCacheType: 'F32',
} as const;

/**
 * Loads a GGUF fully into RAM (no mmap, so its weights count in RSS like Steerer's) and opens
 * one sequence with an F32 KV cache (llama.cpp's default is F16; F32 matches Steerer).
 */
export async function openLlamaSession(llama: Llama, ggufPath: string, opts: LlamaSessionOptions): Promise<LlamaSession> {
  const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: LLAMA_SETTINGS.gpuLayers, useMmap: LLAMA_SETTINGS.useMmap });
  const context = await model.createContext({
    contextSize: opts.contextSize,
    batchSize: opts.batchSize,
    sequences: 1,
    threads: { ideal: opts.threads, min: opts.threads },
    flashAttention: LLAMA_SETTINGS.flashAttention,
    experimentalKvCacheKeyType: LLAMA_SETTINGS.kvCacheType,
    experimentalKvCacheValueType: LLAMA_SETTINGS.kvCacheType,
  });
  return { model, context, sequence: context.getSequence() };
}

export function asTokens(ids: readonly number[]): Token[] {
  return ids.map((id) => id as Token);
}

/** A dense Float32Array row from node-llama-cpp's token → logit map (every id must be present). */
export function denseRow(map: ReadonlyMap<Token, number>, vocab: number): Float32Array {
  const row = new Float32Array(vocab).fill(NaN);
  for (const [tok, v] of map) if (tok < vocab) row[tok] = v;
  for (let i = 0; i < vocab; i++) if (Number.isNaN(row[i])) throw new Error(`llama.cpp returned no logit for token ${i}`);
  return row;
}

/**
 * Raw next-token logits at the given indexes of `ids` (appended to the sequence's current
 * state), via controlledEvaluate's `logits: true` (the unprocessed row llama.cpp computed).
 */
export async function llamaLogits(
  seq: LlamaContextSequence,
  ids: readonly number[],
  at: ReadonlySet<number>,
  vocab: number,
): Promise<Map<number, Float32Array>> {
  const rows = new Map<number, Float32Array>();
  await seq.controlledEvaluate(
    ids.map((id, i) => (at.has(i) ? [id as Token, { generateNext: { logits: true } }] : (id as Token))),
    { onTokenResult: (i, r) => r.next.logits && rows.set(i, denseRow(r.next.logits, vocab)) },
  );
  if (rows.size !== at.size) throw new Error(`asked llama.cpp for ${at.size} logit rows, got ${rows.size}`);
  return rows;
}

/** Greedy continuation (temperature 0: argmax) of `ids` from a cleared sequence; EOS does not stop it. */
export async function llamaGreedy(seq: LlamaContextSequence, ids: readonly number[], n: number): Promise<number[]> {
  await seq.clearHistory();
  const out: number[] = [];
  if (n === 0) return out;
  for await (const t of seq.evaluate(asTokens(ids), { temperature: 0, yieldEogToken: true })) {
    out.push(t);
    if (out.length >= n) break;
  }
  return out;
}

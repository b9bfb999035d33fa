/** What perf.ts hands each engine's child process, and what comes back. */

export type Engine = 'steerer' | 'llama' | 'baseline';

export type Mode = 'main' | 'long';

export interface WorkerConfig {
  readonly engine: Engine;
  /** main: prefill/decode/hooks/memory; long: decode after a long prompt. */
  readonly mode: Mode;
  readonly threads: number;
  /** Hugging Face directory (Steerer reads this). */
  readonly modelDir: string;
  /** The same weights as F32 GGUF (llama.cpp reads this). */
  readonly gguf: string;
  readonly prefillIds: readonly number[];
  readonly prefillReps: number;
  readonly decodePromptIds: readonly number[];
  /** Single-token forwards timed after the prompt's prefill. */
  readonly decodeTokens: number;
  /** Repetitions of each decode measurement (main mode); the fastest counts. */
  readonly decodeReps: number;
  readonly contextSize: number;
  readonly batchSize: number;
  /** KV-cache bytes per token position (F32 keys and values, all layers). */
  readonly kvBytesPerToken: number;
}

export interface PrefillResult {
  readonly tokens: number;
  readonly seconds: readonly number[];
  readonly medianSeconds: number;
  readonly tokensPerSecond: number;
}

export interface DecodeResult {
  /** Prefill of the decode prompt, before the timed steps. */
  readonly promptSeconds: number;
  /** Timed single-token forwards. */
  readonly tokens: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
  readonly medianStepMs: number;
  /** Greedy tokens: the one from the prefill, then one per timed step. */
  readonly generated: readonly number[];
}

export interface MemoryResult {
  /** VmHWM at exit. */
  readonly peakRssBytes: number;
  /** VmHWM right after loading (before any forward pass). */
  readonly peakRssAfterLoadBytes: number;
  readonly rssAfterLoadBytes: number;
  readonly weightBytes: number;
  /** Steerer: VmHWM after each phase (warm-up, prefill repetitions, hook-plan warm-up), bytes. */
  readonly phases?: Readonly<Record<string, number>>;
  /** KV cache held at the end of the run (Steerer: largest cache used; llama.cpp: allocated for the context). */
  readonly kvBytes: number;
}

export interface WorkerResult {
  readonly engine: Engine;
  readonly mode: Mode;
  /** CPU seconds this process used (all its threads). */
  readonly cpuSeconds: number;
  readonly loadSeconds: number;
  /** First forward pass after loading, graph/session creation included (warm-up, untimed elsewhere). */
  readonly firstForwardSeconds: number;
  readonly prefill?: PrefillResult;
  readonly decode?: DecodeResult;
  /** Steerer only: decode with hooks at every layer, and through the public generate(). */
  readonly variants?: {
    readonly compiledAddVector: DecodeResult;
    readonly jsEdit: DecodeResult;
    readonly generateApi: DecodeResult;
  };
  /** tok/s of every decode repetition, by variant (the fastest is the one reported). */
  readonly decodeReps?: Readonly<Record<string, readonly number[]>>;
  readonly memory: MemoryResult;
  readonly info: Readonly<Record<string, string | number | boolean>>;
}

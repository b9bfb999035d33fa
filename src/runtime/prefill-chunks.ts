import type { Activation, Hook } from './hooks.js';
import type { KvCache } from './kv-cache.js';

/**
 * Long prompts fed into a KV cache run in chunks of this many tokens, as llama.cpp runs its
 * micro-batches (n_ubatch, 512): attention over a prompt of n tokens at once holds n × n scores
 * per head, and past a few hundred tokens those outgrow the caches (SmolLM2-135M at 4-bit, 2,048
 * tokens: 1.4× faster in chunks of 512; a Llama-3.2-1B prompt of 2,900 tokens in one pass
 * passes the 1 GiB limit on one buffer). Chunks read the earlier ones from the cache, so the
 * result is the same computation up to float rounding.
 */
export const PREFILL_CHUNK = 512;

interface ChunkableInput {
  readonly tokens: readonly (readonly number[])[];
  readonly cache?: KvCache;
  readonly hooks?: readonly Hook[];
  readonly logits?: string;
}

/**
 * Whether a forward runs in chunks: one sequence longer than a chunk into a cache, asking for
 * the last position's logits (or their argmax), and no hook that needs the whole prompt at once (a JavaScript
 * edit sees the rows it is given; a condition reads the prompt as a whole). Compiled
 * interventions select positions by their absolute position and the prompt's length, which the
 * chunks keep.
 */
export function runsInChunks(input: ChunkableInput): boolean {
  return (
    input.cache?.batch === 1 &&
    input.tokens.length === 1 &&
    input.tokens[0].length > PREFILL_CHUNK &&
    ['last', 'argmax'].includes(input.logits ?? 'last') &&
    (input.hooks ?? []).every((h) => h.kind === 'capture' || (h.kind === 'intervene' && h.intervention.condition === undefined))
  );
}

interface ChunkOutput {
  readonly seq: number;
  readonly captures: ReadonlyMap<string, Activation>;
  readonly positions: Int32Array;
}

/** The chunks' outputs as one forward's: the last chunk's logits, captures and positions joined along the sequence. */
export function joinChunks<T extends ChunkOutput>(parts: readonly T[]): T {
  const last = parts[parts.length - 1];
  const seq = parts.reduce((n, p) => n + p.seq, 0);
  const positions = concat(parts.map((p) => p.positions), (n) => new Int32Array(n));
  const captures = new Map<string, Activation>();
  for (const [name, act] of last.captures) {
    captures.set(name, { ...act, seq, positions, data: concat(parts.map((p) => p.captures.get(name)!.data), (n) => new Float32Array(n)) });
  }
  return { ...last, seq, captures, positions };
}

function concat<A extends Float32Array | Int32Array>(arrays: readonly A[], make: (length: number) => A): A {
  const out = make(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';
import { hookName, pointAt, type HookPoint } from '../graph/hook-points.js';
import { compileSegment, interventionParamName, type HeadMode, type WeightSource } from '../graph/segment.js';
import type { PackedWeights } from '../model/packed-weights.js';
import type { LoadedModel, ModelSpec } from '../model/spec.js';
import type { HostTensor } from '../model/tensor.js';
import type { TextTokenizer } from '../model/tokenizer.js';
import { resolveHooks, type Activation, type Hook, type PrepareContext, type ResolvedHook, type StepInfo } from './hooks.js';
import { attentionMask, checkTokens, headFeeds } from './forward-inputs.js';
import { KvCache } from './kv-cache.js';
import { ConditionGates } from './condition-state.js';
import { joinChunks, PREFILL_CHUNK, runsInChunks } from './prefill-chunks.js';
import { planSegments } from './segment-plan.js';
import { checkDevice, type Device } from './device.js';
import { SessionCache } from './session-cache.js';
import { ropeTables } from '../model/rope-tables.js';
import { defaultThreads } from '../graph/session-options.js';

export interface RuntimeOptions {
  /** ORT intra-op threads (default: all cores). */
  readonly threads?: number;
  /**
   * Packed (quantized) models only: hook plans whose sessions are kept at once, each holding its
   * own prepacked copy of the weights (default: as many as 40 % of the machine's memory holds,
   * 1 to 16).
   */
  readonly maxPackedSessions?: number;
  /** Where ONNX Runtime computes (default 'cpu'; 'cuda' needs onnxruntime-node's CUDA provider). */
  readonly device?: Device;
}

/** What a forward returns from its LM head: a graph's head, or 'argmax' (head 'last', its argmax fetched alone). */
export type LogitsMode = HeadMode | 'argmax';

export interface ForwardInput {
  /** Token ids per sequence (ragged: rows are left-padded to the longest). */
  readonly tokens: readonly (readonly number[])[];
  /** Past keys/values; updated in place. Omit for a one-shot pass. */
  readonly cache?: KvCache;
  readonly hooks?: readonly Hook[];
  /**
   * Which logits to return: every position, the last one, none (the pass may then stop early),
   * 'targets': only log p(targets[b][i]) at every position i (see `targets`), 'hidden': the final
   * normed hidden states, or 'kl': the targets' log-probs under this run and a reference run
   * (`referenceHidden`) and the KL between their distributions at every position; 'argmax':
   * only the id of each row's largest last-position logit (`argmax`), for greedy decoding.
   */
  readonly logits?: LogitsMode;
  /**
   * With logits 'targets' or 'kl': per sequence, the token id whose log-probability each position
   * should give (same length as the sequence; usually the next token, any valid id where unused).
   */
  readonly targets?: readonly (readonly number[])[];
  /** With logits 'kl': the reference run's `finalHidden` for the same tokens. */
  readonly referenceHidden?: Float32Array;
}

export interface ForwardOutput {
  readonly batch: number;
  readonly seq: number;
  /** Left padding of each row. */
  readonly pad: readonly number[];
  /** [batch, rows, vocab] with rows = seq ('all') or 1 ('last'). */
  readonly logits?: Float32Array;
  /** With logits 'argmax': [batch], each row's greedy next token (the lowest id among equal maxima). */
  readonly argmax?: Int32Array;
  /** [batch, seq] log p(target) with logits 'targets' or 'kl' (rows left-padded like the tokens). */
  readonly targetLogprobs?: Float32Array;
  /** With logits 'kl': [batch, seq] log p(target) under the reference run, and KL(this ‖ reference). */
  readonly referenceTargetLogprobs?: Float32Array;
  readonly kl?: Float32Array;
  /** With logits 'hidden': [batch, seq, hidden], the LM head's input. */
  readonly finalHidden?: Float32Array;
  /** Captured activations by hook name. */
  readonly captures: ReadonlyMap<string, Activation>;
  /** Absolute position of each [batch*seq] row, -1 for padding. */
  readonly positions: Int32Array;
  /**
   * Conditional steering: each condition's gate after this forward (1 = holds), [batch] for
   * one read on the prompt, [batch*seq] for one read per token.
   */
  readonly gates?: ReadonlyMap<string, Float32Array>;
}

/** Graph outputs of the LM head other than logits, and the ForwardOutput fields they fill. */
const HEAD_OUTPUTS = [
  ['target_logprobs', 'targetLogprobs'],
  ['reference_target_logprobs', 'referenceTargetLogprobs'],
  ['kl', 'kl'],
  ['final_hidden', 'finalHidden'],
] as const;
/** Largest single buffer a forward may need (1 GiB of float32). */
const MAX_BUFFER_FLOATS = 2 ** 28;

/**
 * A model whose forward pass runs as ORT graphs compiled from its spec, with hook points
 * at every layer. Float32 weights held in JS are fed to the graphs as inputs, so any number of
 * compiled plans (different hooks) share them; weights ONNX Runtime reads from files (packed or
 * mapped, ../model/packed-weights.ts) are the graphs' external initializers.
 */
export class HookedModel {
  readonly spec: ModelSpec;
  readonly tokenizer: TextTokenizer;
  readonly chatTemplate?: string;
  readonly specialTokens: Readonly<Record<string, string>>;
  readonly source: LoadedModel['source'];
  readonly threads: number;
  readonly device: Device;
  private readonly weightTensors = new Map<string, ort.Tensor>();
  private readonly weightSources = new Map<string, WeightSource>();
  private readonly loaded: LoadedModel;
  private readonly sessions: SessionCache;
  private rope?: { length: number; cos: ort.Tensor; sin: ort.Tensor };
  /** One object per model, so interventions can key what they prepare on it. */
  private readonly prepareContext: PrepareContext = {
    encode: (text) => this.encode(text),
    capture: async (tokens, point) => {
      const out = await this.forward({ tokens: [tokens], hooks: [{ kind: 'capture', at: point }], logits: 'none' });
      return out.captures.get(hookName(point))!.data;
    },
  };

  constructor(loaded: LoadedModel, opts: RuntimeOptions = {}) {
    this.loaded = loaded;
    this.spec = loaded.spec;
    this.tokenizer = loaded.tokenizer;
    this.chatTemplate = loaded.chatTemplate;
    this.specialTokens = loaded.specialTokens;
    this.source = loaded.source;
    const threads = opts.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1) throw new InvalidInputError(`threads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.device = checkDevice(opts.device ?? 'cpu');
    for (const [name, t] of loaded.weights) {
      this.weightTensors.set(name, new ort.Tensor('float32', t.data, [...t.shape]));
      this.weightSources.set(name, { kind: 'input', shape: t.shape });
    }
    for (const [name, matrix] of loaded.packed?.matrices ?? []) {
      this.weightSources.set(name, { kind: 'packed', matrix, location: path.basename(loaded.packed!.file) });
    }
    for (const [name, matrix] of loaded.packed?.mapped ?? []) {
      this.weightSources.set(name, { kind: 'mapped', matrix, location: path.basename(loaded.packed!.sourceFile) });
    }
    this.sessions = new SessionCache((plan) => compileSegment(this.spec, (n) => this.weightSources.get(n), plan), { threads: this.threads, device: this.device }, loaded.packed, opts.maxPackedSessions);
  }

  /**
   * The float32 canonical weights (read-only view; see ModelSpec docs for names and layouts).
   * Packed linear weights are not in it: see `packed` and `denseWeight`.
   */
  get weights(): LoadedModel['weights'] {
    return this.loaded.weights;
  }

  /** Linear weights kept block-quantized (quantized GGUF files). */
  get packed(): PackedWeights | undefined {
    return this.loaded.packed;
  }

  /** A weight as float32 in its canonical layout, dequantizing a packed one (a new copy each call). */
  denseWeight(name: string): HostTensor | undefined {
    return this.loaded.weights.get(name) ?? (this.loaded.packed?.has(name) ? this.loaded.packed.dense(name) : undefined);
  }

  createCache(batch: number): KvCache {
    if (!Number.isInteger(batch) || batch < 1) throw new InvalidInputError(`batch must be a positive integer, got ${batch}`);
    return new KvCache(this.spec, batch);
  }

  /** Token ids of a prompt, BOS prepended when the model expects one. */
  encode(text: string, opts: { addBos?: boolean } = {}): number[] {
    const ids = this.tokenizer.encode(text);
    const addBos = opts.addBos ?? this.spec.addBos;
    return addBos && this.spec.bosTokenId !== undefined ? [this.spec.bosTokenId, ...ids] : ids;
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    if (!runsInChunks(input)) return this.forwardPass(input);
    // Every chunk's tokens are checked before the first fills the cache.
    checkTokens(this.spec, input.tokens, input.cache!);
    const ids = input.tokens[0];
    // Chunks after the first find the cache filled: the prompt's length is the whole prompt's.
    const promptLength = input.cache!.length === 0 ? ids.length : undefined;
    const parts: ForwardOutput[] = [];
    for (let s = 0; s < ids.length; s += PREFILL_CHUNK) parts.push(await this.forwardPass({ ...input, tokens: [ids.slice(s, s + PREFILL_CHUNK)] }, promptLength));
    return joinChunks(parts);
  }

  /** One pass over the given tokens; `promptLength` stands for a fresh cache's prompt when the tokens are part of it. */
  private async forwardPass(input: ForwardInput, promptLength?: number): Promise<ForwardOutput> {
    const { spec } = this;
    const batch = input.tokens.length;
    if (batch === 0) throw new InvalidInputError('forward needs at least one sequence');
    const cache = input.cache;
    if (cache && cache.batch !== batch) throw new InvalidInputError(`cache holds ${cache.batch} sequences but ${batch} were given`);
    const head = input.logits ?? 'last';
    const graphHead: HeadMode = head === 'argmax' ? 'last' : head;
    // The outputs left out of every run: 'argmax' leaves the logits inside ONNX Runtime.
    const unfetched = head === 'argmax' ? 'logits' : 'next_token';
    const hooks = resolveHooks(input.hooks ?? [], spec.numLayers, spec.hiddenSize);
    if (head === 'none' && hooks.length === 0) throw new InvalidInputError('forward with no logits and no hooks computes nothing');
    if (head === 'none' && cache) {
      // Stopping early would leave later layers' caches behind.
      throw new InvalidInputError('a forward that stops before the head cannot extend a KV cache');
    }

    const seq = Math.max(...input.tokens.map((t) => t.length));
    const kv = cache ?? new KvCache(spec, batch);
    checkTokens(spec, input.tokens, kv);
    const pad = input.tokens.map((t) => seq - t.length);
    const fresh = kv.length === 0;
    // The cache's slots (filled or not, all fed in place), then the new tokens.
    const total = kv.slots + seq;

    // Refuse requests whose buffers alone would exhaust memory, before allocating any.
    // ('targets' computes the full rows inside ONNX Runtime too, though only one number per row leaves it.)
    const rows = head === 'kl' ? 2 * batch * seq : head === 'all' || head === 'targets' ? batch * seq : batch;
    if (head !== 'none' && head !== 'hidden' && rows * spec.vocabSize > MAX_BUFFER_FLOATS) {
      throw new InvalidInputError(`${rows} rows of ${spec.vocabSize} logits exceed the ${MAX_BUFFER_FLOATS} float limit: use a smaller batch or window`);
    }
    if (batch * seq * total > MAX_BUFFER_FLOATS || batch * seq * Math.max(spec.intermediateSize, spec.numHeads * total) > MAX_BUFFER_FLOATS) {
      throw new InvalidInputError(`a batch of ${batch} × ${seq} tokens over ${total} positions is too large for one forward: split it`);
    }

    const positions = new Int32Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < seq; i++) positions[b * seq + i] = i < pad[b] ? -1 : kv.nextPosition[b] + i - pad[b];
    }
    const promptLengths = kv.length > 0 ? kv.promptLengths : promptLength !== undefined ? [promptLength] : input.tokens.map((t) => t.length);
    const step: StepInfo = { batch, seq, positions, promptLengths };

    const runFeeds = new Map<string, ort.Tensor>();
    for (const [name, t] of headFeeds(input, graphHead, spec, pad, seq)) runFeeds.set(name, t);
    const attnMask = attentionMask(kv, pad, seq, total);
    runFeeds.set('attn_mask', new ort.Tensor('float32', attnMask, [batch, 1, 1, seq, total]));
    // Sizes the attention's views need, known here (computing them in the graph costs ops per layer).
    const int64s = (...v: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [v.length]);
    const groups = spec.numHeads / spec.numKvHeads;
    runFeeds.set('key_split', int64s(kv.slots, seq));
    runFeeds.set('scores_groups_shape', int64s(batch, spec.numKvHeads, groups, seq, total));
    runFeeds.set('scores_rows_shape', int64s(batch, spec.numKvHeads, groups * seq, total));
    if (spec.positions === 'rope') {
      const ids = new BigInt64Array(batch * seq);
      let maxPos = 0;
      for (let r = 0; r < positions.length; r++) {
        ids[r] = BigInt(Math.max(0, positions[r]));
        maxPos = Math.max(maxPos, positions[r]);
      }
      runFeeds.set('position_ids', new ort.Tensor('int64', ids, [batch, seq]));
      const tables = this.ropeTablesFor(maxPos + 1);
      runFeeds.set('rope.cos', tables.cos);
      runFeeds.set('rope.sin', tables.sin);
    }
    for (let l = 0; l < spec.numLayers; l++) {
      runFeeds.set(`past.${l}.key`, kv.past(l, 'key'));
      runFeeds.set(`past.${l}.value`, kv.past(l, 'value'));
    }
    const conditions = ConditionGates.of(hooks, batch, seq);
    if (conditions) {
      const prepass = conditions.needsPrepass(fresh) ? await this.forward({ tokens: input.tokens, hooks: conditions.prepassHooks(), logits: 'none' }) : undefined;
      conditions.begin(kv, fresh, prepass?.gates);
    }
    for (const h of hooks) if (h.hook.kind === 'intervene') await h.hook.intervention.prepare?.(this.prepareContext);
    for (const h of hooks) {
      if (h.hook.kind !== 'intervene') continue;
      const k = hooks.filter((o) => o.index === h.index && o.hook.kind === 'intervene').indexOf(h);
      for (const [name, v] of Object.entries(h.hook.intervention.params(step))) {
        runFeeds.set(interventionParamName(h.index, k, name), new ort.Tensor('float32', v.data, [...v.dims]));
      }
    }

    const captures = new Map<string, Activation>();
    const activation = (data: Float32Array): Activation => ({ data, batch, seq, dim: spec.hiddenSize, positions });
    let carry: { resid: Float32Array; branch?: Float32Array } = { resid: this.embed(input.tokens, pad, positions, seq) };
    let logits: Float32Array | undefined;
    let argmax: Int32Array | undefined;
    // What the head returned besides logits, by ForwardOutput field.
    const headOut: { -readonly [K in 'targetLogprobs' | 'referenceTargetLogprobs' | 'kl' | 'finalHidden']?: Float32Array } = {};
    const newKv = new Map<number, { key: Float32Array; value: Float32Array }>();

    for (const plan of planSegments(hooks, spec.numLayers, graphHead)) {
      const entry = this.sessions.get(plan);
      entry.inFlight++;
      let out: ort.InferenceSession.ReturnType;
      try {
      const { session, inputNames, fetchesWithout } = await entry.ready;
      const feeds: Record<string, ort.Tensor> = {};
      const dims = [batch, seq, spec.hiddenSize];
      for (const name of inputNames) {
        if (name === 'resid.in') feeds[name] = new ort.Tensor('float32', carry.resid, dims);
        else if (name === 'branch.in') feeds[name] = new ort.Tensor('float32', carry.branch!, dims);
        else {
          const t = runFeeds.get(name) ?? this.weightTensors.get(name) ?? conditions?.feed(name);
          if (!t) throw new Error(`no value for graph input ${name}`);
          feeds[name] = t;
        }
      }
      out = await session.run(feeds, fetchesWithout(unfetched));
      } finally {
        entry.inFlight--;
      }
      for (const [name, value] of Object.entries(out)) {
        if (name.startsWith('new.')) {
          const [, layer, which] = name.split('.');
          const entry = newKv.get(Number(layer)) ?? { key: new Float32Array(0), value: new Float32Array(0) };
          entry[which as 'key' | 'value'] = value.data as Float32Array;
          newKv.set(Number(layer), entry);
        } else if (name.startsWith('blocks.')) {
          captures.set(name, activation(value.data as Float32Array));
        } else {
          conditions?.take(name, value.data as Float32Array);
        }
      }
      if (out.logits) logits = out.logits.data as Float32Array;
      if (out.next_token) argmax = Int32Array.from(out.next_token.data as BigInt64Array, Number);
      for (const [name, field] of HEAD_OUTPUTS) if (out[name]) headOut[field] = out[name].data as Float32Array;
      if (plan.breakAtEnd) {
        carry = { resid: out['resid.out'].data as Float32Array, branch: out['branch.out']?.data as Float32Array | undefined };
        this.runEdits(hooks, plan.end, carry, activation, captures);
      }
    }

    // A one-shot pass (no cache given) keeps nothing.
    if (head !== 'none' && cache) {
      kv.append(seq, pad, newKv);
      if (fresh) kv.promptLengths = promptLengths.slice();
      conditions?.keep(kv);
    }
    return { batch, seq, pad, logits, ...(head === 'argmax' ? { argmax } : {}), ...headOut, captures, positions, ...(conditions ? { gates: conditions.gates() } : {}) };
  }

  /** JS edits at a break point, then captures of the edited value. */
  private runEdits(
    hooks: readonly ResolvedHook[],
    index: number,
    carry: { resid: Float32Array; branch?: Float32Array },
    activation: (d: Float32Array) => Activation,
    captures: Map<string, Activation>,
  ): void {
    const point: HookPoint = pointAt(index);
    const value = carry.branch ?? carry.resid;
    const act = activation(value);
    for (const h of hooks) if (h.index === index && h.hook.kind === 'edit') h.hook.fn(act, point);
    if (hooks.some((h) => h.index === index && h.hook.kind === 'capture')) {
      captures.set(hookName(point), activation(value.slice()));
    }
  }

  /** Token (+ learned position) embeddings, gathered in JS: a row copy per token. */
  private embed(tokens: readonly (readonly number[])[], pad: readonly number[], positions: Int32Array, seq: number): Float32Array {
    const D = this.spec.hiddenSize;
    const out = new Float32Array(tokens.length * seq * D);
    const table = this.loaded.weights.get('token_embd');
    const tied = this.loaded.weights.get('output.weight');
    const packed = this.loaded.packed;
    // A packed table: token_embd, or the tied output matrix (its rows are the vocabulary).
    const packedTable = packed?.has('token_embd') ? 'token_embd' : !table && packed?.has('output.weight') ? 'output.weight' : undefined;
    const posTable = this.loaded.weights.get('pos_embd');
    const V = this.spec.vocabSize;
    for (let b = 0; b < tokens.length; b++) {
      for (let i = pad[b]; i < seq; i++) {
        const id = tokens[b][i - pad[b]];
        const o = (b * seq + i) * D;
        if (table) out.set(table.data.subarray(id * D, id * D + D), o);
        else if (packedTable) packed!.row(packedTable, id, out.subarray(o, o + D));
        else if (tied) for (let d = 0; d < D; d++) out[o + d] = tied.data[d * V + id];
        else throw new Error('model has neither token_embd nor output.weight');
        if (posTable) {
          const p = positions[b * seq + i];
          for (let d = 0; d < D; d++) out[o + d] += posTable.data[p * D + d];
        }
      }
    }
    return out;
  }

  private ropeTablesFor(needed: number): { cos: ort.Tensor; sin: ort.Tensor } {
    const rope = this.spec.rope!;
    if (!this.rope || this.rope.length < needed) {
      const length = Math.max(needed, Math.min(this.spec.maxPositions, 4096), (this.rope?.length ?? 0) * 2);
      const { cos, sin } = ropeTables(rope, length);
      this.rope = {
        length,
        cos: new ort.Tensor('float32', cos, [length, rope.dim / 2]),
        sin: new ort.Tensor('float32', sin, [length, rope.dim / 2]),
      };
    }
    return this.rope;
  }

  /** Releases ORT sessions. */
  async dispose(): Promise<void> {
    await this.sessions.dispose();
    this.loaded.packed?.close();
  }
}

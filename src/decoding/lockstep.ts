import { InvalidInputError } from '../io/errors.js';
import type { Activation, Hook } from '../runtime/hooks.js';
import type { KvCache } from '../runtime/kv-cache.js';
import type { HookedModel } from '../runtime/model.js';
import type { VocabAlignment } from './vocab-align.js';

/**
 * Several runs of models decoding the same text together: the main run, plus the runs that
 * guidance compares it with (unsteered, a negative prompt, a guide expert and base). Each
 * has its own prompt and KV cache and is fed the main run's chosen token every step, so all
 * caches stay aligned on one text. Runs that share a model and hooks are batched into one
 * forward pass (CFG's two prompts cost one pass, not two).
 */
export interface StreamSetup {
  /** For errors: "main", "unsteered", "negative prompt", "guide expert", ... */
  readonly name: string;
  readonly model: HookedModel;
  readonly hooks: readonly Hook[];
  /** Prompt ids per batch row, in this run's own vocabulary. */
  readonly prompts: readonly (readonly number[])[];
  /** Maps the main model's ids to this run's; undefined = the same vocabulary. */
  readonly vocab?: VocabAlignment;
}

interface Group {
  readonly model: HookedModel;
  readonly hooks: readonly Hook[];
  cache: KvCache;
  /** stream index → first row of that stream in the group's batch. */
  readonly offsets: Map<number, number>;
  readonly streams: number[];
  logits?: Float32Array;
  /** With head 'argmax': each row's greedy next token, in place of the logits. */
  argmax?: Int32Array;
  captures?: ReadonlyMap<string, Activation>;
}

function sameHooks(a: readonly Hook[], b: readonly Hook[]): boolean {
  return a === b || (a.length === b.length && a.every((h, i) => h === b[i]));
}

export class Lockstep {
  readonly rows: number;
  private readonly groups: Group[] = [];
  private readonly groupOf: Group[] = [];

  /**
   * `head` 'argmax' (one run only): each forward returns only the greedy next tokens (argmax()),
   * not the logits, for greedy decoding with nothing that edits the logits.
   */
  constructor(
    readonly streams: readonly StreamSetup[],
    private readonly head: 'last' | 'argmax' = 'last',
  ) {
    if (streams.length === 0) throw new InvalidInputError('lockstep decoding needs at least one run');
    if (head === 'argmax' && streams.length > 1) throw new InvalidInputError('guidance runs need logits: lockstep argmax decoding takes one run');
    this.rows = streams[0].prompts.length;
    const members: number[][] = [];
    streams.forEach((s, i) => {
      if (s.prompts.length !== this.rows) throw new InvalidInputError(`${s.name} has ${s.prompts.length} prompt rows, the main run ${this.rows}`);
      const at = members.findIndex((m) => streams[m[0]].model === s.model && sameHooks(streams[m[0]].hooks, s.hooks));
      if (at >= 0) members[at].push(i);
      else members.push([i]);
    });
    for (const ids of members) {
      const { model, hooks } = streams[ids[0]];
      const g: Group = { model, hooks, cache: model.createCache(ids.length * this.rows), offsets: new Map(ids.map((s, k) => [s, k * this.rows])), streams: ids };
      this.groups.push(g);
      for (const s of ids) this.groupOf[s] = g;
    }
  }

  /** New tokens each run can still take before its longest row reaches the model's context. */
  room(): number {
    return Math.min(...this.streams.map((s) => s.model.spec.maxPositions - Math.max(...s.prompts.map((p) => p.length))));
  }

  /** Conditional steering: per condition read on the prompt, the main run's gate per row (1 = holds). */
  conditions(): Map<string, Float32Array> {
    const g = this.groupOf[0];
    const at = g.offsets.get(0)!;
    return new Map([...g.cache.gates].map(([id, gate]) => [id, gate.slice(at, at + this.rows)]));
  }

  /** Runs every prompt; afterwards logits() holds each run's next-token logits. */
  async prefill(capture?: readonly Hook[]): Promise<void> {
    await this.run((s) => this.streams[s].prompts, capture);
  }

  /** Feeds `next[r]` (a main-model id) to row r of every run. */
  async advance(next: readonly number[], capture?: readonly Hook[]): Promise<void> {
    if (next.length !== this.rows) throw new InvalidInputError(`advance got ${next.length} tokens for ${this.rows} rows`);
    await this.run((s) => {
      const vocab = this.streams[s].vocab;
      return next.map((id) => (vocab ? vocab.feed(id) : [id]));
    }, capture);
  }

  /** Row r's next-token logits from run s: a view of the last forward's output, over that run's vocabulary. */
  logits(s: number, r: number): Float32Array {
    const g = this.groupOf[s];
    if (!g.logits) throw new InvalidInputError('lockstep decoding has not been prefilled');
    const V = g.model.spec.vocabSize;
    const row = g.offsets.get(s)! + r;
    return g.logits.subarray(row * V, (row + 1) * V);
  }

  /** Row r's greedy next token from the main run (head 'argmax'). */
  argmax(r: number): number {
    const g = this.groupOf[0];
    if (!g.argmax) throw new InvalidInputError(this.head === 'argmax' ? 'lockstep decoding has not been prefilled' : 'lockstep decoding returns logits, not argmax ids');
    return g.argmax[g.offsets.get(0)! + r];
  }

  /** The main run's captures from the last forward (hooks given to prefill/advance as `capture`), rows = batch rows. */
  captures(): ReadonlyMap<string, Activation> {
    return this.groupOf[0].captures ?? new Map();
  }

  /** Row r of the main run's batch within its group (for captures shared with grouped runs). */
  mainRow(r: number): number {
    return this.groupOf[0].offsets.get(0)! + r;
  }

  /**
   * A copy of row r of run s's cache, repeated `copies` times, with that run's model and
   * hooks: for trying several next tokens from the same point.
   */
  fork(s: number, r: number, copies: number): { model: HookedModel; hooks: readonly Hook[]; cache: KvCache } {
    const g = this.groupOf[s];
    const row = g.offsets.get(s)! + r;
    return { model: g.model, hooks: g.hooks, cache: g.cache.selectRows(new Array<number>(copies).fill(row)) };
  }

  /**
   * Makes row r of every run a copy of row source[r], caches and last logits alike
   * (selection among candidate rows). Captures are dropped.
   */
  selectRows(source: readonly number[]): void {
    if (source.length !== this.rows) throw new InvalidInputError(`selectRows got ${source.length} rows for ${this.rows}`);
    for (const g of this.groups) {
      const rows: number[] = [];
      for (const s of g.streams) for (let r = 0; r < this.rows; r++) rows.push(g.offsets.get(s)! + source[r]);
      g.cache = g.cache.selectRows(rows);
      if (g.logits) {
        const V = g.model.spec.vocabSize;
        const from = g.logits;
        const to = new Float32Array(from.length);
        rows.forEach((row, i) => to.set(from.subarray(row * V, (row + 1) * V), i * V));
        g.logits = to;
      }
      if (g.argmax) g.argmax = Int32Array.from(rows, (row) => g.argmax![row]);
      g.captures = undefined;
    }
  }

  private async run(tokensOf: (stream: number) => readonly (readonly number[])[], capture?: readonly Hook[]): Promise<void> {
    for (const g of this.groups) {
      const tokens = g.streams.flatMap((s) => tokensOf(s));
      const isMain = g === this.groupOf[0];
      const hooks = isMain && capture?.length ? [...g.hooks, ...capture] : g.hooks;
      const out = await g.model.forward({ tokens, cache: g.cache, hooks, logits: this.head });
      g.logits = out.logits;
      g.argmax = out.argmax;
      if (isMain) g.captures = out.captures;
    }
  }
}

import * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';
import { hookName } from '../graph/hook-points.js';
import type { ConditionRead, ConditionRole, Hook, ResolvedHook } from './hooks.js';
import type { KvCache } from './kv-cache.js';
import { RUNNING_STATE } from './condition-gate.js';

/**
 * The runtime side of conditional steering (the graph side is ./condition-gate.ts): which
 * conditions a forward reads, the gate values it feeds and gets back, and what the KV cache
 * holds between steps.
 *
 * A prompt condition reads the activation with every unconditional intervention before it
 * applied and no conditional one. When every gated intervention comes after every reader, the
 * prompt's forward reads it on the way; when one sits at or before a reader, the prompt's
 * forward needs the gate before reaching the reader, so a pre-pass over the prompt (up to the
 * last reader, gated interventions left out) computes it first.
 */
const conditionOf = (h: ResolvedHook): ConditionRole | undefined => (h.hook.kind === 'intervene' ? h.hook.intervention.condition : undefined);

export class ConditionGates {
  /** Current gate per condition: [batch] (prompt) or [batch*seq] (token, running). */
  private readonly values = new Map<string, Float32Array>();
  /** Running conditions: the score sum and token count per row so far, by `${id}.sum` / `${id}.count`. */
  private readonly running = new Map<string, Float32Array>();
  private reading = 0;

  private constructor(
    private readonly hooks: readonly ResolvedHook[],
    private readonly reads: ReadonlyMap<string, ConditionRead>,
    private readonly batch: number,
    private readonly seq: number,
  ) {}

  /** The conditions of a hook set, checked; undefined when it has none. */
  static of(hooks: readonly ResolvedHook[], batch: number, seq: number): ConditionGates | undefined {
    const readers = new Map<string, ResolvedHook>();
    const reads = new Map<string, ConditionRead>();
    for (const h of hooks) {
      const c = conditionOf(h);
      if (c?.role !== 'reader') continue;
      if (readers.has(c.id)) throw new InvalidInputError(`condition ${c.id} is read twice`);
      readers.set(c.id, h);
      reads.set(c.id, c.read);
    }
    let gated = false;
    for (const h of hooks) {
      const c = conditionOf(h);
      if (c?.role !== 'gated') continue;
      gated = true;
      const reader = readers.get(c.id);
      if (!reader) throw new InvalidInputError(`an intervention at ${hookName(h.point)} is gated by condition ${c.id}, which nothing reads`);
      if (c.read !== 'prompt' && h.index <= reader.index) {
        throw new InvalidInputError(`a condition read at every token (${c.read}) at ${hookName(reader.point)} can only gate interventions after it; one is at ${hookName(h.point)}`);
      }
    }
    if (readers.size === 0 && !gated) return undefined;
    return new ConditionGates(hooks, reads, batch, seq);
  }

  /** Whether a fresh forward must read its prompt conditions in a pre-pass (see the class note). */
  needsPrepass(fresh: boolean): boolean {
    if (!fresh) return false;
    const readers = this.hooks.filter((h) => conditionOf(h)?.role === 'reader' && conditionOf(h)?.read === 'prompt');
    return readers.some((r) => this.hooks.some((h) => conditionOf(h)?.role === 'gated' && h.index <= r.index));
  }

  /** The pre-pass's hooks: everything but the gated interventions and the captures. */
  prepassHooks(): Hook[] {
    return this.hooks.filter((h) => h.hook.kind !== 'capture' && conditionOf(h)?.role !== 'gated').map((h) => h.hook);
  }

  /**
   * Sets the gates a forward starts from: the pre-pass's, or (later steps) the cache's; a prompt
   * gate nothing has read yet (a condition added mid-generation) is 0, off.
   */
  begin(kv: KvCache, fresh: boolean, prepass?: ReadonlyMap<string, Float32Array>): void {
    for (const [id, read] of this.reads) {
      if (read === 'running') {
        for (const what of RUNNING_STATE) {
          const held = fresh ? undefined : kv.runningConditions.get(`${id}.${what}`);
          this.running.set(`${id}.${what}`, held && held.length === this.batch ? held : new Float32Array(this.batch));
        }
      }
      const size = read === 'prompt' ? this.batch : this.batch * this.seq;
      const held = prepass?.get(id) ?? (read === 'prompt' && !fresh ? kv.gates.get(id) : undefined);
      this.values.set(id, held && held.length === size ? held : new Float32Array(size));
    }
    this.reading = fresh && !prepass ? 1 : 0;
  }

  /** The value of a graph input this class feeds (`gate_read`, `gate.{id}.in`), if `name` is one. */
  feed(name: string): ort.Tensor | undefined {
    if (name === 'gate_read') return new ort.Tensor('float32', Float32Array.of(this.reading), [1]);
    const state = /^gate\.(.+\.(?:sum|count))\.in$/.exec(name)?.[1];
    if (state !== undefined) {
      const v = this.running.get(state);
      return v ? new ort.Tensor('float32', v, [this.batch, 1, 1]) : undefined;
    }
    const id = /^gate\.(.+)\.in$/.exec(name)?.[1];
    const v = id === undefined ? undefined : this.values.get(id);
    if (!v) return undefined;
    return new ort.Tensor('float32', v, this.reads.get(id!) === 'prompt' ? [this.batch, 1, 1] : [this.batch, this.seq, 1]);
  }

  /** Takes a graph output if it is a gate (`gate.{id}.out`); returns whether it was. */
  take(name: string, data: Float32Array): boolean {
    const state = /^gate\.(.+\.(?:sum|count))\.out$/.exec(name)?.[1];
    if (state !== undefined && this.running.has(state)) {
      this.running.set(state, data.slice());
      return true;
    }
    const id = /^gate\.(.+)\.out$/.exec(name)?.[1];
    if (id === undefined) return false;
    this.values.set(id, data.slice());
    return true;
  }

  /** Prompt gates and running sums go to the cache, for the steps after this one. */
  keep(kv: KvCache): void {
    for (const [id, read] of this.reads) if (read === 'prompt') kv.gates.set(id, this.values.get(id)!);
    for (const [key, v] of this.running) kv.runningConditions.set(key, v);
  }

  /** Every condition's gate after the forward. */
  gates(): ReadonlyMap<string, Float32Array> {
    return new Map(this.values);
  }
}

import * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';
import type { ModelSpec } from '../model/spec.js';

/**
 * Keys and values of past tokens for a batch of sequences, kept in JS memory: per layer and kind
 * one [batch, kvHeads, capacity, headDim] buffer, which the graph reads where it lies (no copy on
 * any step, whatever the batch). Each step the graph returns only the new tokens' keys and
 * values, appended here. Slots at or past `length` are empty and left padding leaves invalid
 * ones; the attention mask hides both. Capacity grows ahead of need (by an eighth, at least 64
 * slots), so attention reads a few empty slots and a long generation copies the cache only now
 * and then.
 */
export class KvCache {
  /** Number of slots (positions, padding included) filled per row. */
  length = 0;
  /** Per row: absolute position of the next token. */
  readonly nextPosition: number[];
  /** Per row: length of the prompt (the first forward on this cache). */
  promptLengths: number[] = [];
  /** Conditional steering: per condition read on the prompt, its gate per row (1 = holds). */
  readonly gates = new Map<string, Float32Array>();
  /** Conditional steering read as a running mean: per `${id}.sum` / `${id}.count`, its value per row so far. */
  readonly runningConditions = new Map<string, Float32Array>();
  private capacity = 0;
  private keys: Float32Array[];
  private values: Float32Array[];
  private validSlots: Uint8Array[];
  private readonly heads: number;
  private readonly headDim: number;

  constructor(
    readonly spec: ModelSpec,
    readonly batch: number,
  ) {
    this.heads = spec.numKvHeads;
    this.headDim = spec.headDim;
    this.keys = Array.from({ length: spec.numLayers }, () => new Float32Array(0));
    this.values = Array.from({ length: spec.numLayers }, () => new Float32Array(0));
    this.validSlots = Array.from({ length: batch }, () => new Uint8Array(0));
    this.nextPosition = new Array<number>(batch).fill(0);
  }

  /**
   * Slots fed to the graph per row: the capacity, filled or not; an empty cache feeds one empty
   * slot (an empty axis would need special cases in the graph).
   */
  get slots(): number {
    return Math.max(this.capacity, 1);
  }

  /** Layer l's keys or values as a graph input [batch, kvHeads, slots, headDim]: the buffer itself. */
  past(layer: number, kind: 'key' | 'value'): ort.Tensor {
    const dims = [this.batch, this.heads, this.slots, this.headDim];
    if (this.capacity === 0) return new ort.Tensor('float32', new Float32Array(this.batch * this.heads * this.headDim), dims);
    return new ort.Tensor('float32', kind === 'key' ? this.keys[layer] : this.values[layer], dims);
  }

  isValid(row: number, slot: number): boolean {
    return slot < this.length && this.validSlots[row][slot] === 1;
  }

  /**
   * Appends a step: `seq` new slots per row (the first pad[row] of them padding), and for each
   * layer the graph's new keys/values [batch, seq, kvHeads*headDim] (layers not computed: none).
   */
  append(seq: number, pad: readonly number[], newKv: ReadonlyMap<number, { key: Float32Array; value: Float32Array }>): void {
    const need = this.length + seq;
    // Room for an eighth more at once: a generation then grows (a copy, and fresh memory to
    // fault in) only every few hundred tokens, never right after its prompt.
    if (need > this.capacity) this.grow(need + Math.max(64, Math.ceil(need / 8)));
    const { heads, headDim: hd, capacity } = this;
    for (const [layer, kv] of newKv) {
      for (const [src, dst] of [
        [kv.key, this.keys[layer]],
        [kv.value, this.values[layer]],
      ] as const) {
        // new token i of row b, head h: src[b, i, h, :] → dst[b, h, length + i, :]
        for (let b = 0; b < this.batch; b++) {
          for (let h = 0; h < heads; h++) {
            const to = ((b * heads + h) * capacity + this.length) * hd;
            for (let i = 0; i < seq; i++) {
              const from = ((b * seq + i) * heads + h) * hd;
              dst.set(src.subarray(from, from + hd), to + i * hd);
            }
          }
        }
      }
    }
    for (let b = 0; b < this.batch; b++) {
      for (let i = 0; i < seq; i++) this.validSlots[b][this.length + i] = i >= pad[b] ? 1 : 0;
      this.nextPosition[b] += seq - pad[b];
    }
    this.length = need;
  }

  /**
   * A new cache whose row i is a copy of this cache's row rows[i] (rows may repeat): forks a
   * sequence to try several continuations, or keeps the rows that survive a selection.
   */
  selectRows(rows: readonly number[]): KvCache {
    if (rows.length === 0) throw new InvalidInputError('selectRows needs at least one row');
    for (const r of rows) if (!Number.isInteger(r) || r < 0 || r >= this.batch) throw new InvalidInputError(`row ${r} is not in this cache of ${this.batch} rows`);
    const out = new KvCache(this.spec, rows.length);
    const capacity = Math.max(this.length, 1);
    const copy = (src: Float32Array): Float32Array => this.copyRows(src, rows, capacity);
    out.keys = this.keys.map(copy);
    out.values = this.values.map(copy);
    out.validSlots = rows.map((r) => {
      const v = new Uint8Array(capacity);
      v.set(this.validSlots[r].subarray(0, this.length));
      return v;
    });
    rows.forEach((r, i) => (out.nextPosition[i] = this.nextPosition[r]));
    out.promptLengths = rows.map((r) => this.promptLengths[r]);
    for (const [id, gate] of this.gates) out.gates.set(id, Float32Array.from(rows, (r) => gate[r]));
    for (const [key, v] of this.runningConditions) out.runningConditions.set(key, Float32Array.from(rows, (r) => v[r]));
    out.capacity = capacity;
    out.length = this.length;
    return out;
  }

  private grow(capacity: number): void {
    const rows = Array.from({ length: this.batch }, (_, b) => b);
    this.keys = this.keys.map((a) => this.copyRows(a, rows, capacity));
    this.values = this.values.map((a) => this.copyRows(a, rows, capacity));
    this.validSlots = this.validSlots.map((v) => {
      const next = new Uint8Array(capacity);
      next.set(v.subarray(0, this.length));
      return next;
    });
    this.capacity = capacity;
  }

  /** The filled slots of `rows` (in that order) in a new buffer of `capacity` slots per head. */
  private copyRows(src: Float32Array, rows: readonly number[], capacity: number): Float32Array {
    const { heads, headDim: hd } = this;
    const dst = new Float32Array(rows.length * heads * capacity * hd);
    const span = this.length * hd;
    rows.forEach((r, i) => {
      for (let h = 0; h < heads; h++) {
        const from = (r * heads + h) * this.capacity * hd;
        dst.set(src.subarray(from, from + span), (i * heads + h) * capacity * hd);
      }
    });
    return dst;
  }

  /** Bytes held by keys and values (allocated capacity). */
  bytes(): number {
    return 2 * this.spec.numLayers * this.batch * this.capacity * this.heads * this.headDim * 4;
  }
}

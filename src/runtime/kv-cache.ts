import * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';
import type { ModelSpec } from '../model/spec.js';

/**
 * Keys and values of past tokens for a batch of sequences, kept in JS memory: one
 * [batch, capacity, kvHeads*headDim] buffer per layer and kind. Each step the graph returns
 * only the new tokens' keys and values, appended here (returning the whole cache as a graph
 * output would copy it out of ORT on every token). For a single sequence the filled prefix is
 * contiguous and is fed to the graph without any copy; a batch is packed row by row.
 * Left padding leaves invalid slots, tracked per row so masks never attend to them.
 */
export class KvCache {
  /** Number of slots (positions, padding included) stored per row. */
  length = 0;
  /** Per row: absolute position of the next token. */
  readonly nextPosition: number[];
  /** Per row: length of the prompt (the first forward on this cache). */
  promptLengths: number[] = [];
  private capacity = 0;
  private keys: Float32Array[];
  private values: Float32Array[];
  private validSlots: Uint8Array[];
  /** kvHeads * headDim */
  private readonly width: number;

  constructor(
    readonly spec: ModelSpec,
    readonly batch: number,
  ) {
    this.width = spec.numKvHeads * spec.headDim;
    this.keys = Array.from({ length: spec.numLayers }, () => new Float32Array(0));
    this.values = Array.from({ length: spec.numLayers }, () => new Float32Array(0));
    this.validSlots = Array.from({ length: batch }, () => new Uint8Array(0));
    this.nextPosition = new Array<number>(batch).fill(0);
  }

  /** The filled part of layer l's keys or values as a graph input [batch, slots, kvHeads*headDim]. */
  past(layer: number, kind: 'key' | 'value'): ort.Tensor {
    const buf = kind === 'key' ? this.keys[layer] : this.values[layer];
    const width = this.width;
    const dims = [this.batch, this.length, width];
    if (this.batch === 1) return new ort.Tensor('float32', buf.subarray(0, this.length * width), dims);
    const packed = new Float32Array(this.batch * this.length * width);
    for (let b = 0; b < this.batch; b++) {
      const from = b * this.capacity * width;
      packed.set(buf.subarray(from, from + this.length * width), b * this.length * width);
    }
    return new ort.Tensor('float32', packed, dims);
  }

  isValid(row: number, slot: number): boolean {
    return this.validSlots[row][slot] === 1;
  }

  /**
   * Appends a step: `seq` new slots per row (the first pad[row] of them padding), and for each
   * layer the graph's new keys/values [batch, seq, kvHeads*headDim] (layers not computed: none).
   */
  append(seq: number, pad: readonly number[], newKv: ReadonlyMap<number, { key: Float32Array; value: Float32Array }>): void {
    const need = this.length + seq;
    if (need > this.capacity) this.grow(Math.max(need, this.capacity * 2, 64));
    const width = this.width;
    for (const [layer, kv] of newKv) {
      for (const [src, dst] of [
        [kv.key, this.keys[layer]],
        [kv.value, this.values[layer]],
      ] as const) {
        // new rows [batch, seq, width] → row b, slots length..length+seq
        for (let b = 0; b < this.batch; b++) {
          dst.set(src.subarray(b * seq * width, (b + 1) * seq * width), (b * this.capacity + this.length) * width);
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
    const width = this.width;
    const capacity = Math.max(this.length, 1);
    const span = this.length * width;
    const copy = (src: Float32Array): Float32Array => {
      const dst = new Float32Array(rows.length * capacity * width);
      rows.forEach((r, i) => dst.set(src.subarray(r * this.capacity * width, r * this.capacity * width + span), i * capacity * width));
      return dst;
    };
    out.keys = this.keys.map(copy);
    out.values = this.values.map(copy);
    out.validSlots = rows.map((r) => {
      const v = new Uint8Array(capacity);
      v.set(this.validSlots[r].subarray(0, this.length));
      return v;
    });
    rows.forEach((r, i) => (out.nextPosition[i] = this.nextPosition[r]));
    out.promptLengths = rows.map((r) => this.promptLengths[r]);
    out.capacity = capacity;
    out.length = this.length;
    return out;
  }

  private grow(capacity: number): void {
    const width = this.width;
    const resize = (a: Float32Array): Float32Array => {
      const next = new Float32Array(this.batch * capacity * width);
      for (let b = 0; b < this.batch; b++) {
        next.set(a.subarray(b * this.capacity * width, (b * this.capacity + this.length) * width), b * capacity * width);
      }
      return next;
    };
    this.keys = this.keys.map(resize);
    this.values = this.values.map(resize);
    this.validSlots = this.validSlots.map((v) => {
      const next = new Uint8Array(capacity);
      next.set(v.subarray(0, this.length));
      return next;
    });
    this.capacity = capacity;
  }

  /** Bytes held by keys and values (allocated capacity). */
  bytes(): number {
    return 2 * this.spec.numLayers * this.batch * this.capacity * this.width * 4;
  }
}

import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../model/spec.js';

/**
 * Keys and values of past tokens for a batch of sequences, kept in JS memory token-major:
 * one [capacity, batch, kvHeads*headDim] buffer per layer and kind. The filled prefix is
 * contiguous, so it is fed to the graph without copying; each step the graph returns only
 * the new tokens' keys and values, appended here. (Returning the whole cache as a graph
 * output would copy it out of ORT on every token.)
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
  private readonly rowSize: number;

  constructor(
    readonly spec: ModelSpec,
    readonly batch: number,
  ) {
    this.rowSize = batch * spec.numKvHeads * spec.headDim;
    this.keys = Array.from({ length: spec.numLayers }, () => new Float32Array(0));
    this.values = Array.from({ length: spec.numLayers }, () => new Float32Array(0));
    this.validSlots = Array.from({ length: batch }, () => new Uint8Array(0));
    this.nextPosition = new Array<number>(batch).fill(0);
  }

  /** The filled part of layer l's keys or values as a graph input [slots, batch, kvHeads*headDim]. */
  past(layer: number, kind: 'key' | 'value'): ort.Tensor {
    const buf = kind === 'key' ? this.keys[layer] : this.values[layer];
    const width = this.spec.numKvHeads * this.spec.headDim;
    return new ort.Tensor('float32', buf.subarray(0, this.length * this.rowSize), [this.length, this.batch, width]);
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
    const width = this.spec.numKvHeads * this.spec.headDim;
    for (const [layer, kv] of newKv) {
      for (const [src, dst] of [
        [kv.key, this.keys[layer]],
        [kv.value, this.values[layer]],
      ] as const) {
        for (let b = 0; b < this.batch; b++) {
          for (let i = 0; i < seq; i++) {
            const from = (b * seq + i) * width;
            dst.set(src.subarray(from, from + width), (this.length + i) * this.rowSize + b * width);
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

  private grow(capacity: number): void {
    const resize = (a: Float32Array): Float32Array => {
      const next = new Float32Array(capacity * this.rowSize);
      next.set(a.subarray(0, this.length * this.rowSize));
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
    return 2 * this.spec.numLayers * this.capacity * this.rowSize * 4;
  }
}

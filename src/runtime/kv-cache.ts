import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../model/spec.js';

/**
 * Keys and values of past tokens for a batch of sequences, one [batch, kvHeads, slots, headDim]
 * pair per layer (the Attention op's present outputs, fed back as the next step's past).
 * Left padding leaves invalid slots, tracked per row so masks never attend to them.
 */
export class KvCache {
  readonly keys: ort.Tensor[];
  readonly values: ort.Tensor[];
  /** Number of slots (positions, padding included) stored per row. */
  length = 0;
  /** Per row: 1 where a slot holds a real token. */
  private validSlots: Uint8Array[];
  /** Per row: absolute position of the next token. */
  readonly nextPosition: number[];
  /** Per row: length of the prompt (the first forward on this cache). */
  promptLengths: number[] = [];

  constructor(
    readonly spec: ModelSpec,
    readonly batch: number,
  ) {
    const empty = new ort.Tensor('float32', new Float32Array(0), [batch, spec.numKvHeads, 0, spec.headDim]);
    this.keys = Array.from({ length: spec.numLayers }, () => empty);
    this.values = Array.from({ length: spec.numLayers }, () => empty);
    this.validSlots = Array.from({ length: batch }, () => new Uint8Array(64));
    this.nextPosition = new Array<number>(batch).fill(0);
  }

  isValid(row: number, slot: number): boolean {
    return this.validSlots[row][slot] === 1;
  }

  /** Records `seq` new slots per row, of which the first pad[row] are padding. */
  appendSlots(seq: number, pad: readonly number[]): void {
    const need = this.length + seq;
    for (let b = 0; b < this.batch; b++) {
      let v = this.validSlots[b];
      if (v.length < need) {
        const grown = new Uint8Array(Math.max(need, v.length * 2));
        grown.set(v);
        v = this.validSlots[b] = grown;
      }
      for (let i = 0; i < seq; i++) v[this.length + i] = i >= pad[b] ? 1 : 0;
      this.nextPosition[b] += seq - pad[b];
    }
    this.length = need;
  }

  /** Bytes held by keys and values. */
  bytes(): number {
    let n = 0;
    for (let l = 0; l < this.keys.length; l++) n += (this.keys[l].size + this.values[l].size) * 4;
    return n;
  }
}

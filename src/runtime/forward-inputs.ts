import * as ort from 'onnxruntime-node';
import type { HeadMode } from '../graph/segment.js';
import { InvalidInputError } from '../io/errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { KvCache } from './kv-cache.js';

/** Inputs of a forward pass that the runtime derives from the request: the attention mask, the head's inputs. */

const NEG = -1e30;

/** Token ids inside the vocabulary, no empty sequence, and room for them in the model's context after the cache. */
export function checkTokens(spec: ModelSpec, tokens: readonly (readonly number[])[], kv: KvCache): void {
  if (tokens.every((t) => t.length === 0)) throw new InvalidInputError('every sequence is empty');
  for (const row of tokens) {
    if (row.length === 0) throw new InvalidInputError('a sequence in the batch is empty');
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || id >= spec.vocabSize) {
        throw new InvalidInputError(`token id ${id} is outside the vocabulary (0..${spec.vocabSize - 1})`);
      }
    }
  }
  if (spec.positions === 'learned' || spec.maxPositions > 0) {
    const longest = Math.max(...kv.nextPosition.map((p, b) => p + tokens[b].length));
    if (longest > spec.maxPositions) {
      throw new InvalidInputError(`sequence length ${longest} exceeds the model's context of ${spec.maxPositions} tokens`);
    }
  }
}

/**
 * [batch, 1, seq, slots + seq] additive mask: causal, no padding or empty cache slots; padded
 * query rows see themselves.
 */
export function attentionMask(kv: KvCache, pad: readonly number[], seq: number, total: number): Float32Array {
  const past = kv.slots;
  const mask = new Float32Array(pad.length * seq * total).fill(NEG);
  for (let b = 0; b < pad.length; b++) {
    for (let i = 0; i < seq; i++) {
      const row = (b * seq + i) * total;
      if (i < pad[b]) {
        mask[row + past + i] = 0;
        continue;
      }
      for (let j = 0; j < past; j++) if (kv.isValid(b, j)) mask[row + j] = 0;
      for (let j = pad[b]; j <= i; j++) mask[row + past + j] = 0;
    }
  }
  return mask;
}

/** What a forward request says about its LM head (ForwardInput's fields). */
interface HeadRequest {
  readonly tokens: readonly (readonly number[])[];
  readonly targets?: readonly (readonly number[])[];
  readonly referenceHidden?: Float32Array;
}

/** The LM head's inputs for `head`, checked: targets ('targets', 'kl') and the reference run's hidden states ('kl'). */
export function headFeeds(req: HeadRequest, head: HeadMode, spec: ModelSpec, pad: readonly number[], seq: number): Map<string, ort.Tensor> {
  const batch = req.tokens.length;
  const feeds = new Map<string, ort.Tensor>();
  if (head === 'targets' || head === 'kl') {
    const given = req.targets;
    if (!given || given.length !== batch) throw new InvalidInputError(`logits '${head}' needs one target list per sequence (${batch})`);
    const targets = new BigInt64Array(batch * seq);
    given.forEach((row, b) => {
      if (row.length !== req.tokens[b].length) throw new InvalidInputError(`sequence ${b} has ${req.tokens[b].length} tokens but ${row.length} targets`);
      row.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= spec.vocabSize) throw new InvalidInputError(`target id ${id} is outside the vocabulary (0..${spec.vocabSize - 1})`);
        targets[b * seq + pad[b] + i] = BigInt(id);
      });
    });
    feeds.set('targets', new ort.Tensor('int64', targets, [batch, seq, 1]));
  }
  if (head === 'kl') {
    const ref = req.referenceHidden;
    if (!ref || ref.length !== batch * seq * spec.hiddenSize) {
      throw new InvalidInputError(`logits 'kl' needs the reference run's final hidden states (${batch} × ${seq} × ${spec.hiddenSize} floats, its 'hidden' output for the same tokens)`);
    }
    feeds.set('reference_hidden', new ort.Tensor('float32', ref, [batch, seq, spec.hiddenSize]));
  }
  return feeds;
}

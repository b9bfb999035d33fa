import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';

/**
 * How a guide model's vocabulary lines up with the main model's. Proxy-tuning adds logit
 * differences token by token, which is only meaningful when both models mean the same
 * token by the same id.
 */
export interface VocabAlignment {
  /** True when ids and output heads are identical: no mapping at all. */
  readonly identical: boolean;
  /** Main id → the guide's logit index, −1 where the guide has no such token. */
  readonly logitIndex: Int32Array;
  /** The guide's ids to feed when the main model produced `id` (usually one). */
  feed(id: number): readonly number[];
}

type VocabModel = Pick<HookedModel, 'tokenizer' | 'spec'>;

/** How many differing ids to name in an error. */
const SHOWN = 3;

/**
 * Aligns `guide`'s vocabulary to `main`'s. Identical vocabularies (same token at every id,
 * same head size) need nothing. Vocabularies that agree on every id they share and differ
 * only past the smaller one's end (added tokens: chat markers, padding of the head) are
 * mapped: shared ids map to themselves, the main model's extra tokens map by their string
 * or, failing that, by re-tokenising their text, and the guide has no say on them (its
 * logit difference counts as 0). Anything else is an error naming the differing ids.
 */
export function alignVocabularies(main: VocabModel, guide: VocabModel, label: string): VocabAlignment {
  // Every generate() call aligns its guides: compare each pair of vocabularies once.
  let byGuide = aligned.get(main);
  if (!byGuide) aligned.set(main, (byGuide = new WeakMap()));
  let a = byGuide.get(guide);
  if (!a) byGuide.set(guide, (a = align(main, guide, label)));
  return a;
}

const aligned = new WeakMap<VocabModel, WeakMap<VocabModel, VocabAlignment>>();

function align(main: VocabModel, guide: VocabModel, label: string): VocabAlignment {
  const mt = main.tokenizer;
  const gt = guide.tokenizer;
  const shared = Math.min(mt.vocabSize, gt.vocabSize);
  const differing: number[] = [];
  let count = 0;
  for (let id = 0; id < shared; id++) {
    if (mt.idToToken(id) !== gt.idToToken(id)) {
      count++;
      if (differing.length < SHOWN) differing.push(id);
    }
  }
  if (count > 0) {
    const shown = differing.map((id) => `${id}: ${JSON.stringify(mt.idToToken(id))} vs ${JSON.stringify(gt.idToToken(id))}`).join(', ');
    throw new InvalidInputError(
      `${label} does not share the main model's vocabulary: ${count} of the ${shared} ids they have in common stand for different tokens (${shown}${count > SHOWN ? ', ...' : ''}). ` +
        'Guidance adds logits token by token, so the models need the same tokenizer (differences only in added tokens at the end are mapped).',
    );
  }
  const Vm = main.spec.vocabSize;
  const Vg = guide.spec.vocabSize;
  if (mt.vocabSize === gt.vocabSize && Vm === Vg) {
    return { identical: true, logitIndex: Int32Array.from({ length: Vm }, (_, i) => i), feed: (id) => [id] };
  }
  const logitIndex = new Int32Array(Vm).fill(-1);
  for (let id = 0; id < Vm; id++) {
    if (id < shared && id < Vg) logitIndex[id] = id;
    else {
      const piece = mt.idToToken(id);
      const other = piece === undefined ? undefined : gt.tokenToId(piece);
      if (other !== undefined && other < Vg) logitIndex[id] = other;
    }
  }
  const feed = (id: number): readonly number[] => {
    if (logitIndex[id] >= 0) return [logitIndex[id]];
    const text = mt.decode([id]);
    const ids = text === '' ? [] : gt.encode(text);
    if (ids.length === 0) {
      throw new InvalidInputError(`${label} has no counterpart for the main model's token ${id} (${JSON.stringify(mt.idToToken(id))}) and its text is empty`);
    }
    return ids;
  };
  return { identical: false, logitIndex, feed };
}

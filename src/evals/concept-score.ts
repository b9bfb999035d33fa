import { InvalidInputError } from '../io/errors.js';
import { hookName, type HookPoint } from '../graph/hook-points.js';
import { renderChat } from '../model/chat-template.js';
import { countConceptHits, type Lexicon } from '../concept/lexicon.js';
import { familyFor } from '../concept/templates.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { Continuation } from './coherence.js';
import type { ScoredSpan } from '../runtime/score.js';
import { scoreSpans } from '../runtime/score.js';

/**
 * Concept scores that need no hosted model: each reads a generated output and says how much it
 * carries the concept.
 *
 *   presence    what a reader sees: concept terms (the lexicon's words in all their forms) in the
 *               generated text, counted per output
 *
 * The others read the output with the UNSTEERED model:
 *   likelihood  how much more likely the concept's name becomes after the output than after an
 *               empty one: log p(concept | output + bridge) − log p(concept | bridge), minus the
 *               same for the neutral concept when one is given (so "sad vs happy" rewards sad
 *               and not just emotional text)
 *   projection  mean over the output's tokens of the activation projected on the concept's unit
 *               direction at one layer, minus the unsteered outputs' mean when compared
 *   embedding   cosine between the output's mean-pooled hidden state at a layer and the concept
 *               name's, minus the neutral concept's cosine when one is given
 */
export type ConceptMetric = 'presence' | 'likelihood' | 'projection' | 'embedding';
export const CONCEPT_METRICS: readonly ConceptMetric[] = ['presence', 'likelihood', 'projection', 'embedding'];

/** A continuation plus the text a reader judges (for base models usually prompt + continuation). */
export interface ScoredOutput extends Continuation {
  readonly output: string;
}

export interface ConceptScorer {
  readonly metric: ConceptMetric;
  /** One score per output; higher = more of the concept. */
  score(outputs: readonly ScoredOutput[]): Promise<number[]>;
}

/**
 * Bridges between an output and the concept's name (base models): "{text}", then "{concept}" last.
 * An adjective reads as a description ("it was sad"), a phrase as a topic ("it was about weddings").
 */
const BASE_LIKELIHOOD_TEMPLATES = { persona: '{text}\n\nIn one word, it was {concept}', topic: '{text}\n\nIn one word, it was about {concept}' } as const;
const CHAT_LIKELIHOOD_QUESTION = '{text}\n\nIn one or two words, what is the text above about, or what is it like?';

interface LikelihoodOptions {
  readonly concept: string;
  readonly neutral?: string;
  /** Base models: text with "{text}" and ending in "{concept}" (default from BASE_LIKELIHOOD_TEMPLATES). */
  readonly template?: string;
  /** Ask through the chat template (default: when the model has one). */
  readonly chat?: boolean;
  readonly batchSize?: number;
}

export function likelihoodScorer(model: HookedModel, opts: LikelihoodOptions): ConceptScorer {
  const chat = opts.chat ?? model.chatTemplate !== undefined;
  if (chat && !model.chatTemplate) throw new InvalidInputError(`${model.source.name} has no chat template; use chat: false`);
  const template = opts.template ?? BASE_LIKELIHOOD_TEMPLATES[familyFor(opts.concept)];
  if (!chat && (!template.includes('{text}') || !template.endsWith('{concept}'))) {
    throw new InvalidInputError(`the likelihood template must contain "{text}" and end with "{concept}", got ${JSON.stringify(template)}`);
  }
  // The context before the concept's name, for an output text.
  const context = (text: string): string => {
    if (!chat) return template.slice(0, -'{concept}'.length).split('{text}').join(text).trimEnd();
    const question = CHAT_LIKELIHOOD_QUESTION.split('{text}').join(text);
    return renderChat(model.chatTemplate!, [{ role: 'user', content: question }], { addGenerationPrompt: true, specialTokens: model.specialTokens });
  };
  const span = (ctx: string, name: string): ScoredSpan => {
    const bos = model.specialTokens.bos_token;
    const addBos = chat && bos && ctx.startsWith(bos) ? false : model.spec.addBos;
    // A base-model bridge is trimmed at its end, and the name follows after one space.
    const full = chat ? ctx + name : `${ctx} ${name}`;
    const head = model.encode(ctx, { addBos });
    const ids = model.encode(full, { addBos });
    let from = 0;
    while (from < head.length && from < ids.length && head[from] === ids[from]) from++;
    return { ids, from: Math.max(1, Math.min(from, ids.length - 1)) };
  };
  const names = [opts.concept, ...(opts.neutral !== undefined ? [opts.neutral] : [])];
  for (const n of names) if (n.trim() === '') throw new InvalidInputError('the concept name is empty');
  const sum = (xs: Float64Array): number => xs.reduce((a, b) => a + b, 0);
  let baseline: number[] | undefined;
  return {
    metric: 'likelihood',
    async score(outputs) {
      baseline ??= (await scoreSpans(model, names.map((n) => span(context(''), n)))).map(sum);
      const spans = outputs.flatMap((o) => names.map((n) => span(context(o.output), n)));
      const lp = (await scoreSpans(model, spans, { batchSize: opts.batchSize })).map(sum);
      return outputs.map((_, i) => {
        const gain = (k: number): number => lp[i * names.length + k] - baseline![k];
        return names.length === 2 ? gain(0) - gain(1) : gain(0);
      });
    },
  };
}

/**
 * Mean hidden state at `point` over each span's tokens ids[from..] (the last token when the span
 * is empty), under the model with `hooks` (none: unsteered). Returns [spans, hidden].
 */
async function meanHidden(
  model: HookedModel,
  spans: readonly ScoredSpan[],
  point: HookPoint,
  opts: { hooks?: readonly Hook[]; batchSize?: number } = {},
): Promise<Float32Array> {
  const D = model.spec.hiddenSize;
  const out = new Float32Array(spans.length * D);
  const order = spans.map((_, i) => i).sort((a, b) => spans[a].ids.length - spans[b].ids.length);
  const batchSize = opts.batchSize ?? 16;
  const hooks: Hook[] = [...(opts.hooks ?? []), { kind: 'capture', at: point }];
  for (let start = 0; start < order.length; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    const res = await model.forward({ tokens: idx.map((i) => spans[i].ids), hooks, logits: 'none' });
    const act = res.captures.get(hookName(point))!.data;
    idx.forEach((i, b) => {
      const { ids } = spans[i];
      const from = Math.min(spans[i].from, ids.length - 1);
      const n = ids.length - from;
      for (let t = from; t < ids.length; t++) {
        const row = (b * res.seq + res.pad[b] + t) * D;
        for (let d = 0; d < D; d++) out[i * D + d] += act[row + d] / n;
      }
    });
  }
  return out;
}

function spanOf(c: Continuation): ScoredSpan {
  const ids = [...c.promptTokens, ...c.tokens];
  return { ids, from: Math.min(c.promptTokens.length, ids.length - 1) };
}

/** Projection of the outputs' tokens on the concept direction (unit length) at a layer. */
export function projectionScorer(model: HookedModel, direction: Float32Array, point: HookPoint): ConceptScorer {
  if (direction.length !== model.spec.hiddenSize) throw new InvalidInputError(`direction has ${direction.length} values, the model's hidden size is ${model.spec.hiddenSize}`);
  const norm = Math.hypot(...direction);
  if (!(norm > 0)) throw new InvalidInputError('the concept direction is zero');
  const D = model.spec.hiddenSize;
  return {
    metric: 'projection',
    async score(outputs) {
      const means = await meanHidden(model, outputs.map(spanOf), point);
      return outputs.map((_, i) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += means[i * D + d] * direction[d];
        return s / norm;
      });
    },
  };
}

function cosine(a: Float32Array, ao: number, b: Float32Array, bo: number, D: number): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let d = 0; d < D; d++) {
    ab += a[ao + d] * b[bo + d];
    aa += a[ao + d] * a[ao + d];
    bb += b[bo + d] * b[bo + d];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Cosine of mean-pooled hidden states of the output and of the concept's name at a layer. */
export function embeddingScorer(model: HookedModel, opts: { concept: string; neutral?: string; point: HookPoint }): ConceptScorer {
  const D = model.spec.hiddenSize;
  const names = [opts.concept, ...(opts.neutral !== undefined ? [opts.neutral] : [])];
  let anchors: Float32Array | undefined;
  return {
    metric: 'embedding',
    async score(outputs) {
      anchors ??= await meanHidden(model, names.map((n) => {
        const ids = model.encode(n);
        return { ids, from: model.spec.addBos && ids.length > 1 ? 1 : 0 };
      }), opts.point);
      const means = await meanHidden(model, outputs.map(spanOf), opts.point);
      return outputs.map((_, i) => {
        const c = cosine(means, i * D, anchors!, 0, D);
        return names.length === 2 ? c - cosine(means, i * D, anchors!, D, D) : c;
      });
    },
  };
}

/** Concept terms per output, counted in the generated text only (never in the prompt). */
export function presenceScorer(lexicon: Lexicon): ConceptScorer {
  return {
    metric: 'presence',
    score: async (outputs) => outputs.map((o) => countConceptHits(o.text, lexicon).hits),
  };
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

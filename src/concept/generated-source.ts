import { InvalidInputError } from '../io/errors.js';
import type { TextGenerator } from '../generators/text-generator.js';
import { generateBatch } from '../decoding/generate.js';
import { encodeChat } from '../runtime/chat.js';
import type { HookedModel } from '../runtime/model.js';
import { validateSeed } from '../runtime/rng.js';
import type { ConceptKindName } from './concept-kind.js';
import { buildConceptDataset, type ConceptDataset, type ConceptItem, type ConceptSource } from './concept-data.js';
import { requestConceptItems, type ItemScorer } from './self-generated.js';

export interface GeneratedSourceOptions {
  readonly concept: string;
  readonly neutral?: string;
  /** Pairs wanted (default 48; fewer when filtering drops items). */
  readonly count?: number;
  readonly seed?: number;
  /** 'self' when the generator is the model itself, 'endpoint' for an external one. */
  readonly source: Extract<ConceptSource, 'self' | 'endpoint'>;
  /** Concept score per text, to drop items written on the wrong side. */
  readonly scorer?: ItemScorer;
  /** Tokens the target model answers each generated prompt with (default 32; chat models). */
  readonly answerTokens?: number;
  readonly validationFraction?: number;
  /** The concept's kind: the generator is asked accordingly. */
  readonly conceptKind?: ConceptKindName;
}

/**
 * Data written by a generator (the model itself, or a larger model behind an endpoint). A chat
 * model gets concept and neutral user prompts and answers them itself, so the pair contrasts
 * its own behaviour; a base model gets whole texts, read as they are.
 */
export async function generatedConceptData(model: HookedModel, generator: TextGenerator, opts: GeneratedSourceOptions): Promise<ConceptDataset> {
  const seed = opts.seed ?? 0;
  validateSeed(seed);
  const count = opts.count ?? 48;
  const chat = model.chatTemplate !== undefined;
  const kind = chat ? 'prompts' : 'texts';
  const got = await requestConceptItems(generator, { concept: opts.concept, neutral: opts.neutral, count, kind, seed, scorer: opts.scorer, conceptKind: opts.conceptKind });
  const n = Math.min(got.positive.length, got.negative.length);
  if (n < 4) {
    throw new InvalidInputError(
      `${generator.name} wrote only ${n} usable pair(s) for "${opts.concept}" (${got.dropped.length} items filtered out); ` +
        'use a stronger generator (--generator-url) or the template source',
    );
  }
  const positive = got.positive.slice(0, n);
  const negative = got.negative.slice(0, n);
  let items: ConceptItem[];
  if (kind === 'texts') {
    items = positive.map((p, i) => ({ positive: { prompt: '', completion: p }, negative: { prompt: '', completion: negative[i] } }));
  } else {
    // Both answers of pair i sample with the same seed, as in the template source.
    const answer = async (prompts: readonly string[]): Promise<string[]> =>
      (await generateBatch(model, prompts.map((p) => encodeChat(model, [{ role: 'user', content: p }])), { maxTokens: opts.answerTokens ?? 32, temperature: 0.8, topP: 0.95, seed }))
        .map((r) => r.text);
    const pa = await answer(positive);
    const na = await answer(negative);
    items = positive.map((p, i) => ({ positive: { prompt: p, completion: pa[i] || '…' }, negative: { prompt: negative[i], completion: na[i] || '…' } }));
  }
  const dropped = got.dropped.map((d) => ({ text: d.text, reason: `${d.side}: ${d.reason}` }));
  return buildConceptDataset(
    { concept: opts.concept, ...(opts.neutral !== undefined ? { neutral: opts.neutral } : {}), source: opts.source, generator: generator.name, chat, seed },
    items,
    { validationFraction: opts.validationFraction, dropped },
  );
}

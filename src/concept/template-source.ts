import { InvalidInputError } from '../io/errors.js';
import { generateBatch } from '../decoding/generate.js';
import type { HookedModel } from '../runtime/model.js';
import { validateSeed } from '../runtime/rng.js';
import { renderChat } from '../model/chat-template.js';
import { buildConceptDataset, type ConceptDataset, type ConceptItem } from './concept-data.js';
import { REPLY_OPENINGS, STORY_OPENINGS } from './openings.js';
import { defaultTemplates, fillTemplate, validateTemplates, type PersonaTemplate } from './templates.js';

export interface TemplateSourceOptions {
  readonly concept: string;
  /** The opposite or neutral concept; without it the negative side uses a plain persona. */
  readonly neutral?: string;
  /** Pairs to make (default 48); openings and templates are cycled. */
  readonly count?: number;
  readonly openings?: readonly string[];
  readonly templates?: readonly PersonaTemplate[];
  /** Tokens the model writes after each opening (default 16; 0 = read the opening only, as repeng). */
  readonly completionTokens?: number;
  readonly temperature?: number;
  readonly seed?: number;
  /** Chat rendering (default: when the model has a chat template). */
  readonly chat?: boolean;
  readonly validationFraction?: number;
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Template source: persona prompts (concept vs neutral) crossed with sentence openings, and the
 * model completes each opening under both personas. Both sides of a pair sample with the same
 * seed, so where the persona changes nothing the two completions agree and only what the
 * persona changes differs. Works offline on any model.
 */
export async function templateConceptData(model: HookedModel, opts: TemplateSourceOptions): Promise<ConceptDataset> {
  const concept = opts.concept.trim();
  if (concept === '') throw new InvalidInputError('the concept is empty');
  const neutral = opts.neutral?.trim();
  if (neutral === '') throw new InvalidInputError('the neutral concept is empty (leave it out for a plain persona)');
  if (neutral !== undefined && neutral.toLowerCase() === concept.toLowerCase()) throw new InvalidInputError('the concept and the neutral concept are the same');
  const count = opts.count ?? 48;
  if (!Number.isInteger(count) || count < 2) throw new InvalidInputError(`count must be an integer >= 2, got ${count}`);
  const seed = opts.seed ?? 0;
  validateSeed(seed);
  const chat = opts.chat ?? model.chatTemplate !== undefined;
  if (chat && !model.chatTemplate) throw new InvalidInputError(`${model.source.name} has no chat template; use chat: false`);
  const templates = opts.templates ?? defaultTemplates(concept, chat);
  validateTemplates(templates);
  const openings = opts.openings ?? (chat ? REPLY_OPENINGS : STORY_OPENINGS);
  if (openings.length === 0) throw new InvalidInputError('no openings given');
  const tokens = opts.completionTokens ?? 16;
  if (!Number.isInteger(tokens) || tokens < 0) throw new InvalidInputError(`completionTokens must be a non-negative integer, got ${tokens}`);
  const batchSize = opts.batchSize ?? 32;

  // Pair i: template i mod T, opening i mod O (shifted each round so rounds differ).
  const plans = Array.from({ length: count }, (_, i) => {
    const t = fillTemplate(templates[i % templates.length], concept, neutral);
    const round = Math.floor(i / openings.length);
    const opening = openings[(i + round) % openings.length];
    return { positive: t.positive, negative: t.negative, opening };
  });
  const promptText = (persona: string, opening: string): string => {
    if (!chat) return persona === '' ? opening : `${persona} ${opening}`;
    const rendered = renderChat(model.chatTemplate!, [{ role: 'user', content: persona }], { addGenerationPrompt: true, specialTokens: model.specialTokens });
    return rendered + opening;
  };
  const encodePrompt = (persona: string, opening: string): number[] => {
    const text = promptText(persona, opening);
    const bos = model.specialTokens.bos_token;
    return model.encode(text, { addBos: chat && bos && text.startsWith(bos) ? false : model.spec.addBos });
  };

  const completions = new Map<string, string>(); // "p|i" / "n|i" → completion
  if (tokens > 0) {
    // Row r of a batch samples with seed + r; giving pair i the seed seed + i on both sides needs
    // the positive and negative prompts of the same pairs in separate, aligned batches.
    for (let start = 0; start < count; start += batchSize) {
      const slice = plans.slice(start, start + batchSize);
      for (const side of ['p', 'n'] as const) {
        const prompts = slice.map((p) => encodePrompt(side === 'p' ? p.positive : p.negative, p.opening));
        const out = await generateBatch(model, prompts, { maxTokens: tokens, temperature: opts.temperature ?? 0.8, topP: 0.95, seed: seed + start });
        out.forEach((o, k) => completions.set(`${side}|${start + k}`, o.text));
      }
      opts.onProgress?.(Math.min(start + batchSize, count), count);
    }
  }

  const items: ConceptItem[] = plans.map((p, i) => ({
    positive: { prompt: p.positive, completion: p.opening + (completions.get(`p|${i}`) ?? '') },
    negative: { prompt: p.negative, completion: p.opening + (completions.get(`n|${i}`) ?? '') },
  }));
  return buildConceptDataset(
    { concept, ...(neutral !== undefined ? { neutral } : {}), source: 'templates', generator: model.source.name, chat, seed },
    items,
    { validationFraction: opts.validationFraction },
  );
}

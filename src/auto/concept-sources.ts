import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { generateBatch } from '../decoding/generate.js';
import type { TextGenerator } from '../generators/text-generator.js';
import { localGenerator } from '../generators/local-generator.js';
import type { ConceptDataset, ConceptItem } from '../concept/concept-data.js';
import { corpusItems } from '../concept/corpus-source.js';
import { generatedConceptData } from '../concept/generated-source.js';
import type { Lexicon } from '../concept/lexicon.js';
import { STORY_OPENINGS } from '../concept/openings.js';
import { pairSourceItems } from '../concept/pair-source.js';
import { templateConceptData } from '../concept/template-source.js';

/**
 * The data sources of the one-click pipeline (concept-vector.ts): which ones a concept gets by
 * default, and the contrastive items each gives, so the pipeline reads as its steps.
 */

/** Where the contrastive data comes from. */
export type DataSource =
  | { readonly kind: 'pairs' | 'continuations' | 'samples' | 'templates' | 'self' }
  | { readonly kind: 'corpus'; readonly texts: readonly string[] }
  | { readonly kind: 'endpoint'; readonly generator: TextGenerator };

/** Concepts whose presence a lexicon can see in text; styles and behaviours it cannot. */
export function gateable(lex: Lexicon): boolean {
  return lex.kind !== 'style' && lex.kind !== 'behaviour';
}

/** Minimal pairs and continuations (rendered as chat replies for chat models). */
export function defaultSources(lex: Lexicon, chat: boolean): DataSource[] {
  // Styles and behaviours have no words to put in a sentence: persona templates (and, for a chat
  // model, its own kind-aware prompts) carry them. `self` is otherwise opt-in: writing lists of
  // items is the slowest source by far.
  if (!gateable(lex)) return chat ? [{ kind: 'self' }, { kind: 'templates' }] : [{ kind: 'templates' }];
  return [{ kind: 'pairs' }, { kind: 'continuations' }];
}

/** What every source is asked for: the concept, how many items, a seed, and where to report progress. */
interface SourceContext {
  readonly concept: string;
  readonly neutral?: string;
  readonly count: number;
  readonly seed: number;
  readonly chat: boolean;
  readonly onProgress: (done: number, total: number) => void;
}

/** The contrastive items one source gives for a concept (before the quality gate). */
export async function sourceItems(model: HookedModel, lex: Lexicon, src: DataSource, ctx: SourceContext): Promise<ConceptItem[]> {
  const whole = (d: ConceptDataset): ConceptItem[] => [...d.train, ...d.validation];
  switch (src.kind) {
    case 'pairs':
    case 'continuations':
      return pairSourceItems(model, lex, { kind: src.kind, count: ctx.count, seed: ctx.seed, chat: ctx.chat, onProgress: ctx.onProgress });
    case 'corpus':
      return corpusItems(src.texts, lex, { count: ctx.count });
    case 'samples':
      return corpusItems(await unsteeredSamples(model, ctx.count * 4, ctx.seed), lex, { count: ctx.count });
    case 'templates':
      return whole(await templateConceptData(model, { concept: ctx.concept, neutral: ctx.neutral, count: ctx.count, seed: ctx.seed, onProgress: ctx.onProgress }));
    case 'self':
      if (!ctx.chat) throw new InvalidInputError(`${model.source.name} has no chat template, so it cannot be asked to write its own data; use another source or an endpoint`);
      return whole(await generatedConceptData(model, localGenerator(model), { concept: ctx.concept, neutral: ctx.neutral, count: ctx.count, seed: ctx.seed, source: 'self', conceptKind: lex.kind }));
    case 'endpoint':
      return whole(await generatedConceptData(model, src.generator, { concept: ctx.concept, neutral: ctx.neutral, count: ctx.count, seed: ctx.seed, source: 'endpoint', conceptKind: lex.kind }));
  }
}

/** The model's own stories (base models) to mine for windows that do and do not name the concept. */
async function unsteeredSamples(model: HookedModel, n: number, seed: number): Promise<string[]> {
  const prompts = Array.from({ length: n }, (_, i) => STORY_OPENINGS[i % STORY_OPENINGS.length]);
  const out: string[] = [];
  for (let start = 0; start < n; start += 32) {
    const slice = prompts.slice(start, start + 32);
    const res = await generateBatch(model, slice.map((p) => model.encode(p)), { maxTokens: 128, temperature: 0.8, seed: seed + start });
    res.forEach((r, k) => out.push(slice[k] + r.text));
  }
  return out;
}

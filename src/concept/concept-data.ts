import { z } from 'zod/v4';
import { ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';
import { writeFileAtomic } from '../io/files.js';
import { splitTrainValidation } from '../steering/train-validation-split.js';

/**
 * Contrastive data generated for a concept, saved beside the vector it made so the vector can be
 * audited and re-made. Each side is a prompt (persona, or a generated user request; '' for
 * whole texts) and the completion that is read.
 */
interface ConceptSide {
  readonly prompt: string;
  readonly completion: string;
}

export interface ConceptItem {
  readonly positive: ConceptSide;
  readonly negative: ConceptSide;
}

export interface DroppedItem {
  readonly text: string;
  readonly reason: string;
}

/**
 * Where data came from: 'pairs' (minimal pairs), 'continuations' (concept-led openings),
 * 'corpus' (a user's text), 'samples' (the model's own unsteered texts), 'templates' (persona
 * sentences), 'self' / 'endpoint' (written by the model itself or an external one).
 */
export const CONCEPT_SOURCES = ['pairs', 'continuations', 'corpus', 'samples', 'templates', 'self', 'endpoint'] as const;
export type ConceptSource = (typeof CONCEPT_SOURCES)[number];

/** What the quality gate did to one source's items (see quality-gate.ts). */
export interface SourceReport {
  readonly source: ConceptSource;
  readonly considered: number;
  readonly kept: number;
  readonly droppedNoConcept: number;
  readonly droppedConceptInNegative: number;
  /** Mean concept terms per read text on each side, over the considered items. */
  readonly positiveHits: number;
  readonly negativeHits: number;
}

export interface ConceptDataset {
  readonly format: 'steerer.concept-data/v1';
  readonly concept: string;
  readonly neutral?: string;
  /** The sources joined with "+", e.g. "pairs+continuations". */
  readonly source: string;
  /** Per source: the quality gate's counts and how far apart the sides are. */
  readonly sources?: readonly SourceReport[];
  /** Who wrote the data: the model's name or the endpoint URL and model. */
  readonly generator: string;
  readonly chat: boolean;
  readonly seed: number;
  readonly train: readonly ConceptItem[];
  readonly validation: readonly ConceptItem[];
  readonly dropped: readonly DroppedItem[];
  readonly createdAt: string;
}

const SideSchema = z.object({ prompt: z.string(), completion: z.string() });
const ItemSchema = z.object({ positive: SideSchema, negative: SideSchema });
const DatasetSchema = z.object({
  format: z.literal('steerer.concept-data/v1'),
  concept: z.string().min(1),
  neutral: z.string().min(1).optional(),
  source: z.string().min(1),
  sources: z
    .array(
      z.object({
        source: z.enum(CONCEPT_SOURCES),
        considered: z.number().int().nonnegative(),
        kept: z.number().int().nonnegative(),
        droppedNoConcept: z.number().int().nonnegative(),
        droppedConceptInNegative: z.number().int().nonnegative(),
        positiveHits: z.number(),
        negativeHits: z.number(),
      }),
    )
    .optional(),
  generator: z.string(),
  chat: z.boolean(),
  seed: z.number().int().nonnegative(),
  train: z.array(ItemSchema).min(1),
  validation: z.array(ItemSchema),
  dropped: z.array(z.object({ text: z.string(), reason: z.string() })),
  createdAt: z.string(),
});

/** Lower-case, collapse whitespace, drop punctuation: what counts as "the same text". */
function normalizeForDedupe(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, '').replace(/\s+/g, ' ').trim();
}

/**
 * Removes duplicate items (both sides the same up to case, spacing and punctuation) and items
 * whose two sides are identical; what was removed is returned with the reason.
 */
export function dedupeItems(items: readonly ConceptItem[]): { kept: ConceptItem[]; dropped: DroppedItem[] } {
  const seen = new Set<string>();
  const kept: ConceptItem[] = [];
  const dropped: DroppedItem[] = [];
  for (const item of items) {
    const pos = normalizeForDedupe(`${item.positive.prompt} ${item.positive.completion}`);
    const neg = normalizeForDedupe(`${item.negative.prompt} ${item.negative.completion}`);
    const text = `${item.positive.prompt} ${item.positive.completion}`.trim();
    if (pos === neg) dropped.push({ text, reason: 'both sides are the same text' });
    else if (seen.has(`${pos}\u0000${neg}`)) dropped.push({ text, reason: 'duplicate' });
    else {
      seen.add(`${pos}\u0000${neg}`);
      kept.push(item);
    }
  }
  return { kept, dropped };
}

/** Dedupes and splits (seeded) into train and validation. */
export function buildConceptDataset(
  base: Omit<ConceptDataset, 'format' | 'train' | 'validation' | 'dropped' | 'createdAt'>,
  items: readonly ConceptItem[],
  opts: { validationFraction?: number; dropped?: readonly DroppedItem[] } = {},
): ConceptDataset {
  const { kept, dropped } = dedupeItems(items);
  const { train, validation } = splitTrainValidation(kept, opts.validationFraction ?? 0.2, base.seed);
  return { format: 'steerer.concept-data/v1', ...base, train, validation, dropped: [...(opts.dropped ?? []), ...dropped], createdAt: new Date().toISOString() };
}

/** A concept data file's text (NAME.data.json), as saveConceptDataset writes it. */
export function conceptDatasetText(data: ConceptDataset): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

export function saveConceptDataset(path: string, data: ConceptDataset): void {
  const bytes = new TextEncoder().encode(conceptDatasetText(data));
  writeFileAtomic(path, (write) => write(bytes));
}

export function loadConceptDataset(path: string): ConceptDataset {
  const json = parseJson(path, readText(path));
  const parsed = DatasetSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFileError(path, `not a concept dataset: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * A feature index: per-feature statistics and top-activating contexts of an SAE over an
 * activation store, the data behind a Neuronpedia-style feature page. This module holds its
 * data model and its JSON file format (saving, and loading with validation); building one from
 * a store is feature-index-builder.ts.
 */
import { z } from 'zod/v4';
import { ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';
import { writeFileAtomic } from '../io/files.js';
import { nonNegativeInt as nonNegInt } from '../util/schemas.js';

export const FEATURE_INDEX_FORMAT = 'steerer.feature-index/v1';

export interface FeatureContext {
  /** The feature's activation on the focus token. */
  readonly activation: number;
  readonly tokens: readonly string[];
  /** The feature's activation on each token of the window (5 significant digits). */
  readonly activations: readonly number[];
  /** Index of the focus token in `tokens`. */
  readonly focus: number;
  /** Document index and token position of the focus token in the store. */
  readonly doc: number;
  readonly pos: number;
}

interface FeatureHistogram {
  /** HISTOGRAM_BINS + 1 edges (empty for a silent feature). */
  readonly edges: readonly number[];
  /** Bin 0 also counts activations below the lowest edge, so counts sum to the active rows. */
  readonly counts: readonly number[];
}

export interface FeatureSummary {
  readonly feature: number;
  /** Active rows / rows. */
  readonly frequency: number;
  /** Mean over active rows. */
  readonly meanActivation: number;
  readonly maxActivation: number;
  readonly histogram: FeatureHistogram;
  /** Highest activation first. */
  readonly contexts: readonly FeatureContext[];
}

export interface FeatureIndexSae {
  readonly hook: string;
  readonly dSae: number;
  readonly dIn: number;
  readonly format: string;
  readonly modelName?: string;
}

export interface FeatureIndex {
  readonly format: typeof FEATURE_INDEX_FORMAT;
  readonly sae: FeatureIndexSae;
  /** Store rows the statistics are over. */
  readonly rows: number;
  /** Every feature, in order (features[i].feature === i). */
  readonly features: readonly FeatureSummary[];
}

// ---------------------------------------------------------------------------------------------
// Files


const ContextSchema = z.object({
  activation: z.number(),
  tokens: z.array(z.string()),
  activations: z.array(z.number()),
  focus: nonNegInt,
  doc: nonNegInt,
  pos: nonNegInt,
});

const SummarySchema = z.object({
  feature: nonNegInt,
  frequency: z.number().min(0).max(1),
  meanActivation: z.number(),
  maxActivation: z.number(),
  histogram: z.object({ edges: z.array(z.number()), counts: z.array(z.number().nonnegative()) }),
  contexts: z.array(ContextSchema),
});

const IndexSchema = z.object({
  format: z.literal(FEATURE_INDEX_FORMAT),
  sae: z.object({ hook: z.string(), dSae: z.number().int().positive(), dIn: z.number().int().positive(), format: z.string(), modelName: z.string().optional() }),
  rows: nonNegInt,
  features: z.array(SummarySchema),
});

// Compile-time guard: whatever the schema accepts is a FeatureIndex.
const asIndex = (x: z.infer<typeof IndexSchema>): FeatureIndex => x;

export function saveFeatureIndex(path: string, index: FeatureIndex): void {
  writeFileAtomic(path, (write) => write(Buffer.from(`${JSON.stringify(index)}\n`, 'utf8')));
}

export function loadFeatureIndex(path: string): FeatureIndex {
  const json = parseJson(path, readText(path));
  const parsed = IndexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelFileError(path, `not a feature index: ${issue.path.length > 0 ? issue.path.map(String).join('.') : 'file'}: ${issue.message}`);
  }
  const index = asIndex(parsed.data);
  const fail = (problem: string): never => {
    throw new ModelFileError(path, problem);
  };
  if (index.features.length !== index.sae.dSae) fail(`holds ${index.features.length} features but the SAE has ${index.sae.dSae}`);
  index.features.forEach((s, i) => {
    const at = `features.${i}`;
    if (s.feature !== i) fail(`${at} is feature ${s.feature}, expected ${i}`);
    const { edges, counts } = s.histogram;
    if (edges.length !== (counts.length === 0 ? 0 : counts.length + 1)) fail(`${at}.histogram has ${edges.length} edges for ${counts.length} bins`);
    s.contexts.forEach((c, k) => {
      if (c.activations.length !== c.tokens.length) fail(`${at}.contexts.${k} has ${c.tokens.length} tokens but ${c.activations.length} activations`);
      if (c.focus >= c.tokens.length) fail(`${at}.contexts.${k}.focus ${c.focus} is outside its ${c.tokens.length} tokens`);
    });
  });
  return index;
}

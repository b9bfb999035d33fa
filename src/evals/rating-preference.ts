/**
 * From stored ratings (the server's rows, or the lines of `GET /v1/ratings/export`) to the
 * strength people prefer for one vector, reported beside the vector's automatic recommendation.
 *
 * A rating counts for vector V when each reply was either unsteered (coefficient 0) or steered
 * by V alone with a plain `add` and a recorded coefficient; two steered replies must share
 * layers, site and positions, so the strength is the only difference. Anything else (other
 * vectors, SAE features, decode-time steering, conditions or targets) would confound the
 * comparison and is skipped with its reason counted. Which answer is the outcome:
 *   overall   both questions, each half a comparison: the reply that is more on-concept and the
 *             one that is more coherent (the trade-off a strength makes)
 *   concept / coherence   that question alone
 * A question without a pick falls back to the 1-5 scores (the higher scored reply wins).
 */
import { z } from 'zod/v4';
import { InvalidInputError } from '../io/errors.js';
import { parseSteeringSpec, type SteeringSpec } from '../steering/spec.js';
import type { VectorMeta, RecommendationAdoption } from '../steering/vector.js';
import { preferredStrength, type PreferredStrength, type PreferredStrengthOptions, type StrengthComparison } from './preferred-strength.js';

export const PREFERENCE_DIMENSIONS = ['overall', 'concept', 'coherence'] as const;
export type PreferenceDimension = (typeof PREFERENCE_DIMENSIONS)[number];

const Pick = z.enum(['a', 'b', 'tie']);
const SideScores = z.object({ concept: z.number().optional(), coherence: z.number().optional() }).loose();
// Loose: export lines carry id, createdAt, judge and the texts; only these fields matter here.
const RatedSchema = z
  .object({
    a: z.object({ steering: z.unknown().optional() }).loose(),
    b: z.object({ steering: z.unknown().optional() }).loose(),
    preference: z.object({ concept: Pick.optional(), coherence: Pick.optional() }).loose().optional(),
    scores: z.object({ a: SideScores, b: SideScores }).loose().optional(),
  })
  .loose();
type Rated = z.output<typeof RatedSchema>;

/** The keys of a plain vector intervention; any other (a condition, a target) makes it something else. */
const PLAIN_KEYS = new Set(['vector', 'layers', 'site', 'operator', 'coefficient', 'positions', 'preserveNorm']);

type SkipReason = 'unreadable' | 'other steering' | 'no coefficient' | 'different settings' | 'same strength' | 'no answer';

interface SideStrength {
  readonly coefficient: number;
  /** Layers, site, positions and norm rule: two steered replies must agree on them. */
  readonly setting: string | null;
  readonly layers: unknown;
}

const stem = (ref: string): string => (ref.split(/[\\/]/).pop() ?? ref).replace(/\.(safetensors|gguf)$/i, '');

/** Whether a spec's vector reference names the vector: the same string, or the same file stem (sad ≡ ./vectors/sad.safetensors). */
function namesVector(ref: unknown, vector: string): boolean {
  return typeof ref === 'string' && (ref === vector || stem(ref) === stem(vector));
}

/** Whether a rating's side mentions the vector at all (else the rating is about something else). */
function mentions(steering: unknown, vector: string): boolean {
  const ivs = (steering as { interventions?: unknown } | null | undefined)?.interventions;
  return Array.isArray(ivs) && ivs.some((iv) => namesVector((iv as { vector?: unknown } | null)?.vector, vector));
}

/** One reply's strength of the vector, or why it cannot be read as one. */
function sideStrength(steering: unknown, vector: string): SideStrength | SkipReason {
  if (steering === null || steering === undefined) return { coefficient: 0, setting: null, layers: null };
  let spec: SteeringSpec;
  try {
    spec = parseSteeringSpec(steering);
  } catch {
    return 'unreadable';
  }
  if (spec.decoding !== undefined || spec.force === true) return 'other steering';
  if (spec.interventions.length === 0) return { coefficient: 0, setting: null, layers: null };
  const coefficients = new Set<number>();
  const settings = new Set<string>();
  for (const iv of spec.interventions) {
    if (!('vector' in iv) || !namesVector(iv.vector, vector) || iv.operator !== 'add') return 'other steering';
    if (Object.entries(iv).some(([k, v]) => v !== undefined && !PLAIN_KEYS.has(k))) return 'other steering';
    if (typeof iv.coefficient !== 'number') return 'no coefficient';
    coefficients.add(iv.coefficient);
    const { layers, site, positions, preserveNorm } = iv;
    settings.add(JSON.stringify({ layers, site, positions, preserveNorm }));
  }
  // One vector split over several interventions must use one coefficient to be one strength.
  if (coefficients.size !== 1) return 'other steering';
  const setting = [...settings].sort().join('|');
  const first = spec.interventions[0];
  return { coefficient: [...coefficients][0], setting, layers: 'layers' in first ? first.layers : null };
}

/** A's share of the win on one question: the pick, else the 1-5 scores; undefined without either. */
function outcome(r: Rated, question: 'concept' | 'coherence'): number | undefined {
  const pick = r.preference?.[question];
  if (pick !== undefined) return pick === 'a' ? 1 : pick === 'b' ? 0 : 0.5;
  const sa = r.scores?.a[question];
  const sb = r.scores?.b[question];
  if (sa === undefined || sb === undefined) return undefined;
  return sa > sb ? 1 : sa < sb ? 0 : 0.5;
}

interface RatedComparisons {
  readonly comparisons: StrengthComparison[];
  /** Ratings that mention the vector and were used. */
  readonly used: number;
  /** Ratings that mention the vector but were left out, by reason. */
  readonly skipped: Partial<Record<SkipReason, number>>;
  /** The distinct `layers` the steered replies used (strengths at different layers are pooled). */
  readonly layers: readonly unknown[];
}

/** The comparisons of `vector`'s strengths in the ratings (rows as stored, or export lines). */
export function ratedComparisons(ratings: readonly unknown[], vector: string, dimension: PreferenceDimension = 'overall'): RatedComparisons {
  const questions = dimension === 'overall' ? (['concept', 'coherence'] as const) : ([dimension] as const);
  const comparisons: StrengthComparison[] = [];
  const skipped: Partial<Record<SkipReason, number>> = {};
  const layers = new Map<string, unknown>();
  let used = 0;
  const skip = (why: SkipReason): void => void (skipped[why] = (skipped[why] ?? 0) + 1);
  ratings.forEach((raw, index) => {
    const parsed = RatedSchema.safeParse(raw);
    if (!parsed.success) {
      // Only count what is recognisably about this vector; other malformed lines are not its business.
      if (mentions((raw as { a?: { steering?: unknown } } | null)?.a?.steering, vector) || mentions((raw as { b?: { steering?: unknown } } | null)?.b?.steering, vector)) skip('unreadable');
      return;
    }
    const r = parsed.data;
    if (!mentions(r.a.steering, vector) && !mentions(r.b.steering, vector)) return;
    const a = sideStrength(r.a.steering, vector);
    const b = sideStrength(r.b.steering, vector);
    if (typeof a === 'string') return skip(a);
    if (typeof b === 'string') return skip(b);
    if (a.setting !== null && b.setting !== null && a.setting !== b.setting) return skip('different settings');
    if (a.coefficient === b.coefficient) return skip('same strength');
    const answers = questions.map((q) => outcome(r, q)).filter((y): y is number => y !== undefined);
    if (answers.length === 0) return skip('no answer');
    for (const y of answers) comparisons.push({ a: a.coefficient, b: b.coefficient, y, weight: 1 / questions.length, rating: index });
    for (const s of [a, b]) if (s.setting !== null) layers.set(JSON.stringify(s.layers), s.layers);
    used++;
  });
  return { comparisons, used, skipped, layers: [...layers.values()] };
}

export interface StrengthPreference extends Omit<PreferredStrength, 'ratings'> {
  readonly vector: string;
  readonly dimension: PreferenceDimension;
  /** Ratings used (n), and those about the vector that were left out, by reason. */
  readonly n: number;
  readonly skipped: RatedComparisons['skipped'];
  readonly layers: readonly unknown[];
  readonly method: string;
  /** What adopting would record: `preferred` rounded to a tenth of its interval (adoptedCoefficient). */
  readonly adoptable: number | null;
  /** The recommendation before any adoption (the one-click pipeline's, or the file's), and now. */
  readonly automatic: { readonly coefficient: number | null; readonly source: string };
  readonly recommended: { readonly coefficient: number | null; readonly source: string };
  readonly adoptions: readonly RecommendationAdoption[];
}

const PREFERENCE_METHOD =
  'Bradley–Terry (ties as half wins, Gaussian prior sd 10 log-odds) per coefficient with 95% Laplace intervals; ' +
  'preferred strength = argmax over the rated range of a quadratic Bradley–Terry utility (prior sd 100), 95% percentile bootstrap over ratings';

/** The recommendation a vector had before people's ratings were adopted, and where it came from. */
export function recommendationSources(meta: VectorMeta | undefined): Pick<StrengthPreference, 'automatic' | 'recommended' | 'adoptions'> {
  const adoptions = meta?.adoptions ?? [];
  const now = meta?.recommended?.coefficient ?? null;
  const automatic = adoptions.length > 0 ? adoptions[0].previous : now;
  const source = meta?.auto !== undefined ? 'one-click pipeline' : automatic === null ? 'none' : 'vector file';
  return {
    automatic: { coefficient: automatic, source },
    recommended: { coefficient: now, source: adoptions.length > 0 ? 'human ratings' : source },
    adoptions,
  };
}

/** What the ratings alone say: the fit, without the vector's recommendation beside it. */
export type RatingsFit = Omit<StrengthPreference, 'automatic' | 'recommended' | 'adoptions'>;

type FitOptions = PreferredStrengthOptions & { readonly dimension?: PreferenceDimension };

/** The preference fit for `vector` from `ratings` (stored rows' bodies or export lines). */
export function fitRatings(ratings: readonly unknown[], vector: string, opts: FitOptions = {}): RatingsFit {
  const dimension = opts.dimension ?? 'overall';
  const rated = ratedComparisons(ratings, vector, dimension);
  const { ratings: n, ...fit } = preferredStrength(rated.comparisons, opts);
  const adoptable = fit.preferred !== null && fit.interval !== null ? adoptedCoefficient(fit.preferred, fit.interval) : null;
  return { vector, dimension, n, ...fit, adoptable, skipped: rated.skipped, layers: rated.layers, method: PREFERENCE_METHOD };
}

/** The fit beside the vector's automatic recommendation (from `meta`, when known). */
export function strengthPreference(ratings: readonly unknown[], vector: string, meta: VectorMeta | undefined, opts: FitOptions = {}): StrengthPreference {
  return { ...fitRatings(ratings, vector, opts), ...recommendationSources(meta) };
}

/**
 * Ratings from a file: JSONL (one rating per line, as `GET /v1/ratings/export` writes them or as
 * `POST /v1/ratings` takes them), or the JSON of `GET /v1/ratings` ({"data": [...]}) or an array.
 */
export function parseRatingsText(text: string, source: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{"object"')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (e) {
      throw new InvalidInputError(`${source}: not valid JSON (${(e as Error).message})`);
    }
    const list = Array.isArray(json) ? json : (json as { data?: unknown }).data;
    if (!Array.isArray(list)) throw new InvalidInputError(`${source}: expected a JSON array of ratings or {"data": [...]}`);
    return list;
  }
  return trimmed === ''
    ? []
    : trimmed.split('\n').flatMap((line, i) => {
        if (line.trim() === '') return [];
        try {
          return [JSON.parse(line) as unknown];
        } catch (e) {
          throw new InvalidInputError(`${source} line ${i + 1}: not valid JSON (${(e as Error).message})`);
        }
      });
}

/**
 * The coefficient an adoption records: the preferred strength rounded to a tenth of its interval's
 * width, down to a power of ten (4.97511 with interval 4.79-5.18 → 4.98): digits finer than the
 * uncertainty carry nothing, and a recommendation should read as a number a person would set.
 */
export function adoptedCoefficient(preferred: number, interval: readonly [number, number]): number {
  const width = interval[1] - interval[0];
  if (!(width > 0)) return preferred;
  const step = 10 ** Math.floor(Math.log10(width / 10));
  return Number((Math.round(preferred / step) * step).toPrecision(12));
}

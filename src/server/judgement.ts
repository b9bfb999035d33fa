import { z } from 'zod/v4';
import { dimensionAgreement, type DimensionPair } from '../evals/agreement.js';
import { judgeResponses, type JudgeField } from '../evals/judge.js';
import type { TextGenerator } from '../generators/text-generator.js';
import type { RatingRow } from './store.js';

/**
 * The judge's verdicts on a stored rating, and how they compare with the person's. A judge
 * rating with no readable `Rating: N` line scores 0 as a placeholder (src/evals/judge.ts);
 * here such a 0 is never a verdict: it is recorded as unparsed, left out of the agreement and
 * reported, so a model that cannot judge shows up as a warning instead of a row of ties.
 */

const Field = z.enum(['concept', 'instruction', 'fluency']);
const Scores = z.object({ concept: z.number(), instruction: z.number(), fluency: z.number(), score: z.number() });

/** What the store keeps under a rating's `judge` (validated when read back). */
const JudgementSchema = z.object({
  judge: z.string(),
  a: Scores,
  b: Scores,
  /** Per side, the fields whose rating could not be read; absent when every one was. */
  unparsed: z.object({ a: z.array(Field), b: z.array(Field) }).optional(),
});

export type Judgement = z.output<typeof JudgementSchema>;

/** What a rating's stored body must hold for the judge and the agreement (the rest is passed through). */
const JudgedBodySchema = z.object({
  prompt: z.string(),
  concept: z.string().optional(),
  a: z.object({ text: z.string() }),
  b: z.object({ text: z.string() }),
  preference: z.object({ concept: z.enum(['a', 'b', 'tie']), coherence: z.enum(['a', 'b', 'tie']) }).optional(),
  scores: z
    .object({
      a: z.object({ concept: z.number(), coherence: z.number() }),
      b: z.object({ concept: z.number(), coherence: z.number() }),
    })
    .optional(),
});

type Dimension = 'concept' | 'coherence';

/** The judge field each human dimension is compared with: it has no coherence question, so fluency stands in. */
const FIELD_OF: Record<Dimension, JudgeField> = { concept: 'concept', coherence: 'fluency' };

/** The stored judgement of a rating, or undefined when it has none (or an unreadable one, from an older server). */
function judgementOf(r: RatingRow): Judgement | undefined {
  const parsed = JudgementSchema.safeParse(r.judge);
  return parsed.success ? parsed.data : undefined;
}

function unparsedCount(j: Judgement): number {
  return j.unparsed === undefined ? 0 : j.unparsed.a.length + j.unparsed.b.length;
}

/** Whether the judge gave a readable verdict on this field for both replies. */
function readable(j: Judgement, field: JudgeField): boolean {
  return j.unparsed === undefined || (!j.unparsed.a.includes(field) && !j.unparsed.b.includes(field));
}

/** Ratings the judge job should (re)do: never judged, or judged with a verdict it could not read. */
export function ratingsToJudge(ratings: readonly RatingRow[]): RatingRow[] {
  return ratings.filter((r) => {
    const j = judgementOf(r);
    return j === undefined || unparsedCount(j) > 0;
  });
}

/** Rates both replies of a rating; null when the rating names no concept (the judge's first question needs one). */
export async function judgeRating(judge: TextGenerator, r: RatingRow): Promise<Judgement | null> {
  const body = JudgedBodySchema.parse(r.body);
  const concept = body.concept;
  if (concept === undefined || concept === '') return null;
  const items = [body.a, body.b].map((s) => ({ instruction: body.prompt, response: s.text, concept }));
  const { perItem, unparsedFields } = await judgeResponses(judge, items, { seed: 0 });
  const [ua, ub] = unparsedFields;
  return { judge: judge.name, a: perItem[0], b: perItem[1], ...(ua.length + ub.length > 0 ? { unparsed: { a: ua, b: ub } } : {}) };
}

/** How many judgements had an unreadable verdict, as the job reports it (with a warning when any). */
export function judgeRunSummary(judged: readonly Judgement[], skipped: number, judgeName: string) {
  const unreadable = judged.filter((j) => unparsedCount(j) > 0).length;
  const warning =
    unreadable === 0
      ? undefined
      : `${unreadable} of ${judged.length} judged ratings got no readable verdict from ${judgeName}: its reply held no "Rating: N" line. ` +
        'Those verdicts are left out of the agreement, not counted as ties. A base model cannot follow the judge prompts; ' +
        'serve with --judge-url and --judge-model pointing at an instruct model.';
  return { judged: judged.length, skipped, unreadable, judge: judgeName, ...(warning !== undefined ? { warning } : {}) };
}

/**
 * Human vs judge on both dimensions: concept (the judge's concept rating) and coherence (its
 * fluency rating). A pair enters a dimension only when the judge read both sides on it.
 */
export function agreement(ratings: readonly RatingRow[]) {
  const judged = ratings.flatMap((r) => {
    const j = judgementOf(r);
    return j === undefined ? [] : [{ id: r.id, body: JudgedBodySchema.parse(r.body), j }];
  });
  const rows = judged.map(({ id, body, j }) => ({
    id,
    human: { preference: body.preference ?? null, scores: body.scores ?? null },
    judge: { a: j.a, b: j.b, ...(j.unparsed !== undefined ? { unparsed: j.unparsed } : {}) },
  }));
  const dim = (d: Dimension): DimensionPair[] => {
    const field = FIELD_OF[d];
    return judged
      .filter(({ j }) => readable(j, field))
      .map(({ body, j }) => ({
        humanPreference: body.preference?.[d],
        humanScores: body.scores ? [body.scores.a[d], body.scores.b[d]] : undefined,
        judgeScores: [j.a[field], j.b[field]],
      }));
  };
  return {
    ratings: ratings.length,
    judged: judged.length,
    unreadable: judged.filter(({ j }) => unparsedCount(j) > 0).length,
    concept: dimensionAgreement(dim('concept')),
    coherence: dimensionAgreement(dim('coherence')),
    rows,
  };
}


import type { JudgeScores, JudgeUnparsed, Pick3, RatingInput } from './api';
import { formatNumber } from './format';

/** A row of GET /v1/ratings/agreement: the human's raw answers and the judge's scores of A and B. */
export interface AgreementRow {
  id: string;
  human: { preference: RatingInput['preference'] | null; scores: RatingInput['scores'] | null };
  judge: { a: JudgeScores; b: JudgeScores; unparsed?: JudgeUnparsed };
}

export type Dimension = 'concept' | 'coherence';

export interface RowCell {
  human: string;
  judge: string;
  /** null: nothing to compare (no human answer, or no readable verdict from the judge). */
  agree: boolean | null;
  /** The judge's reply held no readable rating for A or B here: its 0 is no verdict, so no tie is shown. */
  unreadable: boolean;
}

const pickOf = (a: number, b: number): Pick3 => (a > b ? 'a' : b > a ? 'b' : 'tie');
const label = (p: Pick3): string => (p === 'tie' ? 'tie' : p.toUpperCase());

/** Human and judge verdicts on one dimension, as text, and whether they pick the same side. */
export function rowCell(r: AgreementRow, d: Dimension): RowCell {
  // The judge has no coherence rating as such; its fluency rating stands in (as on the server).
  const field = d === 'concept' ? 'concept' : 'fluency';
  const scores = r.human.scores ?? null;
  const humanPick = r.human.preference?.[d] ?? (scores !== null ? pickOf(scores.a[d], scores.b[d]) : null);
  const humanScores = scores !== null ? ` (${scores.a[d]} vs ${scores.b[d]})` : '';
  const human = humanPick === null ? '—' : `${label(humanPick)}${humanScores}`;
  const unreadable = r.judge.unparsed !== undefined && (r.judge.unparsed.a.includes(field) || r.judge.unparsed.b.includes(field));
  if (unreadable) return { human, judge: 'no verdict (unreadable reply)', agree: null, unreadable };
  const judgePick = pickOf(r.judge.a[field], r.judge.b[field]);
  return {
    human,
    judge: `${label(judgePick)} (${formatNumber(r.judge.a[field])} vs ${formatNumber(r.judge.b[field])})`,
    agree: humanPick === null ? null : humanPick === judgePick,
    unreadable,
  };
}

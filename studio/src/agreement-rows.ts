import type { JudgeScores, Pick3, RatingInput } from './api';

/** A row of GET /v1/ratings/agreement: the human's raw answers and the judge's scores of A and B. */
export interface AgreementRow {
  id: string;
  human: { preference: RatingInput['preference'] | null; scores: RatingInput['scores'] | null };
  judge: { a: JudgeScores; b: JudgeScores };
}

export type Dimension = 'concept' | 'coherence';

export interface RowCell {
  human: string;
  judge: string;
  agree: boolean | null;
}

const pickOf = (a: number, b: number): Pick3 => (a > b ? 'a' : b > a ? 'b' : 'tie');
const label = (p: Pick3): string => (p === 'tie' ? 'tie' : p.toUpperCase());

/** Human and judge verdicts on one dimension, as text, and whether they pick the same side. */
export function rowCell(r: AgreementRow, d: Dimension): RowCell {
  // The judge has no coherence rating as such; its fluency rating stands in (as on the server).
  const field = d === 'concept' ? 'concept' : 'fluency';
  const judgePick = pickOf(r.judge.a[field], r.judge.b[field]);
  const scores = r.human.scores ?? null;
  const humanPick = r.human.preference?.[d] ?? (scores !== null ? pickOf(scores.a[d], scores.b[d]) : null);
  const humanScores = scores !== null ? ` (${scores.a[d]} vs ${scores.b[d]})` : '';
  return {
    human: humanPick === null ? '—' : `${label(humanPick)}${humanScores}`,
    judge: `${label(judgePick)} (${r.judge.a[field]} vs ${r.judge.b[field]})`,
    agree: humanPick === null ? null : humanPick === judgePick,
  };
}

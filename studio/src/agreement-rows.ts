import type { JudgeScores, Pick3, RatingInput, Verdict } from './api';

/** A row of GET /v1/ratings/agreement as docs/http-api.md describes it: a verdict per side. */
export interface ContractAgreementRow {
  id: string;
  human: { concept: Verdict; coherence: Verdict };
  judge: { concept: Verdict; coherence: Verdict };
}

/** The row as the server sends it today: the human's raw answers and the judge's scores of A and B. */
export interface ScoresAgreementRow {
  id: string;
  human: { preference: RatingInput['preference'] | null; scores: RatingInput['scores'] | null };
  judge: { a: JudgeScores; b: JudgeScores };
}

export type AgreementRow = ContractAgreementRow | ScoresAgreementRow;

export type Dimension = 'concept' | 'coherence';

export interface RowCell {
  human: string;
  judge: string;
  agree: boolean | null;
}

const pickOf = (a: number, b: number): Pick3 => (a > b ? 'a' : b > a ? 'b' : 'tie');
const label = (p: Pick3): string => (p === 'tie' ? 'tie' : p.toUpperCase());
const verdictText = (v: Verdict): string => (v === null ? '—' : typeof v === 'number' ? v.toFixed(2) : v === 'tie' ? 'tie' : v.toUpperCase());

/** Human and judge verdicts on one dimension, as text, and whether they pick the same side. */
export function rowCell(row: AgreementRow, d: Dimension): RowCell {
  if (!('a' in row.judge)) {
    const r = row as ContractAgreementRow;
    const [h, j] = [r.human[d], r.judge[d]];
    return { human: verdictText(h), judge: verdictText(j), agree: h === null || j === null ? null : h === j };
  }
  const r = row as ScoresAgreementRow;
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

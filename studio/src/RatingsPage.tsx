import { useCallback, useEffect, useState } from 'react';
import { rowCell, type AgreementRow, type Dimension } from './agreement-rows';
import { api, type Agreement, type AgreementStats, type Judgement, type Pick3, type Rating } from './api';
import { formatNumber } from './format';
import { JobProgress, useJob } from './JobProgress';

const num = (x: number | null): string => (x === null ? '—' : formatNumber(x, 3));

/** The judge's overall score of one side, or "unreadable" when any of its ratings had no verdict. */
function judgeScore(j: Judgement, side: 'a' | 'b'): string {
  return j.unparsed !== undefined && j.unparsed[side].length > 0 ? 'unreadable' : num(j[side].score);
}
const pick = (p: Pick3): string => (p === 'tie' ? 'tie' : p.toUpperCase());

/** Which side of a rating was steered, from the stored specs. */
function steeredSide(r: Rating): string {
  if (r.a.steering !== null && r.b.steering === null) return 'A';
  if (r.b.steering !== null && r.a.steering === null) return 'B';
  return r.a.steering !== null ? 'both' : 'neither';
}

function download(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** All ratings, their export, the automatic judge and how well it agrees with people. */
export function RatingsPage() {
  const [ratings, setRatings] = useState<Rating[] | null>(null);
  const [agreement, setAgreement] = useState<Agreement | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [judgeJobId, setJudgeJobId] = useState<string | null>(null);

  const load = useCallback(async (): Promise<void> => {
    try {
      const [r, a] = await Promise.all([api.ratings(), api.agreement()]);
      setRatings(r);
      setAgreement(a);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, []);
  useEffect(() => void load(), [load]);

  const { job, error: jobError } = useJob(judgeJobId, () => void load());
  const judging = judgeJobId !== null && (job === null || job.status === 'queued' || job.status === 'running') && jobError === null;

  const runJudge = async (): Promise<void> => {
    try {
      setJudgeJobId((await api.runJudge()).id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const exportJsonl = async (): Promise<void> => {
    try {
      download(await api.exportRatings(), 'ratings.jsonl');
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <div className="page" data-testid="ratings-page">
      <div className="page-head">
        <h1>Ratings</h1>
        <div className="buttons">
          <button type="button" onClick={() => void exportJsonl()} disabled={ratings === null || ratings.length === 0} data-testid="export-ratings">Export JSONL</button>
          <button type="button" className="primary" onClick={() => void runJudge()} disabled={judging || ratings === null || ratings.length === 0} data-testid="run-judge">
            {judging ? 'Judging…' : 'Run judge'}
          </button>
        </div>
      </div>
      {error !== null && <div className="notice error">{error}</div>}
      {judgeJobId !== null && <div className="card"><JobProgress job={job} error={jobError} testId="judge-job" /></div>}

      {agreement !== null && <AgreementView agreement={agreement} />}

      <div className="card">
        <h2>All ratings</h2>
        {ratings === null ? (
          <p className="muted">Loading…</p>
        ) : ratings.length === 0 ? (
          <p className="muted">No ratings yet: use Blind A/B mode in the chat.</p>
        ) : (
          <table className="table" data-testid="ratings-table">
            <thead>
              <tr><th>When</th><th>Prompt</th><th>Concept</th><th>Seed</th><th>Steered</th><th>On-concept</th><th>Coherent</th><th>Scores A / B</th><th>Judge A / B</th></tr>
            </thead>
            <tbody>
              {ratings.map((r) => (
                <tr key={r.id} data-testid="rating-row">
                  <td className="nowrap">{new Date(r.createdAt).toLocaleString()}</td>
                  <td className="clip" title={r.prompt}>{r.prompt}</td>
                  <td>{r.concept ?? '—'}</td>
                  <td>{r.seed}</td>
                  <td>{steeredSide(r)}{r.blind ? ' (blind)' : ''}</td>
                  <td>{r.preference !== undefined ? pick(r.preference.concept) : '—'}</td>
                  <td>{r.preference !== undefined ? pick(r.preference.coherence) : '—'}</td>
                  <td className="nowrap">{r.scores !== undefined ? `${r.scores.a.concept}·${r.scores.a.coherence} / ${r.scores.b.concept}·${r.scores.b.coherence}` : '—'}</td>
                  <td className="nowrap">{r.judge !== undefined ? `${judgeScore(r.judge, 'a')} / ${judgeScore(r.judge, 'b')}` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}

function AgreementView({ agreement }: { agreement: Agreement }) {
  const stat = (label: string, s: AgreementStats) => (
    <tr>
      <td>{label}</td><td>{s.pairs}</td><td>{s.scoredReplies}</td><td>{s.agreement === null ? '—' : `${Math.round(s.agreement * 100)}%`}</td><td>{num(s.kappa)}</td><td>{num(s.spearman)}</td>
    </tr>
  );
  return (
    <div className="card" data-testid="agreement">
      <h2>Human vs judge</h2>
      <p className="muted">{agreement.ratings} ratings, {agreement.judged} judged.</p>
      {agreement.unreadable > 0 && (
        <div className="notice warn" data-testid="judge-warning">
          The judge gave no readable verdict on {agreement.unreadable} of {agreement.judged} judged ratings: its reply had no “Rating: N” line, so
          there is nothing to compare. Those verdicts are left out below rather than counted as ties. A base model cannot follow the judge's
          instructions; start the server with <code>--judge-url</code> and <code>--judge-model</code> naming an instruct model, then run the judge again.
        </div>
      )}
      <table className="table compact">
        <thead><tr><th /><th>Pairs</th><th>Scored replies</th><th>Agreement</th><th>Cohen's κ</th><th>Spearman</th></tr></thead>
        <tbody>
          {stat('On-concept', agreement.concept)}
          {stat('Coherence', agreement.coherence)}
        </tbody>
      </table>
      {agreement.rows.length > 0 && (
        <table className="table compact" data-testid="agreement-rows">
          <thead><tr><th>Rating</th><th>Human on-concept</th><th>Judge on-concept</th><th>Human coherence</th><th>Judge coherence</th></tr></thead>
          <tbody>
            {agreement.rows.map((row) => (
              <AgreementRowView key={row.id} row={row} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function AgreementRowView({ row }: { row: AgreementRow }) {
  const cells = (d: Dimension) => {
    const c = rowCell(row, d);
    return (
      <>
        <td>{c.human}</td>
        <td className={c.unreadable ? 'unreadable' : c.agree === null ? '' : c.agree ? 'agree' : 'disagree'}>{c.judge}</td>
      </>
    );
  };
  return (
    <tr data-testid="agreement-row">
      <td className="mono">{row.id}</td>
      {cells('concept')}
      {cells('coherence')}
    </tr>
  );
}

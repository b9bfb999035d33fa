import { useState } from 'react';
import { api, type Passage, type TokenWeight, type VectorExplanation } from './api';
import { formatNumber } from './format';
import { href } from './useHashRoute';

/** Spaces, newlines and tabs made visible, so a token reads as what the model emits. */
const visible = (s: string): string => s.replace(/\n/g, '⏎').replace(/\t/g, '⇥');

function Tokens({ list, kind }: { list: TokenWeight[]; kind: 'up' | 'down' }) {
  return (
    <span className="token-list">
      {list.map((t) => (
        <span key={t.id} className={`token-chip ${kind}`} title={`#${t.id}: ${formatNumber(t.weight, 4)}`}>{visible(t.token)}</span>
      ))}
    </span>
  );
}

function PassageRow({ p }: { p: Passage }) {
  const part = (a: number, b: number): string => visible(p.tokens.slice(a, b).join(''));
  return (
    <div className="passage" title={`document ${p.doc}, positions ${p.from}–${p.to}`}>
      <span className="passage-score">{formatNumber(p.score, 3)}</span>
      <span>{part(0, p.start)}</span>
      <mark>{part(p.start, p.end)}</mark>
      <span>{part(p.end, p.tokens.length)}</span>
    </div>
  );
}

/**
 * "What it means": the tokens each layer promotes and suppresses (logit lens), the passages of
 * the server's activation index reading highest and lowest along the vector, and the vectors of
 * the registry most like it. Loaded on request: reading a large index takes seconds.
 */
export function VectorExplanationCard({ name }: { name: string }) {
  const [explanation, setExplanation] = useState<VectorExplanation | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      setExplanation(await api.explainVector(name));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="card" data-testid="vector-explanation">
      <h2>What it means</h2>
      {explanation === null ? (
        <button type="button" onClick={() => void load()} disabled={busy} data-testid="explain-vector">{busy ? 'Reading…' : 'Explain this vector'}</button>
      ) : (
        <>
          <h3>Tokens it promotes and suppresses</h3>
          <table className="table compact" data-testid="explain-tokens">
            <thead><tr><th>Layer</th><th>Promotes</th><th>Suppresses</th></tr></thead>
            <tbody>
              {explanation.logits.map((l) => (
                <tr key={l.layer ?? -1}><td>{l.layer ?? '—'}</td><td><Tokens list={l.promoted} kind="up" /></td><td><Tokens list={l.suppressed} kind="down" /></td></tr>
              ))}
            </tbody>
          </table>
          {explanation.contexts !== undefined ? (
            <div data-testid="explain-passages">
              <h3>Passages reading highest ({explanation.index}, {explanation.contexts.hook})</h3>
              {explanation.contexts.highest.map((p) => <PassageRow key={`${p.doc}:${p.from}`} p={p} />)}
              <h3>Passages reading lowest</h3>
              {explanation.contexts.lowest.map((p) => <PassageRow key={`${p.doc}:${p.from}`} p={p} />)}
            </div>
          ) : (
            <p className="muted" data-testid="explain-no-passages">No passages: {explanation.contextsSkipped}. Put an index from <code>steerer index build</code> in the data directory's indexes/ folder.</p>
          )}
          {explanation.similar !== undefined && (
            <>
              <h3>Vectors like this one</h3>
              {explanation.similar.similar.length === 0 ? (
                <p className="muted">No other vector to compare with.</p>
              ) : (
                <ul className="similar" data-testid="explain-similar">
                  {explanation.similar.similar.map((v) => <li key={v.name}><a href={href({ page: 'vector', name: v.name })}>{v.name}</a> {formatNumber(v.cosine, 3)}</li>)}
                </ul>
              )}
              {explanation.similar.opposite.length > 0 && (
                <>
                  <h3>Opposite to it</h3>
                  <ul className="similar">
                    {explanation.similar.opposite.map((v) => <li key={v.name}><a href={href({ page: 'vector', name: v.name })}>{v.name}</a> {formatNumber(v.cosine, 3)}</li>)}
                  </ul>
                </>
              )}
            </>
          )}
        </>
      )}
      {error !== null && <div className="notice error">{error}</div>}
    </div>
  );
}

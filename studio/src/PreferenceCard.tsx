import { useCallback, useEffect, useState } from 'react';
import { api, type StrengthPreference, type VectorInfo } from './api';
import { formatNumber } from './format';

const strength = (x: number | null): string => (x === null ? 'none' : `×${formatNumber(x)}`);
const span = ([lo, hi]: readonly [number, number]): string => `${formatNumber(lo, 3)} to ${formatNumber(hi, 3)}`;

/** The rated coefficient nearest the preferred strength (highlighted in the table). */
function nearestRated(p: StrengthPreference): number | null {
  const best = p.preferred;
  if (best === null || p.perCoefficient.length === 0) return null;
  return p.perCoefficient.reduce((m, c) => (Math.abs(c.coefficient - best) < Math.abs(m.coefficient - best) ? c : m)).coefficient;
}

/**
 * The strength people prefer for a vector, fitted from the blind A/B ratings (Bradley–Terry over
 * the rated coefficients, GET /v1/vectors/:name/preference), beside the automatic recommendation;
 * a button adopts it as the vector's recommended coefficient, and the adoption (from human
 * ratings, n, interval, when, what it replaced) shows here with an undo.
 */
export function PreferenceCard({ vector, onChanged }: { vector: VectorInfo; onChanged: (v: VectorInfo) => void }) {
  const [pref, setPref] = useState<StrengthPreference | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const name = vector.name;
  const adoptions = vector.adoptions ?? [];
  const last = adoptions.at(-1);

  const load = useCallback(async (): Promise<void> => {
    try {
      setPref(await api.preference(name));
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [name]);
  // Again after an adoption or undo: the report's "recommended now" follows the vector.
  useEffect(() => void load(), [load, adoptions.length]);

  const act = async (call: () => Promise<{ vector: VectorInfo }>): Promise<void> => {
    setBusy(true);
    try {
      onChanged((await call()).vector);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      void load();
    } finally {
      setBusy(false);
    }
  };

  const preferred = pref?.preferred ?? null;
  const adoptable = pref?.adoptable ?? null;
  const current = vector.recommended?.coefficient ?? null;
  return (
    <div className="card" data-testid="preference-card">
      <h2>Strength people prefer</h2>
      {error !== null && <div className="notice error" data-testid="preference-error">{error}</div>}
      {pref === null ? (
        error === null && <p className="muted">Loading…</p>
      ) : (
        <>
          <dl className="meta">
            <dt>From ratings</dt>
            <dd data-testid="preference-preferred">
              {preferred !== null && pref.interval !== null
                ? `${strength(preferred)} (95% interval ${span(pref.interval)}; n = ${pref.n} ratings)`
                : `— (${pref.reason ?? 'too few ratings'}; n = ${pref.n})`}
            </dd>
            <dt>Automatic</dt>
            <dd data-testid="preference-automatic">{strength(pref.automatic.coefficient)} ({pref.automatic.source})</dd>
            <dt>Recommended now</dt>
            <dd data-testid="preference-recommended">{strength(current)} ({last !== undefined ? 'human ratings' : pref.automatic.source})</dd>
          </dl>
          {pref.atEdge && <p className="muted">At an end of the rated strengths: rate replies beyond it to see whether people want more (or less).</p>}
          <div className="buttons">
            <button
              type="button"
              className="primary"
              disabled={busy || preferred === null || adoptable === current}
              onClick={() => preferred !== null && void act(() => api.adoptPreference(name, preferred))}
              data-testid="adopt-preference"
            >
              {adoptable !== null ? `Adopt ${strength(adoptable)} as the recommended strength` : 'Nothing to adopt yet'}
            </button>
          </div>
          {pref.perCoefficient.length > 0 && (
            <details className="curve">
              <summary>Per strength ({pref.perCoefficient.length}), relative to ×{formatNumber(pref.reference ?? 0)}</summary>
              <table className="table compact" data-testid="preference-table">
                <thead><tr><th>Coefficient</th><th>Compared</th><th>Wins</th><th>Strength (95%)</th><th>Fitted curve</th></tr></thead>
                <tbody>
                  {pref.perCoefficient.map((c) => (
                    <tr key={c.coefficient} className={c.coefficient === nearestRated(pref) ? 'highlight' : ''}>
                      <td>{formatNumber(c.coefficient)}</td><td>{formatNumber(c.comparisons, 3)}</td><td>{formatNumber(c.wins, 3)}</td>
                      <td>{formatNumber(c.strength, 3)} ({span(c.interval)})</td><td>{c.curve === null ? '—' : formatNumber(c.curve, 3)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="muted small">{pref.method}.</p>
            </details>
          )}
        </>
      )}
      {last !== undefined && (
        <div className="notice ok" data-testid="recommendation-provenance">
          Recommended {strength(last.coefficient)} from human ratings ({last.ratings} ratings, {last.dimension}, 95% interval {span(last.interval)}), adopted{' '}
          {new Date(last.adoptedAt).toLocaleString()}; it replaced {strength(last.previous)}.{' '}
          <button type="button" className="link" disabled={busy} onClick={() => void act(() => api.undoAdoption(name))} data-testid="undo-adoption">
            Undo
          </button>
        </div>
      )}
    </div>
  );
}

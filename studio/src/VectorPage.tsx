import { useEffect, useState } from 'react';
import { api, type VectorInfo } from './api';
import { AuthImage } from './AuthImage';
import { formatNumber } from './format';
import { PreferenceCard } from './PreferenceCard';
import { VectorExplanationCard } from './VectorExplanation';

/** One vector's metadata, recommendation, diagnostics and plots, with a delete button. */
export function VectorPage({ name, onDeleted }: { name: string; onDeleted: () => void }) {
  const [vector, setVector] = useState<VectorInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    setVector(null);
    setError(null);
    api.vector(name).then(
      (v) => !cancelled && setVector(v),
      (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [name]);

  const remove = async (): Promise<void> => {
    if (!window.confirm(`Delete the vector “${name}”?`)) return;
    try {
      await api.deleteVector(name);
      onDeleted();
      window.location.hash = '#/chat';
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  if (error !== null) return <div className="page"><div className="notice error" data-testid="vector-error">{error}</div></div>;
  if (vector === null) return <div className="page muted">Loading…</div>;

  const rec = vector.recommended;
  const curve = [...(vector.auto?.strength?.curve ?? [])].sort((a, b) => a.coefficient - b.coefficient);
  return (
    <div className="page" data-testid="vector-page">
      <div className="page-head">
        <h1>{vector.name}</h1>
        <button type="button" className="danger" onClick={() => void remove()} data-testid="delete-vector">Delete</button>
      </div>
      {vector.description !== undefined && <p>{vector.description}</p>}
      <div className="cards">
        <div className="card">
          <h2>About</h2>
          <dl className="meta" data-testid="vector-meta">
            {vector.concept !== undefined && <><dt>Concept</dt><dd>{vector.concept}</dd></>}
            <dt>Model</dt><dd>{vector.model}</dd>
            <dt>Method</dt><dd>{vector.method}</dd>
            <dt>Site</dt><dd>{vector.site}</dd>
            <dt>Hidden size</dt><dd>{vector.hiddenSize}</dd>
            <dt>Layers</dt><dd>{vector.layers.map((l, i) => `${l} (‖v‖ ${formatNumber(vector.norms[i] ?? NaN, 3)})`).join(', ')}</dd>
            <dt>Created</dt><dd>{new Date(vector.createdAt).toLocaleString()}</dd>
          </dl>
        </div>
        <div className="card">
          <h2>Recommended</h2>
          <dl className="meta" data-testid="vector-recommended">
            <dt>Layer</dt><dd>{rec?.layers !== undefined && rec.layers.length > 0 ? rec.layers.join(', ') : '—'}</dd>
            <dt>Coefficient</dt><dd>{rec?.coefficient !== undefined ? formatNumber(rec.coefficient) : '—'}</dd>
            {(vector.adoptions?.length ?? 0) > 0 && (
              <><dt>Chosen by</dt><dd data-testid="recommended-source">human ratings (below)</dd></>
            )}
            {vector.auto !== undefined && (vector.adoptions?.length ?? 0) === 0 && (
              <>
                <dt>Chosen by</dt>
                <dd>
                  the one-click pipeline{vector.auto.metric !== undefined && `, ${vector.auto.metric} concept metric`}
                  {vector.auto.budget !== undefined && `, ${vector.auto.budget.kind} budget ε = ${formatNumber(vector.auto.budget.epsilon, 3)}`}
                </dd>
              </>
            )}
          </dl>
          {curve.length > 0 && (
            <details className="curve">
              <summary>Strength search ({curve.length} points)</summary>
              <table className="table compact" data-testid="strength-curve">
                <thead><tr><th>Coefficient</th><th>Concept</th><th>Cost</th><th>Perplexity</th><th>Within budget</th></tr></thead>
                <tbody>
                  {curve.map((p) => (
                    <tr key={p.coefficient} className={p.coefficient === vector.auto?.coefficient ? 'highlight' : ''}>
                      <td>{formatNumber(p.coefficient)}</td><td>{formatNumber(p.concept, 3)}</td><td>{formatNumber(p.cost, 3)}</td><td>{formatNumber(p.perplexity, 4)}</td><td>{p.feasible ? 'yes' : 'no'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          )}
        </div>
      </div>

      <PreferenceCard vector={vector} onChanged={setVector} />

      <div className="card">
        <h2>Diagnostics</h2>
        {vector.diagnostics === undefined || vector.diagnostics.length === 0 ? (
          <p className="muted">No diagnostics: this vector was uploaded rather than extracted from examples.</p>
        ) : (
          <table className="table" data-testid="diagnostics-table">
            <thead>
              <tr><th>Layer</th><th>Accuracy</th><th>AUROC</th><th>Fisher</th><th>Relative norm</th><th>Held out</th></tr>
            </thead>
            <tbody>
              {vector.diagnostics.map((d) => (
                <tr key={d.layer} className={rec?.layers?.includes(d.layer) === true ? 'highlight' : ''}>
                  <td>{d.layer}</td><td>{formatNumber(d.accuracy, 3)}</td><td>{formatNumber(d.auroc, 3)}</td><td>{formatNumber(d.fisher, 3)}</td><td>{formatNumber(d.relativeNorm, 3)}</td><td>{typeof d.heldOut === 'number' ? formatNumber(d.heldOut, 3) : String(d.heldOut)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>

      <VectorExplanationCard name={vector.name} />

      {(vector.plots.diagnostics || vector.plots.strength) && (
        <div className="cards">
          {vector.plots.diagnostics && (
            <div className="card"><h2>Separation per layer</h2><AuthImage path={api.plotUrl(vector.name, 'diagnostics')} alt="diagnostics plot" testId="plot-diagnostics" /></div>
          )}
          {vector.plots.strength && (
            <div className="card"><h2>Strength curve</h2><AuthImage path={api.plotUrl(vector.name, 'strength')} alt="strength plot" testId="plot-strength" /></div>
          )}
        </div>
      )}
    </div>
  );
}

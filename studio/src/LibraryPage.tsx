import { useEffect, useMemo, useState } from 'react';
import { api, type LibraryChoice, type VectorInfo } from './api';
import { DownloadLink } from './DownloadLink';
import { formatNumber } from './format';
import { href } from './useHashRoute';

/**
 * The vector gallery: the caller's own vectors and the shared ones (marked), searched by name,
 * by concept (the one-click concept or the description), and ranked by likeness to a chosen
 * vector (mean cosine of the directions at the layers both have, from /v1/vectors/:name/similar),
 * each with its file and its bundle to download.
 */

/** One gallery entry's identity: a user's own vector and a shared one may share a name. */
const keyOf = (v: VectorInfo): string => `${v.owner ?? ''}/${v.name}`;
const libraryOf = (v: VectorInfo): LibraryChoice | undefined => (v.owner === undefined ? undefined : v.owner === null ? 'shared' : 'own');

function matches(text: string | undefined, query: string): boolean {
  const q = query.trim().toLowerCase();
  return q === '' || (text ?? '').toLowerCase().includes(q);
}

export function LibraryPage() {
  const [vectors, setVectors] = useState<VectorInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [concept, setConcept] = useState('');
  const [like, setLike] = useState('');
  // Mean cosine to the chosen vector by name (the names a spec can reach are unique).
  const [cosines, setCosines] = useState<Map<string, number> | null>(null);

  useEffect(() => {
    let cancelled = false;
    api.vectors().then(
      (list) => !cancelled && setVectors(list),
      (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => {
    const chosen = vectors?.find((v) => keyOf(v) === like);
    setCosines(null);
    if (chosen === undefined) return;
    let cancelled = false;
    api.similarVectors(chosen.name, libraryOf(chosen)).then(
      (r) => !cancelled && setCosines(new Map([...r.similar, ...r.opposite].map((s) => [s.name, s.cosine]))),
      (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [like, vectors]);

  const rows = useMemo(() => {
    const found = (vectors ?? []).filter((v) => matches(v.name, name) && (matches(v.concept, concept) || matches(v.description, concept)));
    if (cosines === null) return found;
    // Most alike first; then those not comparable with it (another width, no common layer); the chosen vector last.
    const rank = (v: VectorInfo): [number, number] => {
      if (keyOf(v) === like) return [2, 0];
      const c = v.shadowed ? undefined : cosines.get(v.name);
      return c === undefined ? [1, 0] : [0, -c];
    };
    return [...found].sort((a, b) => {
      const [x, y] = [rank(a), rank(b)];
      return x[0] - y[0] || x[1] - y[1];
    });
  }, [vectors, name, concept, cosines, like]);

  const owned = (vectors ?? []).some((v) => v.owner !== null && v.owner !== undefined);
  return (
    <div className="page" data-testid="library-page">
      <div className="page-head">
        <h1>Vector library</h1>
        <span className="muted small">{vectors === null ? '' : `${rows.length} of ${vectors.length} vectors`}</span>
      </div>
      {error !== null && <div className="notice error">{error}</div>}
      <div className="card">
        <div className="library-search">
          <label>
            Name <input type="search" value={name} onChange={(e) => setName(e.target.value)} placeholder="happy" data-testid="library-search-name" />
          </label>
          <label>
            Concept <input type="search" value={concept} onChange={(e) => setConcept(e.target.value)} placeholder="joy" data-testid="library-search-concept" />
          </label>
          <label>
            Like
            <select value={like} onChange={(e) => setLike(e.target.value)} data-testid="library-like">
              <option value="">(no vector chosen)</option>
              {(vectors ?? []).map((v) => (
                <option key={keyOf(v)} value={keyOf(v)}>{v.name}{v.owner ? ` (${v.owner})` : ''}</option>
              ))}
            </select>
          </label>
        </div>
        {vectors === null ? (
          <p className="muted">{error === null ? 'Loading…' : ''}</p>
        ) : (
          <table className="table" data-testid="library-table">
            <thead>
              <tr><th>Vector</th><th>Library</th><th>Concept</th><th>Layers</th>{cosines !== null && <th>Cosine</th>}<th>Download</th></tr>
            </thead>
            <tbody>
              {rows.map((v) => {
                const library = libraryOf(v);
                const cosine = v.shadowed ? undefined : cosines?.get(v.name);
                return (
                  <tr key={keyOf(v)} data-testid="library-row" data-name={v.name} data-owner={v.owner ?? ''}>
                    <td>{v.shadowed ? v.name : <a href={href({ page: 'vector', name: v.name })}>{v.name}</a>}</td>
                    <td>
                      {v.owner ? <span className="badge own">yours</span> : <span className="badge">shared</span>}
                      {v.shadowed && <span className="muted small" title="a name means your own vector first"> (yours has its name)</span>}
                    </td>
                    <td className="clip" title={v.concept ?? v.description}>{v.concept ?? v.description ?? ''}</td>
                    <td>{v.layers.join(', ')}</td>
                    {cosines !== null && <td data-testid="library-cosine">{cosine === undefined ? '—' : formatNumber(cosine, 3)}</td>}
                    <td className="nowrap">
                      <DownloadLink path={api.vectorFileUrl(v.name, library)} filename={`${v.name}.safetensors`} testId={`download-file-${v.name}${v.shadowed ? '-shared' : ''}`}>file</DownloadLink>
                      {' · '}
                      <DownloadLink path={api.vectorBundleUrl(v.name, library)} filename={`${v.name}.vector.zip`} testId={`download-bundle-${v.name}${v.shadowed ? '-shared' : ''}`}>bundle</DownloadLink>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {!owned && vectors !== null && <p className="muted small">All vectors here are shared. With <code>steerer serve --users</code>, each user also has a library of their own.</p>}
      </div>
    </div>
  );
}

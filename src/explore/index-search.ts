/**
 * One query against an activation index, answered with contexts: each matching row's token,
 * document and position, and a window of the tokens around it with the match marked.
 */
import { InvalidInputError } from '../io/errors.js';
import { windowRows } from '../sae/feature-index-builder.js';
import type { ActivationIndex, IndexSearchOptions } from './activation-index.js';
import { higherIsNearer, type IndexMetric } from './exact-search.js';

/**
 * 'point': an activation (of a text at some position): centred like the rows in a centred
 * index. 'direction': a steering vector, an SAE decoder row, a probe weight: used as given.
 */
export type QueryKind = 'point' | 'direction';

export interface IndexContext {
  readonly tokens: readonly string[];
  /** Index of the matched token in `tokens`. */
  readonly focus: number;
}

export interface IndexHit {
  /** 1-based. */
  readonly rank: number;
  /** Row number in the index (= in its activation store). */
  readonly row: number;
  /** Cosine similarity or inner product (higher is nearer), or L2 / L1 distance (lower is nearer). */
  readonly score: number;
  readonly doc: number;
  readonly pos: number;
  readonly tokenId: number;
  readonly token: string;
  readonly context: IndexContext;
}

export interface SearchIndexOptions extends IndexSearchOptions {
  /** Default 'direction'. */
  readonly kind?: QueryKind;
  /** Tokens shown each side of the match: one number for both, default 12 left / 4 right. */
  readonly window?: number | { readonly left: number; readonly right: number };
}

export interface IndexSearchResult {
  readonly metric: IndexMetric;
  readonly farthest: boolean;
  readonly exact: boolean;
  readonly kind: QueryKind;
  readonly hits: readonly IndexHit[];
}

const MAX_WINDOW = 256;

function windowSide(v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX_WINDOW) throw new InvalidInputError(`window must be an integer in 0..${MAX_WINDOW}, got ${v}`);
  return v;
}

/** The tokens around row `row` of the index (same document), the row itself marked as focus. */
export function indexContext(index: ActivationIndex, row: number, left = 12, right = 4): IndexContext {
  const { doc, pos, token, tokenText } = index.rows;
  if (!Number.isInteger(row) || row < 0 || row >= index.size) throw new InvalidInputError(`row ${row} does not exist: the index has rows 0..${index.size - 1}`);
  const w = windowRows(doc, pos, row, windowSide(left), windowSide(right));
  return { tokens: w.map((r) => tokenText.get(token[r]) ?? ''), focus: w.indexOf(row) };
}

/**
 * The k rows nearest to `query` ([dim]) with their contexts, nearest first; with `farthest`,
 * the k farthest, farthest first (cosine / inner product: the rows nearest to −query).
 */
export async function searchIndex(index: ActivationIndex, query: Float32Array, k: number, opts: SearchIndexOptions = {}): Promise<IndexSearchResult> {
  if (query.length !== index.dim) throw new InvalidInputError(`the query has ${query.length} values but the index holds ${index.dim}-wide ${index.manifest.hook} rows`);
  const kind = opts.kind ?? 'direction';
  if (kind !== 'point' && kind !== 'direction') throw new InvalidInputError(`kind must be "point" or "direction", got ${String(kind)}`);
  const win = opts.window ?? { left: 12, right: 4 };
  const left = windowSide(typeof win === 'number' ? win : win.left);
  const right = windowSide(typeof win === 'number' ? win : win.right);
  const { mean } = index.rows;
  const q = kind === 'point' && index.manifest.centered ? query.map((v, j) => v - mean[j]) : query;
  const found = await index.searchVectors(q, k, opts);
  const hits: IndexHit[] = [];
  for (let j = 0; j < found.k; j++) {
    const row = found.rows[j];
    if (row < 0) continue;
    const tokenId = index.rows.token[row];
    hits.push({
      rank: hits.length + 1,
      row,
      score: found.scores[j],
      doc: index.rows.doc[row],
      pos: index.rows.pos[row],
      tokenId,
      token: index.rows.tokenText.get(tokenId) ?? '',
      context: indexContext(index, row, left, right),
    });
  }
  const farthest = opts.farthest ?? false;
  // L1 has no graph, and the farthest rows by distance are found by brute force (activation-index.ts).
  const exact = opts.exact === true || index.metric === 'l1' || (farthest && !higherIsNearer(index.metric));
  return { metric: index.metric, farthest, exact, kind, hits };
}

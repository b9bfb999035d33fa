/**
 * Index search results as text lines and as one self-contained HTML page (the feature cards'
 * style: monospace contexts, the matched token outlined).
 */
import type { IndexHit, IndexSearchResult } from './index-search.js';

/** One visible line: newlines and tabs drawn, so a context stays on its row. */
function visible(s: string): string {
  return s.replace(/\n/g, '⏎').replace(/\t/g, '⇥');
}

function scoreName(r: IndexSearchResult): string {
  return { cosine: 'cos', ip: 'ip', l2: 'L2', l1: 'L1' }[r.metric];
}

const num = (v: number): string => (Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4));

/** The context with the matched token in «guillemets». */
function contextText(hit: IndexHit): string {
  return visible(hit.context.tokens.map((t, i) => (i === hit.context.focus ? `«${t}»` : t)).join(''));
}

export function renderSearchText(r: IndexSearchResult, title?: string): string {
  const head = title ? [`${r.farthest ? 'farthest from' : 'nearest to'} ${title} (${r.metric}${r.exact ? ', exact' : ''})`] : [];
  const lines = r.hits.map((h) => `${String(h.rank).padStart(3)}  ${scoreName(r)} ${num(h.score).padStart(8)}  doc ${String(h.doc).padStart(6)}:${String(h.pos).padEnd(4)}  ${contextText(h)}`);
  return `${[...head, ...lines].join('\n')}\n`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function hitHtml(r: IndexSearchResult, h: IndexHit): string {
  const tokens = h.context.tokens
    .map((t, i) => `<span class="${i === h.context.focus ? 't focus' : 't'}" title="${esc(JSON.stringify(t))}">${esc(visible(t))}</span>`)
    .join('');
  const where = `doc ${h.doc}, position ${h.pos}, row ${h.row}`;
  return `<div class="ctx"><span class="rank">${h.rank}</span><span class="score" title="${esc(where)}">${esc(`${scoreName(r)} ${num(h.score)}`)}</span><span class="text">${tokens}</span></div>`;
}

const CSS = [
  'body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}',
  'section{border:1px solid #ddd;border-radius:6px;padding:0.5em 1em 1em;margin:1.5em 0}',
  '.meta{color:#555}',
  '.ctx{font:13px/1.9 ui-monospace,monospace;white-space:nowrap;overflow-x:auto}',
  '.rank{display:inline-block;width:2.5em;color:#999}.score{display:inline-block;width:7.5em;color:#777}',
  '.t{white-space:pre;border-radius:2px}.focus{outline:1px solid #a24d10;background:rgba(232,119,46,0.35);font-weight:600}',
].join('');

/** Sections of results (e.g. nearest and farthest) as one HTML page (inline CSS, no scripts). */
export function renderSearchHtml(title: string, sections: readonly { readonly heading: string; readonly result: IndexSearchResult }[]): string {
  const body = sections
    .map(({ heading, result }) => {
      const meta = `${result.metric}${result.exact ? ', exact' : ''}, ${result.kind} query, ${result.hits.length} rows`;
      return `<section><h2>${esc(heading)}</h2><p class="meta">${esc(meta)}</p>\n${result.hits.map((h) => hitHtml(result, h)).join('\n')}\n</section>`;
    })
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

/**
 * A vector's explanation (explore/explain-vector.ts) as HTML: a section for a report, and a
 * whole page for `vector info --explain --html`.
 */
import type { VectorExplanation } from '../explore/explain-vector.js';
import type { Passage } from '../explore/passages.js';
import type { TokenWeight } from '../sae/logit-lens.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Spaces, newlines and tabs drawn, so a token or context stays on its row. */
function visible(s: string): string {
  return s.replace(/\n/g, '⏎').replace(/\t/g, '⇥');
}

function tokens(list: readonly TokenWeight[], cls: string): string {
  return list.map((t) => `<span class="tok ${cls}" title="${esc(`#${t.id}: ${t.weight.toPrecision(4)}`)}">${esc(visible(t.token))}</span>`).join(' ');
}

function passage(p: Passage): string {
  const part = (from: number, to: number): string => esc(visible(p.tokens.slice(from, to).join('')));
  const text = `<span class="t">${part(0, p.start)}</span><span class="t focus">${part(p.start, p.end)}</span><span class="t">${part(p.end, p.tokens.length)}</span>`;
  return `<div class="ctx"><span class="score" title="${esc(`doc ${p.doc}, positions ${p.from}–${p.to}`)}">${p.score.toFixed(2)}</span>${text}</div>`;
}

/** The explanation's sections (no page around them), to embed in a report; `h` is their heading level. */
export function explanationSection(e: VectorExplanation, h = 2): string {
  const head = (text: string): string => `<h${h}>${text}</h${h}>`;
  const lens = e.logits
    .map((l) => `<tr><td>${l.layer ?? '—'}</td><td>${tokens(l.promoted, 'up')}</td><td>${tokens(l.suppressed, 'down')}</td></tr>`)
    .join('\n');
  const parts = [
    `${head('Tokens it promotes and suppresses')}
<p class="note">Each layer's direction read through the final norm and the unembedding (logit lens), skipping the layers after it: what the direction says to the output when added there.</p>
<table class="lens"><thead><tr><th>Layer</th><th>Promotes</th><th>Suppresses</th></tr></thead><tbody>
${lens}
</tbody></table>`,
  ];
  if (e.contexts) {
    const c = e.contexts;
    const what = c.span === 1 ? 'Tokens' : `Passages of ${c.span} tokens`;
    parts.push(`${head(`${what} reading highest along the direction`)}
<p class="note">${esc(`Mean projection of the centred ${c.hook} activations on the direction, over ${c.rows.toLocaleString('en-US')} rows of the activation index; the passage is outlined in its context.`)}</p>
${c.highest.map(passage).join('\n')}
${head(`${what} reading lowest`)}
${c.lowest.map(passage).join('\n')}`);
  } else {
    parts.push(`${head('Contexts')}<p class="note">${esc(`None: ${e.contextsSkipped ?? 'no index'}.`)}</p>`);
  }
  if (e.similar) {
    const row = (v: { name: string; cosine: number }): string => `<tr><td>${esc(v.name)}</td><td class="num">${v.cosine.toFixed(3)}</td></tr>`;
    const table = (list: readonly { name: string; cosine: number }[]): string =>
      list.length === 0 ? '<p class="note">None.</p>' : `<table><thead><tr><th>Vector</th><th>Mean cosine</th></tr></thead><tbody>${list.map(row).join('')}</tbody></table>`;
    parts.push(`${head('Vectors like this one')}${table(e.similar.similar)}${head('Vectors opposite to it')}${table(e.similar.opposite)}`);
    if (e.similar.skipped.length > 0) parts.push(`<p class="note">${esc(`Not comparable: ${e.similar.skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}.`)}</p>`);
  }
  return parts.join('\n');
}

export const EXPLANATION_CSS = [
  '.lens td{vertical-align:top;padding:0.3em 0.6em}',
  '.tok{display:inline-block;font:13px ui-monospace,monospace;white-space:pre;padding:0 0.3em;margin:0.1em 0;border-radius:3px}',
  '.tok.up{background:#dcefdc}.tok.down{background:#f6dcdc}',
  '.ctx{font:13px/1.9 ui-monospace,monospace;white-space:nowrap;overflow-x:auto}',
  '.ctx .score{display:inline-block;width:5em;color:#777}',
  '.t{white-space:pre}.focus{outline:1px solid #a24d10;background:rgba(232,119,46,0.35);font-weight:600}',
  '.note{color:#555}.num{text-align:right}',
].join('');

export function explanationHtml(title: string, e: VectorExplanation): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}${EXPLANATION_CSS}</style></head><body>
<h1>${esc(title)}</h1>
${explanationSection(e)}
</body></html>
`;
}

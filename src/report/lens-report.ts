import type { LogitLens } from '../explore/logit-lens.js';

/**
 * The logit lens of a text as an HTML heat-map table: a row per layer, a column per position,
 * each cell the top token with its probability (colour), its top-k list on hover, and a frame
 * where the top token is the text's actual next token.
 */

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Spaces and line breaks made visible, so " the" and "the" differ on screen. */
export function showToken(t: string): string {
  return t.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥');
}

/** White (p = 0) to a saturated blue (p = 1). */
function shade(p: number): string {
  const light = Math.round(97 - 55 * Math.max(0, Math.min(1, p)));
  return `hsl(215 80% ${light}%)`;
}

export function lensHtml(lens: LogitLens, title: string): string {
  const header = lens.positions.map((p) => `<th title="position ${p}">${p}<br><span class="tok">${esc(showToken(lens.tokens[p].token))}</span></th>`).join('');
  const rows = lens.rows.map((row) => {
    const cells = row.cells.map((top, j) => {
      const next = lens.tokens[lens.positions[j] + 1]?.id;
      const best = top[0];
      const hover = top.map((t) => `${showToken(t.token)}  ${(t.prob * 100).toFixed(1)} %`).join('\n');
      const hit = best.id === next ? ' class="next"' : '';
      const dark = best.prob > 0.55 ? ';color:#fff' : '';
      return `<td${hit} style="background:${shade(best.prob)}${dark}" title="${esc(hover)}"><span class="tok">${esc(showToken(best.token))}</span><br><small>${(best.prob * 100).toFixed(0)} %</small></td>`;
    });
    return `<tr><th title="${esc(row.hook)}">${esc(row.label)}</th>${cells.join('')}</tr>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:4px 6px;border:1px solid #ddd;text-align:center;font-size:13px;min-width:4em}
.tok{font-family:ui-monospace,monospace;white-space:pre}td.next{outline:2px solid #d33;outline-offset:-2px}</style></head>
<body><h1>${esc(title)}</h1>
<p>Each layer's residual stream (after the layer) put through the model's final norm and unembedding: the top token and its probability at each position. A red frame: the top token is the text's next token. Hover a cell for its top ${lens.rows[0]?.cells[0]?.length ?? 0}.</p>
<table><tr><th>layer \\ position</th>${header}</tr>
${rows.join('\n')}</table></body></html>`;
}

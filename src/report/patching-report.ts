import type { PatchingResult } from '../explore/patching.js';
import { heatmapSvg, type HeatmapCell } from '../util/plot.js';
import { showToken } from './lens-report.js';

/** Activation patching results as a heat map (layer × position, one panel per hook site) and an HTML page. */

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function metricLabel(r: PatchingResult): string {
  return r.foil ? `logit(${showToken(r.target.token)}) − logit(${showToken(r.foil.token)})` : `log p(${showToken(r.target.token)})`;
}

export function patchingSvg(r: PatchingResult): Promise<string> {
  // Columns name the clean token; a corrupt token that differs follows it after "/".
  const column = (p: number): string => {
    const [c, k] = [r.clean.tokens[p], r.corrupt.tokens[p]];
    return `${p} ${showToken(c)}${c === k ? '' : `/${showToken(k)}`}`;
  };
  const cells: HeatmapCell[] = r.sites.flatMap((s) =>
    r.layers.flatMap((layer, l) => r.positions.map((p, j) => ({ panel: s.site, x: column(p), y: `layer ${layer}`, value: s.effect[l][j] }))),
  );
  return heatmapSvg({
    title: `Activation patching: share of ${metricLabel(r)} restored`,
    xLabel: 'position',
    yLabel: 'layer',
    valueLabel: 'normalised effect',
    cells,
    diverging: true,
    domain: [-1, 1],
  });
}

export async function patchingHtml(r: PatchingResult): Promise<string> {
  const svg = await patchingSvg(r);
  const text = (tokens: readonly string[]): string => esc(tokens.map(showToken).join('|'));
  return `<!doctype html><html><head><meta charset="utf-8"><title>Activation patching</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}td,th{padding:4px 10px;text-align:left;border-bottom:1px solid #eee}code{white-space:pre-wrap}svg{max-width:100%}</style></head>
<body><h1>Activation patching</h1>
<table>
<tr><th>clean</th><td><code>${text(r.clean.tokens)}</code></td><td>${esc(metricLabel(r))} = ${r.clean.metric.toFixed(4)}</td></tr>
<tr><th>corrupt</th><td><code>${text(r.corrupt.tokens)}</code></td><td>${esc(metricLabel(r))} = ${r.corrupt.metric.toFixed(4)}</td></tr>
</table>
<p>Each cell: the corrupt run with that one activation taken from the clean run; normalised effect (patched − corrupt) / (clean − corrupt), 1 = the clean value restored.</p>
<div>${svg}</div></body></html>`;
}

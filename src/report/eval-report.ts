import type { EvalReport } from '../evals/report-types.js';
import type { CurvePoint } from '../steering/auto-record.js';
import { lineChartSvg, type Series } from '../util/plot.js';
import { EXPLANATION_CSS, explanationSection } from './explain-report.js';

export type { CapabilityRow, EvalReport } from '../evals/report-types.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(x: number | null | undefined, digits = 3): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** The curves and tables as one self-contained HTML page (inline SVG, no scripts, no fetches). */
export async function renderReportHtml(r: EvalReport): Promise<string> {
  const sections: string[] = [];
  const curve = [...r.curve].sort((a, b) => a.coefficient - b.coefficient);
  const title = `${r.concept ? `"${r.concept}"` : r.vector} steering on ${r.model}`;
  const budgetText = r.budget ? (r.budget.kind === 'perplexity' ? `perplexity ≤ ${(1 + r.budget.epsilon).toFixed(2)} × unsteered` : `mean KL ≤ ${r.budget.delta} nats/token`) : 'none';
  sections.push(
    `<h1>${esc(title)}</h1><p class="meta">layer ${r.layer} (${esc(r.site)}) · coefficient ${num(r.coefficient)} · concept score: ${esc(r.metric)} · coherence budget: ${esc(budgetText)} · ${esc(r.createdAt)}</p>`,
  );
  if (r.selection?.strength) {
    const s = r.selection.strength;
    sections.push(`<p>Strength (rule <b>${esc(s.rule)}</b>): ${s.curve.length} settings measured, chosen ${num(s.coefficient)}${s.reached ? '' : ' (the concept was not made clearly present within budget)'}.</p>`);
    sections.push(`<ul>${s.explanation.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`);
  }
  if (curve.length > 0) {
    const pts = (f: (p: CurvePoint) => number | null): [number, number][] => curve.flatMap((p) => (f(p) === null ? [] : [[p.coefficient, f(p)!] as [number, number]]));
    sections.push(await lineChartSvg({ title: 'Concept score by coefficient', xLabel: 'coefficient', yLabel: `concept score (${r.metric})`, series: [{ name: 'concept score', points: pts((p) => p.concept) }] }));
    const base = curve.find((p) => p.coefficient === 0);
    const coh: Series[] = [];
    if (base) coh.push({ name: 'perplexity / unsteered', points: pts((p) => p.perplexity / base.perplexity) });
    if (curve.some((p) => p.meanKl !== null)) coh.push({ name: 'mean KL (nats/token)', points: pts((p) => p.meanKl ?? (p.coefficient === 0 ? 0 : null)) });
    coh.push({ name: 'distinct-2', points: pts((p) => p.distinct2) });
    if (r.budget) {
      const xs = curve.map((p) => p.coefficient);
      const y = r.budget.kind === 'perplexity' ? 1 + r.budget.epsilon : r.budget.delta;
      coh.push({ name: 'budget', points: [[Math.min(...xs), y], [Math.max(...xs), y]] });
    }
    sections.push(await lineChartSvg({ title: 'Coherence by coefficient', xLabel: 'coefficient', yLabel: 'value', series: coh }));
    sections.push(table(['coefficient', 'concept', 'perplexity', 'mean KL', 'distinct-2', 'cost', 'within budget'], curve.map((p) => [num(p.coefficient), num(p.concept), num(p.perplexity, 2), num(p.meanKl), num(p.distinct2), num(p.cost), p.feasible ? 'yes' : 'no'])));
  }
  const diag = r.diagnostics ?? [];
  if (diag.length > 0) {
    sections.push('<h2>Layers</h2>');
    const series: Series[] = [
      { name: 'held-out AUROC', points: diag.filter((d) => d.auroc !== null).map((d) => [d.layer, d.auroc!] as const) },
      { name: 'held-out accuracy', points: diag.filter((d) => d.accuracy !== null).map((d) => [d.layer, d.accuracy!] as const) },
    ].filter((s) => s.points.length > 0);
    if (series.length > 0) sections.push(await lineChartSvg({ title: 'Separability by layer', xLabel: 'layer', yLabel: 'value', series, integerX: true }));
  }
  const ranking = r.selection?.layerRanking ?? [];
  if (ranking.length > 0) {
    sections.push(table(['rank', 'layer', 'AUROC', 'Fisher', 'coefficient tried', 'concept', 'cost', 'within budget'], ranking.map((l, i) => [String(i + 1), String(l.layer), num(l.auroc), num(l.fisher, 2), num(l.coefficient), num(l.concept), num(l.cost), l.feasible ? 'yes' : 'no'])));
  }
  if (r.capability && r.capability.length > 0) {
    sections.push('<h2>Capability retention</h2>');
    sections.push(table(['benchmark', 'metric', 'items', 'unsteered', 'steered', 'relative change'], r.capability.map((c) => [esc(c.name), esc(c.metric), String(c.n), num(c.base), num(c.steered), `${(100 * c.relativeChange).toFixed(1)} %`])));
  }
  if (r.judge) {
    const j = r.judge;
    sections.push(`<h2>Judge (${esc(j.model)})</h2>`);
    sections.push(table(['', 'concept', 'instruction', 'fluency', 'harmonic mean'], [
      ['unsteered', num(j.base.concept), num(j.base.instruction), num(j.base.fluency), num(j.base.score)],
      ['steered', num(j.steered.concept), num(j.steered.instruction), num(j.steered.fluency), num(j.steered.score)],
    ]));
    if (j.unparsed > 0) sections.push(`<p>${j.unparsed} ratings could not be parsed and count as 0.</p>`);
  }
  if (r.explanation) sections.push('<h2>What the vector means</h2>', explanationSection(r.explanation, 3));
  if (r.examples.length > 0) {
    sections.push('<h2>Examples</h2>');
    sections.push(table(['prompt', 'unsteered', `steered (×${num(r.coefficient, 2)})`], r.examples.map((e) => [esc(e.prompt), esc(e.base), esc(e.steered)])));
  }
  const css = 'body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}th{background:#f3f3f3}.meta{color:#555}svg{display:block;margin:1em 0}' + EXPLANATION_CSS;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${css}</style></head><body>${sections.join('\n')}</body></html>\n`;
}

import type { CurvePoint } from '../steering/auto-record.js';
import type { LayerDiagnostics } from '../steering/vector.js';
import { lineChartSvg, type Series } from '../util/plot.js';

/** Plots of one vector's metadata, shared by `steerer vector info --svg` and the server. */

/** Held-out accuracy, AUROC and relative norm by layer (series with no values are left out). */
export function diagnosticsSeries(diag: readonly LayerDiagnostics[]): Series[] {
  return [
    { name: 'held-out accuracy', points: diag.filter((d) => d.accuracy !== null).map((d) => [d.layer, d.accuracy!] as const) },
    { name: 'held-out AUROC', points: diag.filter((d) => d.auroc !== null).map((d) => [d.layer, d.auroc!] as const) },
    { name: '|v| / mean |x|', points: diag.filter((d) => d.relativeNorm !== null).map((d) => [d.layer, d.relativeNorm!] as const) },
  ].filter((s) => s.points.length > 0);
}

export function diagnosticsSvg(title: string, series: readonly Series[]): Promise<string> {
  return lineChartSvg({ title, xLabel: 'layer', yLabel: 'value', series, integerX: true });
}

/** The strength search's curve: concept score and coherence cost against the coefficient. */
export function strengthSvg(title: string, curve: readonly CurvePoint[]): Promise<string> {
  const sorted = [...curve].sort((a, b) => a.coefficient - b.coefficient);
  return lineChartSvg({
    title,
    xLabel: 'coefficient',
    yLabel: 'value',
    series: [
      { name: 'concept score', points: sorted.map((p) => [p.coefficient, p.concept] as const) },
      { name: 'coherence cost', points: sorted.map((p) => [p.coefficient, p.cost] as const) },
    ],
  });
}

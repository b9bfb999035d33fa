/**
 * The concept suite's chart: per concept, concept words per story for the unsteered, steered and
 * prompted stories (grouped bars with ±SE whiskers), and below it the perplexity ratios against
 * the unsteered stories with the 1.25 pass line. Rendered like src/util/plot.ts (Vega-Lite,
 * headless, no canvas); that module only exports line charts, hence this one.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface SuiteBar {
  readonly concept: string;
  readonly condition: string;
  readonly mean: number;
  readonly se: number;
}

export interface SuitePoint {
  readonly concept: string;
  readonly condition: string;
  readonly ratio: number;
}

export async function suiteSvg(title: string, bars: readonly SuiteBar[], ratios: readonly SuitePoint[], pplLimit: number): Promise<string> {
  const concepts = [...new Set(bars.map((b) => b.concept))];
  const order = ['unsteered', 'steered', 'prompted', 'away'];
  const conditions = [...new Set([...bars, ...ratios].map((b) => b.condition))].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  const color = { field: 'condition', type: 'nominal' as const, sort: conditions, scale: { domain: conditions }, title: null };
  const width = Math.max(320, concepts.length * 16 * conditions.length + 40);
  const x = { field: 'concept', type: 'nominal' as const, sort: concepts, title: null };
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    vconcat: [
      {
        width,
        height: 220,
        data: { values: bars.map((b) => ({ ...b, lo: Math.max(0, b.mean - b.se), hi: b.mean + b.se })) },
        encoding: { x, xOffset: { field: 'condition', sort: conditions }, color },
        layer: [
          { mark: 'bar', encoding: { y: { field: 'mean', type: 'quantitative', title: 'concept words per story (±SE)' } } },
          { mark: { type: 'rule', color: 'black' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
        ],
      },
      {
        width,
        height: 160,
        layer: [
          {
            data: { values: ratios.map((r) => ({ ...r })) },
            mark: { type: 'point', filled: true, size: 60 },
            encoding: {
              x,
              y: { field: 'ratio', type: 'quantitative', title: 'perplexity ratio vs unsteered', scale: { zero: false } },
              color,
            },
          },
          { data: { values: [{ limit: pplLimit }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'red' }, encoding: { y: { field: 'limit', type: 'quantitative' } } },
        ],
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

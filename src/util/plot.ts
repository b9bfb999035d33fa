import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Small charts as standalone SVG, rendered headlessly with Vega-Lite (no canvas, no browser),
 * for CLI reports and HTML pages.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
  /** Integer ticks only on x (layers, steps). */
  readonly integerX?: boolean;
}

export async function lineChartSvg(chart: LineChart): Promise<string> {
  const values = chart.series.flatMap((s) => s.points.map(([x, y]) => ({ series: s.name, x, y })));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    width: chart.width ?? 480,
    height: chart.height ?? 260,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: chart.xLabel, ...(chart.integerX ? { axis: { tickMinStep: 1, format: 'd' } } : {}) },
      y: { field: 'y', type: 'quantitative', title: chart.yLabel, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
  return renderSvg(spec);
}

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

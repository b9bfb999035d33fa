import type { TopLevelSpec } from 'vega-lite';

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

export interface HeatmapCell {
  readonly x: string;
  readonly y: string;
  /** null: no value (drawn empty). */
  readonly value: number | null;
  /** Panels side by side, one per distinct value, in first-seen order. */
  readonly panel?: string;
}

interface Heatmap {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly valueLabel: string;
  /** x and y categories keep the order they first appear in. */
  readonly cells: readonly HeatmapCell[];
  /** Colour domain (default: the values' range). */
  readonly domain?: readonly [number, number];
  /** Blue–white–red centred on 0 instead of a one-sided scale. */
  readonly diverging?: boolean;
  /** Pixels per cell (default 28). */
  readonly cellSize?: number;
}

/** A grid of coloured cells with the values written in, e.g. layer × position per hook site. */
export async function heatmapSvg(chart: Heatmap): Promise<string> {
  const step = chart.cellSize ?? 28;
  const domain = chart.domain ? { domain: [...chart.domain] } : {};
  const finite = chart.cells.map((c) => c.value).filter((v): v is number => v !== null && Number.isFinite(v));
  const span = chart.domain ? Math.max(...chart.domain.map(Math.abs)) : Math.max(0, ...finite.map(Math.abs));
  const values = chart.cells.map((c) => ({ ...c, panel: c.panel ?? '' }));
  const cells: Extract<TopLevelSpec, { layer: unknown }> = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    data: { values },
    width: { step },
    height: { step },
    encoding: {
      x: { field: 'x', type: 'ordinal', title: chart.xLabel, sort: null, axis: { labelAngle: -45 } },
      y: { field: 'y', type: 'ordinal', title: chart.yLabel, sort: null },
    },
    layer: [
      {
        mark: { type: 'rect' },
        encoding: {
          color: {
            field: 'value',
            type: 'quantitative',
            title: chart.valueLabel,
            scale: chart.diverging ? { scheme: 'redblue', reverse: true, domainMid: 0, ...domain } : { scheme: 'viridis', ...domain },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 8 },
        encoding: {
          text: { field: 'value', type: 'quantitative', format: '.2f' },
          // Light text on the saturated ends of a diverging scale.
          color: chart.diverging ? { condition: { test: `abs(datum.value) > ${0.6 * span}`, value: 'white' }, value: 'black' } : { value: 'black' },
        },
      },
    ],
  };
  if (!chart.cells.some((c) => c.panel !== undefined)) return renderSvg(cells);
  const { $schema, title, data: _data, ...panel } = cells;
  return renderSvg({ $schema, title, data: { values }, facet: { column: { field: 'panel', type: 'nominal', sort: [...new Set(values.map((c) => c.panel))], title: null } }, spec: panel });
}

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: vega costs every command that never plots ~0.4 s of start-up.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

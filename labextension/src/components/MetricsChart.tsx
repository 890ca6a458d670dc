/**
 * Metrics over time as uPlot line charts, one line per version; colours of text and grid
 * come from JupyterLab's theme variables, so light and dark themes both read well.
 */
import * as React from 'react';
import uPlot from 'uplot';

import { IMetricsPoint } from '../api';

export const SERIES_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
export type Field = 'rps' | 'error_rate' | 'p99_ms';

/** Aligned uPlot data: shared x (unix seconds), then one y array per version. */
export function chartData(points: IMetricsPoint[], field: Field): { versions: number[]; data: uPlot.AlignedData } {
  const versions = [...new Set(points.map(p => p.version))].sort((a, b) => a - b);
  const times = [...new Set(points.map(p => Date.parse(p.time) / 1000))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const ys = versions.map(() => times.map(() => null as number | null));
  for (const p of points) {
    ys[versions.indexOf(p.version)][index.get(Date.parse(p.time) / 1000)!] = p[field] ?? null;
  }
  return { versions, data: [times, ...ys] as uPlot.AlignedData };
}

/** The shortest time a chart spans (s): a burst of a second reads as a spike, not a whole chart. */
export const MIN_SPAN = 60;
// The least a y axis reaches, so a flat zero line sits at the bottom of a readable scale.
const Y_FLOOR: Record<Field, number> = { rps: 1, error_rate: 0.1, p99_ms: 10 };

export function xRange(min: number, max: number): uPlot.Range.MinMax {
  return max - min < MIN_SPAN ? [max - MIN_SPAN, max] : [min, max];
}

export function yRange(field: Field, max: number | null): uPlot.Range.MinMax {
  return [0, Math.max((max ?? 0) * 1.1, Y_FLOOR[field])];
}

/** The versions that answered at least one request in these points. */
export function answered(points: IMetricsPoint[]): number[] {
  return [...new Set(points.filter(p => (p.requests ?? 0) > 0).map(p => p.version))].sort((a, b) => a - b);
}

function themeColor(element: HTMLElement, name: string, fallback: string): string {
  return getComputedStyle(element).getPropertyValue(name).trim() || fallback;
}

/**
 * The theme's name, following changes: JupyterLab sets it on <body> once the new theme's CSS
 * is in, so the charts redraw in its colours (a canvas does not follow CSS variables by itself).
 */
export function useThemeName(): string {
  const read = () => document.body.dataset.jpThemeName ?? '';
  const [theme, setTheme] = React.useState(read);
  React.useEffect(() => {
    const observer = new MutationObserver(() => setTheme(read()));
    observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light'] });
    return () => observer.disconnect();
  }, []);
  return theme;
}

export interface IMetricsChartProps {
  title: string;
  field: Field;
  points: IMetricsPoint[];
  /** A limit drawn as a dashed line (e.g. a rollout's guard), in the field's unit. */
  limit?: number;
  /** In CSS pixels (300 unless a narrower place asks). */
  width?: number;
}

/** A tick's time of day on one line, "17:58:30" (uPlot's second row of dates overlapped). */
function clock(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function MetricsChart(props: IMetricsChartProps): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const theme = useThemeName();
  const [drawnIn, setDrawnIn] = React.useState('');
  const { versions, data } = React.useMemo(() => chartData(props.points, props.field), [props.points, props.field]);
  const measured = props.points.filter(p => p[props.field] !== null && p[props.field] !== undefined).length;
  const requests = props.points.reduce((sum, p) => sum + (p.requests ?? 0), 0);
  const { limit } = props;
  React.useEffect(() => {
    const element = ref.current;
    if (!element || !data[0].length) {
      return;
    }
    const text = themeColor(element, '--jp-ui-font-color1', '#333');
    const grid = themeColor(element, '--jp-border-color2', '#ddd');
    const warn = themeColor(element, '--jp-error-color1', '#d32f2f');
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const percent = props.field === 'error_rate';
    const field = props.field;
    const lines: uPlot.Series[] = versions.map((v, i) => ({
      label: `v${v}`, stroke: SERIES_COLORS[i % SERIES_COLORS.length], width: 1.5, spanGaps: true
    }));
    // The limit is a dashed line across the whole plot, drawn after the series.
    const drawLimit = (u: uPlot) => {
      if (limit === undefined) {
        return;
      }
      const y = u.valToPos(limit, 'y', true);
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = warn;
      ctx.lineWidth = devicePixelRatio;
      ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    };
    const chart = new uPlot(
      {
        width: props.width ?? 300,
        height: 150,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: true, range: (_u, min, max) => xRange(min, max) },
          y: { range: (_u, _min, max) => yRange(field, Math.max(max ?? 0, limit ?? 0)) }
        },
        axes: [
          { ...axis, space: 70, values: (_u, splits) => splits.map(clock) },
          {
            ...axis,
            size: 48,
            values: (_u, splits) => splits.map(v => (percent ? `${+(v * 100).toFixed(1)}%` : `${+v.toFixed(2)}`))
          }
        ],
        series: [{}, ...lines],
        hooks: { draw: [drawLimit] }
      },
      data,
      element
    );
    setDrawnIn(text);
    return () => chart.destroy();
  }, [versions, data, limit, theme, props.field, props.width]);
  return (
    <figure className="jp-MerlinChart">
      <figcaption>
        {props.title}{' '}
        {versions.map((v, i) => (
          <span key={v} style={{ color: SERIES_COLORS[i % SERIES_COLORS.length] }}>v{v} </span>
        ))}
        {limit !== undefined && <span className="jp-MerlinChart-limit">limit</span>}
      </figcaption>
      <div ref={ref} role="img" aria-label={`${props.title} chart`} data-points={measured} data-requests={requests}
        data-versions={versions.join(',')} data-answered={answered(props.points).join(',')} data-text-color={drawnIn} />
      {!data[0].length && <div className="jp-MerlinField-hint">No requests measured yet.</div>}
    </figure>
  );
}

/** Requests/s, error rate and p99 side by side, one line per version. */
export function MetricsCharts(props: {
  points: IMetricsPoint[];
  label: string;
  limits?: Partial<Record<Field, number>>;
  width?: number;
}): JSX.Element {
  const { limits = {}, points, width } = props;
  return (
    <section aria-label={props.label} className="jp-MerlinCharts">
      <h3>{props.label}</h3>
      <div className="jp-MerlinCharts-row">
        <MetricsChart title="requests/s" field="rps" points={points} limit={limits.rps} width={width} />
        <MetricsChart title="error rate" field="error_rate" points={points} limit={limits.error_rate} width={width} />
        <MetricsChart title="p99 latency (ms)" field="p99_ms" points={points} limit={limits.p99_ms} width={width} />
      </div>
    </section>
  );
}

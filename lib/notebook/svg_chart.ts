/**
 * A static SVG drawing of a simple plotly figure (line and marker traces),
 * used as the fallback picture of a chart where plotly.js cannot run: an
 * untrusted notebook in JupyterLab, a viewer that strips scripts, a frontend
 * that only shows images.
 *
 * @example
 * ```ts
 * import { svgChart } from "./svg_chart.ts";
 * const svg = svgChart({ data: [{ x: [1, 2, 3], y: [0.5, 0.7, 0.8], mode: "lines", name: "acc" }] });
 * svg?.startsWith("<svg"); // true
 * ```
 * @module
 */

/** Text of a title: plain, or plotly's `{text}` object. */
export type TitleText = string | { text?: string; [key: string]: unknown };

/** One plotly trace: `type` (default `"scatter"`), `x`, `y`, `mode` (`"lines"`, `"markers"`, both), `name`, … */
export interface Trace {
  type?: string;
  x?: (number | string | null)[];
  y?: (number | string | null)[];
  mode?: string;
  name?: string;
  marker?: { color?: string; size?: number; [key: string]: unknown };
  line?: { color?: string; width?: number; dash?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** One plotly axis: its title, a fixed `[min, max]` range, any other plotly axis attribute. */
export interface Axis {
  title?: TitleText;
  range?: [number, number];
  [key: string]: unknown;
}

/** Plotly layout: the title, the axes, width (default at most 720 px) and height (default 400 px), … */
export interface Layout {
  title?: TitleText;
  xaxis?: Axis;
  yaxis?: Axis;
  width?: number;
  height?: number;
  [key: string]: unknown;
}

/** A plotly figure: what `Plotly.newPlot(div, data, layout, config)` takes. */
export interface Figure {
  data: Trace[];
  layout?: Layout;
  config?: Record<string, unknown>;
}

/** Plotly's default colour sequence, for traces that name no colour. */
const PLOTLY_COLORS = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf".split(" ");

/**
 * The text of a title given as a string or as plotly's `{text}`.
 */
export function titleText(title: TitleText | undefined): string {
  if (title === undefined) return "";
  return typeof title === "string" ? title : title.text ?? "";
}

/**
 * Escape text for SVG/HTML element content and attribute values.
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/**
 * Round tick values inside `[min, max]`, about `count` of them, on the step
 * of 1, 2 or 5 times a power of ten nearest to `(max - min) / count`.
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const ratio = (s: number) => Math.abs(Math.log(s / raw));
  const step = [1, 2, 5, 10].map((m) => m * power).reduce((best, s) => ratio(s) < ratio(best) ? s : best);
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function tickLabel(v: number): string {
  return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : String(Number(v.toPrecision(6)));
}

/** The traces {@link svgChart} can draw: scatter traces of numbers, at most this many points in all. */
const SVG_CHART_MAX_POINTS = 5000;

interface Series {
  name: string;
  color: string;
  lines: boolean;
  markers: boolean;
  dash: boolean;
  points: [number, number][];
}

function seriesOf(fig: Figure): Series[] | undefined {
  const series: Series[] = [];
  let total = 0;
  for (const [i, trace] of fig.data.entries()) {
    if ((trace.type ?? "scatter") !== "scatter" || !Array.isArray(trace.y)) return undefined;
    const ys = trace.y;
    const xs = Array.isArray(trace.x) ? trace.x : ys.map((_, j) => j);
    const points: [number, number][] = [];
    for (let j = 0; j < Math.min(xs.length, ys.length); j++) {
      const x = xs[j], y = ys[j];
      if (typeof x !== "number" || typeof y !== "number") {
        if (x !== null && y !== null && typeof x !== "number") return undefined; // category axes: not drawn here
        continue;
      }
      if (Number.isFinite(x) && Number.isFinite(y)) points.push([x, y]);
    }
    total += points.length;
    if (total > SVG_CHART_MAX_POINTS) return undefined;
    const mode = trace.mode ?? (ys.length <= 20 ? "lines+markers" : "lines");
    const color = trace.line?.color ?? trace.marker?.color ?? PLOTLY_COLORS[i % PLOTLY_COLORS.length];
    series.push({
      name: trace.name ?? `trace ${i}`,
      color: typeof color === "string" ? color : PLOTLY_COLORS[i % PLOTLY_COLORS.length],
      lines: mode.includes("lines"),
      markers: mode.includes("markers"),
      dash: (trace.line?.dash ?? "solid") !== "solid",
      points,
    });
  }
  return series;
}

function extent(values: number[], range?: [number, number]): [number, number] {
  if (range) return range;
  if (values.length === 0) return [0, 1];
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/**
 * Draw a figure of scatter traces (lines, markers or both) as an SVG
 * document: title, axes with round ticks, axis titles, legend. Returns
 * `undefined` for what it does not draw (other trace types, category axes,
 * more than `SVG_CHART_MAX_POINTS` points), so callers skip the
 * fallback rather than show a wrong picture.
 *
 * @param options.width width in pixels (default: the layout's, else 720).
 * @param options.height height in pixels (default: the layout's, else 400).
 */
export function svgChart(fig: Figure, options: { width?: number; height?: number } = {}): string | undefined {
  const series = seriesOf(fig);
  if (!series || series.length === 0) return undefined;
  const layout = fig.layout ?? {};
  const width = options.width ?? layout.width ?? 720, height = options.height ?? layout.height ?? 400;
  const title = titleText(layout.title);
  const legend = series.length > 1 || fig.data[0]?.name !== undefined;
  const legendWidth = legend ? Math.min(220, 40 + 7 * Math.max(...series.map((s) => s.name.length))) : 0;
  const m = { left: 64, right: 16 + legendWidth, top: title ? 48 : 20, bottom: 52 };
  const pw = width - m.left - m.right, ph = height - m.top - m.bottom;
  const all = series.flatMap((s) => s.points);
  const [x0, x1] = extent(all.map((p) => p[0]), layout.xaxis?.range);
  const [y0, y1] = extent(all.map((p) => p[1]), layout.yaxis?.range);
  const sx = (x: number) => f(m.left + ((x - x0) / (x1 - x0)) * pw);
  const sy = (y: number) => f(m.top + ph - ((y - y0) / (y1 - y0)) * ph);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="'Open Sans', 'Noto Sans', 'Noto Sans CJK JP', Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="#e5ecf6"/>`,
  ];
  const dtick = layout.xaxis?.dtick;
  const xTicks = typeof dtick === "number" && dtick > 0 && (x1 - x0) / dtick <= 50
    ? Array.from(
      { length: Math.floor(x1 / dtick) - Math.ceil(x0 / dtick) + 1 },
      (_, i) => (Math.ceil(x0 / dtick) + i) * dtick,
    )
    : niceTicks(x0, x1, Math.max(2, Math.round(pw / 90)));
  for (const t of xTicks) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.top}" y2="${m.top + ph}" stroke="#fff"/>`);
    parts.push(text(sx(t), String(m.top + ph + 16), tickLabel(t), 'text-anchor="middle" fill="#444"'));
  }
  for (const t of niceTicks(y0, y1, Math.max(2, Math.round(ph / 60)))) {
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#fff"/>`);
    parts.push(text(String(m.left - 6), f(Number(sy(t)) + 4), tickLabel(t), 'text-anchor="end" fill="#444"'));
  }
  const clip = `clip${Math.random().toString(36).slice(2, 10)}`;
  parts.push(`<clipPath id="${clip}"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`);
  parts.push(`<g clip-path="url(#${clip})">`, ...series.flatMap((s) => drawSeries(s, sx, sy)), `</g>`);
  if (title) parts.push(text(String(m.left), "28", title, 'font-size="17" fill="#2a3f5f"'));
  const xTitle = titleText(layout.xaxis?.title), yTitle = titleText(layout.yaxis?.title), cy = f(m.top + ph / 2);
  if (xTitle) parts.push(text(f(m.left + pw / 2), String(height - 12), xTitle, 'text-anchor="middle" fill="#2a3f5f"'));
  if (yTitle) {
    parts.push(text("16", cy, yTitle, `transform="rotate(-90 16 ${cy})" text-anchor="middle" fill="#2a3f5f"`));
  }
  if (legend) parts.push(...series.flatMap((s, i) => drawLegendEntry(s, width - legendWidth + 4, m.top + 10 + i * 20)));
  return parts.join("") + "</svg>";
}

const f = (v: number) => v.toFixed(1);

function text(x: string, y: string, content: string, attributes: string): string {
  return `<text x="${x}" y="${y}" ${attributes}>${escapeXml(content)}</text>`;
}

function drawSeries(s: Series, sx: (x: number) => string, sy: (y: number) => string): string[] {
  const color = escapeXml(s.color), parts: string[] = [];
  if (s.lines && s.points.length > 1) {
    const d = s.points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" ");
    parts.push(
      `<polyline points="${d}" fill="none" stroke="${color}" stroke-width="2"` +
        `${s.dash ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
  }
  if (s.markers) {
    for (const p of s.points) parts.push(`<circle cx="${sx(p[0])}" cy="${sy(p[1])}" r="3.5" fill="${color}"/>`);
  }
  return parts;
}

function drawLegendEntry(s: Series, x: number, y: number): string[] {
  const color = escapeXml(s.color);
  return [
    s.lines ? `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"/>` : "",
    s.markers ? `<circle cx="${x + 12}" cy="${y}" r="3.5" fill="${color}"/>` : "",
    text(String(x + 30), String(y + 4), s.name, 'fill="#2a3f5f"'),
  ];
}

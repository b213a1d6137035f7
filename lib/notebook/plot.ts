/**
 * Plotly figures in a notebook. A figure is one Jupyter output holding:
 *
 * - `application/vnd.plotly.v1+json`: the figure, for frontends with a native
 *   plotly renderer (VS Code; JupyterLab with plotly's extension);
 * - `text/html`: a `<div>` and a script that draws it with `window.Plotly`
 *   (classic Notebook, JupyterLab, `nbconvert --to html`). The first figure
 *   of a kernel session also carries plotly.js (its basic build, from
 *   `node_modules`, never a CDN), run with AMD's `define` hidden so that
 *   require.js pages still get `window.Plotly`. Until plotly draws, the div
 *   shows a static SVG picture of the chart and {@link TRUST_NOTE}, which is
 *   what an untrusted notebook keeps;
 * - `image/svg+xml` and `text/plain`: the static picture and a one-line summary.
 *
 * "Once" is per kernel process: re-running the cell whose output carried
 * plotly.js loses it from the saved notebook; run the notebook from the top.
 *
 * @example
 * ```ts
 * import { plot } from "./plot.ts";
 * await plot([{ x: [1, 2, 3], y: [2, 4, 8], mode: "lines+markers", name: "y" }], { title: "Growth" });
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import { display, inJupyter, type MimeBundle } from "./display.ts";
import { escapeXml, type Figure, type Layout, svgChart, titleText, type Trace } from "./svg_chart.ts";

export type { Axis, Figure, Layout, TitleText, Trace } from "./svg_chart.ts";

/** The DOM event the plotly.js loader fires on `window` once `window.Plotly` is set. */
export const PLOTLY_READY_EVENT = "ch5-plotly-ready";

/** The attribute that marks the `<script>` carrying plotly.js. */
export const PLOTLY_LOADER_ATTRIBUTE = "data-ch5-plotly-loader";

/** CSS class of every figure's container in the HTML (the browser tests count them). */
export const PLOT_CLASS = "ch5-plot";

/** The line under a figure's static picture, which shows where plotly.js does not run (an untrusted notebook). */
export const TRUST_NOTE = "interactive chart: trust the notebook (File → Trust Notebook)";

let source: string | undefined;

/**
 * The JavaScript of plotly.js' basic build (scatter, bar, pie), read from `node_modules`.
 *
 * @throws {Error} when the package is not installed: run `deno install` in the workbook.
 */
export function plotlySource(): string {
  const file = "plotly.js-basic-dist-min/plotly-basic.min.js";
  const url = new URL(`../../node_modules/${file}`, import.meta.url);
  try {
    return source ??= Deno.readTextFileSync(new URL(import.meta.resolve(file)));
  } catch {
    try {
      return source ??= Deno.readTextFileSync(url);
    } catch (error) {
      throw new Error(
        `Cannot read plotly.js (${file}, ${url.pathname}: ${(error as Error).message}). Run \`deno install\` ` +
          `in the workbook (deno.json maps it and sets "nodeModulesDir": "auto").`,
      );
    }
  }
}

/** JSON or JavaScript made safe inside an HTML `<script>` element. */
function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--").replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * HTML that loads plotly.js into `window.Plotly` (once a page), even where
 * require.js is (AMD `define` is hidden while it runs), then fires
 * {@link PLOTLY_READY_EVENT}.
 */
export function plotlyLoaderHtml(js: string = plotlySource()): string {
  return `<script type="text/javascript" ${PLOTLY_LOADER_ATTRIBUTE}="basic">(function () {
var w = window;
if (w.Plotly) return;
var amd = w.define;
w.define = undefined;
try {
${scriptSafe(js)}
} finally {
  w.define = amd;
}
w.dispatchEvent(new Event(${JSON.stringify(PLOTLY_READY_EVENT)}));
})();</script>`;
}

/**
 * The `text/html` of a figure: an optional loader, a container holding the
 * static picture and {@link TRUST_NOTE}, and a script that draws the figure
 * with `window.Plotly` as soon as it exists.
 */
export function figureHtml(fig: Figure, options: { id?: string; loader?: string } = {}): string {
  const id = options.id ?? `ch5-plot-${crypto.randomUUID()}`;
  const svg = svgChart(fig);
  const fallback = svg
    ? `<img class="${PLOT_CLASS}-fallback" alt="${escapeXml(titleText(fig.layout?.title) || "plot")}" ` +
      `style="max-width: 100%; height: auto;" src="data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}">` +
      `<div class="${PLOT_CLASS}-note" style="font-size: 12px; color: #777;">${TRUST_NOTE}</div>`
    : "";
  const style = `width: 100%; max-width: ${fig.layout?.width ?? 720}px; min-height: ${fig.layout?.height ?? 400}px;`;
  return `${options.loader ?? ""}<div id="${escapeXml(id)}" class="${PLOT_CLASS}" style="${style}">${fallback}</div>` +
    `<script type="text/javascript">(function () {
var id = ${scriptSafe(JSON.stringify(id))}, fig = ${scriptSafe(JSON.stringify(fig))}, drawn = false, tries = 0;
function note(text) {
  var el = document.getElementById(id);
  if (!el || el.querySelector(".${PLOT_CLASS}-late")) return;
  var p = document.createElement("div");
  p.className = "${PLOT_CLASS}-note ${PLOT_CLASS}-late";
  p.style.cssText = "font-size: 12px; color: #777;";
  p.textContent = text;
  el.appendChild(p);
}
function draw() {
  if (drawn || !window.Plotly) return;
  var el = document.getElementById(id);
  if (!el) { if (tries++ < 200) setTimeout(draw, 50); return; }
  drawn = true;
  var old = Array.prototype.slice.call(el.childNodes);
  old.forEach(function (n) { el.removeChild(n); });
  window.Plotly.newPlot(el, fig.data, fig.layout || {}, fig.config || {}).catch(function (e) {
    old.forEach(function (n) { el.appendChild(n); });
    note("plotly.js could not draw this figure: " + e);
  });
}
if (window.Plotly) { setTimeout(draw, 0); return; }
window.addEventListener(${JSON.stringify(PLOTLY_READY_EVENT)}, draw);
setTimeout(function () {
  if (!drawn) note("Static picture: plotly.js is not loaded on this page. Run the notebook from the top to make it interactive.");
}, 5000);
})();</script>`;
}

/**
 * A one-line text summary of a figure: its title and each trace's last value.
 */
export function figureText(fig: Figure): string {
  const traces = fig.data.map((t, i) => {
    const ys = Array.isArray(t.y) ? t.y : [];
    const last = ys.at(-1);
    const value = typeof last === "number" && !Number.isInteger(last) ? last.toPrecision(4) : String(last);
    return ys.length ? `${t.name ?? `trace ${i}`} ${value} (last of ${ys.length})` : t.name ?? `trace ${i}`;
  });
  return `${titleText(fig.layout?.title) || "Figure"}: ${traces.join(", ")}`;
}

/**
 * A layout as displayed: every title written as `{text}` (plotly.js 3
 * ignores plotly 2's string shorthand), the figure's title above the plot
 * from its left edge, under plotly's modebar (top right).
 */
export function normalizeLayout(layout: Layout | undefined): Layout {
  const out: Layout = { ...layout };
  const fix = (title: unknown) => typeof title === "string" ? { text: title } : title as object;
  for (const [key, value] of Object.entries(out)) {
    if (/^[xyz]axis\d*$/.test(key) && value && typeof value === "object" && "title" in value) {
      out[key] = { ...value, title: fix((value as { title: unknown }).title) };
    }
  }
  if (out.title === undefined) return out;
  out.title = { x: 0, xref: "paper", xanchor: "left", y: 1, yref: "paper", yanchor: "bottom", ...fix(out.title) };
  out.margin = { ...out.margin as object, t: Math.max(80, (out.margin as { t?: number } | undefined)?.t ?? 0) };
  return out;
}

/**
 * What a kernel session has sent to the notebook, so that plotly.js travels
 * with its first figure only. The module keeps one for the kernel process
 * (`plotlySession`); tests make their own.
 */
export class PlotlySession {
  /** Whether plotly.js went out already. */
  sent = false;

  /** @param source reads plotly.js (default {@link plotlySource}). */
  constructor(readonly source: () => string = plotlySource) {}

  /** The MIME bundle of a figure; the session's first carries plotly.js. */
  figureBundle(fig: Figure): MimeBundle {
    const config = { responsive: true, displaylogo: false, ...fig.config };
    const figure: Figure = { ...fig, layout: normalizeLayout(fig.layout), config };
    const loader = this.sent ? "" : plotlyLoaderHtml(this.source());
    this.sent = true;
    const svg = svgChart(figure);
    return {
      "application/vnd.plotly.v1+json": figure,
      "text/html": figureHtml(figure, { loader }),
      "text/plain": figureText(figure),
      ...(svg ? { "image/svg+xml": svg } : {}),
    };
  }

  /** A bundle that only loads plotly.js (always, even if sent before). */
  loaderBundle(): MimeBundle {
    this.sent = true;
    return { "text/html": plotlyLoaderHtml(this.source()), "text/plain": "plotly.js loaded" };
  }
}

/** The kernel process's session: what {@link showFigure} and {@link plot} use. */
export const plotlySession: PlotlySession = new PlotlySession();

/**
 * Display a plotly figure (see the module doc). Outside Jupyter it prints the figure's one-line summary.
 */
export async function showFigure(fig: Figure): Promise<void> {
  if (inJupyter()) await display(plotlySession.figureBundle(fig));
  else console.log(figureText(fig));
}

/**
 * Plot traces, like `Plotly.newPlot(div, traces, layout)`.
 *
 * @example
 * ```ts
 * import { plot } from "./plot.ts";
 * await plot([{ x: [1, 2, 3], y: [0.2, 0.5, 0.4], mode: "lines", name: "val_acc" }], { title: "Validation" });
 * ```
 */
export function plot(traces: Trace[], layout: Layout = {}): Promise<void> {
  return showFigure({ data: traces, layout });
}

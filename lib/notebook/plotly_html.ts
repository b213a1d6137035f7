/**
 * How a plotly figure is written into a notebook output: the plotly.js
 * loader (read from `node_modules`, run with AMD's `define` hidden so that
 * require.js pages still get `window.Plotly`), the figure's HTML (a container
 * with a static SVG picture, and a script that draws it once plotly.js is
 * there), and its one-line text. Pure functions; `plot.ts` sends them.
 *
 * @example
 * ```ts
 * import { figureHtml, figureText } from "./plotly_html.ts";
 * const fig = { data: [{ name: "loss", y: [0.9, 0.4] }], layout: { title: "Loss" } };
 * figureHtml(fig, { id: "fig1" }).includes('id="fig1"'); // true
 * figureText(fig); // "Loss: loss 0.4000 (last of 2)"
 * ```
 * @module
 */
import { escapeXml, type Figure, type Layout, svgChart, titleText } from "./svg_chart.ts";

/** Which plotly.js build a figure needs: `basic` (scatter, bar, pie; 1 MB) or `full` (every trace type). */
export type PlotlyBuild = "basic" | "full";

/** Trace types drawn by plotly's basic build; anything else makes a figure need the full build. */
export const BASIC_TRACE_TYPES: ReadonlySet<string> = new Set(["scatter", "bar", "pie"]);

/**
 * The build a figure needs.
 *
 * @example
 * ```ts
 * import { buildFor } from "./plotly_html.ts";
 * buildFor({ data: [{ type: "heatmap", z: [[1]] }] }); // "full"
 * ```
 */
export function buildFor(fig: Figure): PlotlyBuild {
  return fig.data.every((t) => BASIC_TRACE_TYPES.has(t.type ?? "scatter")) ? "basic" : "full";
}

/** Where each build's bundle lives: an import-map package and the file in it. */
const PLOTLY_BUNDLES: Readonly<Record<PlotlyBuild, string>> = {
  basic: "plotly.js-basic-dist-min/plotly-basic.min.js",
  full: "plotly.js-dist/plotly.js",
};

/** The DOM event the plotly.js loader fires on `window` once `window.Plotly` is set. */
export const PLOTLY_READY_EVENT = "ch5-plotly-ready";

/** The attribute that marks the `<script>` carrying plotly.js (its value is the build). */
export const PLOTLY_LOADER_ATTRIBUTE = "data-ch5-plotly-loader";

/** The line under a figure's static picture, which shows where plotly.js does not run (an untrusted notebook). */
export const TRUST_NOTE = "interactive chart: trust the notebook (File → Trust Notebook)";

/** CSS class of every figure's container in the HTML (the browser test counts them). */
export const PLOT_CLASS = "ch5-plot";

const sources = new Map<PlotlyBuild, string>();

/**
 * The JavaScript source of a plotly.js build, read from `node_modules`.
 *
 * @example
 * ```ts
 * import { plotlySource } from "./plotly_html.ts";
 * plotlySource("basic").length; // about 1.1 million characters
 * ```
 *
 * @throws {Error} when the package is not installed: run `deno install` in the workbook.
 */
export function plotlySource(build: PlotlyBuild = "basic"): string {
  const cached = sources.get(build);
  if (cached !== undefined) return cached;
  const specifier = PLOTLY_BUNDLES[build];
  // Through the import map (installs the package on first use), else the workbook's node_modules as files.
  const candidates: string[] = [];
  try {
    candidates.push(import.meta.resolve(specifier));
  } catch {
    // not mapped from here (a script outside the workbook): try the files
  }
  candidates.push(new URL(`../../node_modules/${specifier}`, import.meta.url).href);
  let text: string | undefined;
  const tried: string[] = [];
  for (const url of candidates.filter((u) => u.startsWith("file:"))) {
    try {
      text = Deno.readTextFileSync(new URL(url));
      break;
    } catch (error) {
      tried.push(`${url} (${error instanceof Error ? error.message : error})`);
    }
  }
  if (text === undefined) {
    throw new Error(
      `Cannot find plotly.js (${specifier}); tried ${tried.join(", ") || candidates.join(", ")}. ` +
        `Run \`deno install\` in the workbook (deno.json maps it and sets "nodeModulesDir": "auto").`,
    );
  }
  sources.set(build, text);
  return text;
}

/** Make JavaScript safe inside an HTML `<script>` element. */
function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

/** JSON for a `<script>` element: `<` escaped, so no `</script>` can end it early. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/**
 * HTML that loads a plotly.js build into `window.Plotly`, even on pages with
 * require.js (AMD `define` is hidden while the bundle runs), then fires
 * {@link PLOTLY_READY_EVENT}. A basic build does not replace a full one
 * already loaded.
 *
 * @param source the bundle's JavaScript (default: read by {@link plotlySource}).
 *
 * @example
 * ```ts
 * import { plotlyLoaderHtml } from "./plotly_html.ts";
 * plotlyLoaderHtml("basic", "window.Plotly = {};").includes("window.define = undefined"); // true
 * ```
 */
export function plotlyLoaderHtml(build: PlotlyBuild = "basic", source: string = plotlySource(build)): string {
  return `<script type="text/javascript" ${PLOTLY_LOADER_ATTRIBUTE}="${build}">(function () {
var w = window;
if (w.Plotly && (${JSON.stringify(build)} === "basic" || w.__ch5PlotlyBuild === "full")) return;
var amd = w.define;
w.define = undefined;
try {
${scriptSafe(source)}
} finally {
  w.define = amd;
}
w.__ch5PlotlyBuild = ${JSON.stringify(build)};
w.dispatchEvent(new Event(${JSON.stringify(PLOTLY_READY_EVENT)}));
})();</script>`;
}

/** Options of {@link figureHtml}. */
export interface FigureHtmlOptions {
  /** The container's element id (default: a fresh random one). */
  id?: string;
  /** Include this plotly.js loader (from {@link plotlyLoaderHtml}) before the figure. */
  loader?: string;
  /** A static SVG picture shown until plotly draws (default: {@link svgChart} of the figure, where it can). */
  fallbackSvg?: string | null;
}

/**
 * The `text/html` of a figure: an optional plotly.js loader, a container
 * holding a static picture, and a script that draws the figure with
 * `window.Plotly` as soon as it exists.
 *
 * @example
 * ```ts
 * import { figureHtml } from "./plotly_html.ts";
 * const html = figureHtml({ data: [{ y: [1, 3, 2] }] }, { id: "fig1" });
 * html.includes('id="fig1"'); // true
 * ```
 */
export function figureHtml(fig: Figure, options: FigureHtmlOptions = {}): string {
  const id = options.id ?? `ch5-plot-${crypto.randomUUID()}`;
  const build = buildFor(fig);
  const svg = options.fallbackSvg === undefined ? svgChart(fig) : options.fallbackSvg;
  const alt = escapeXml(titleText(fig.layout?.title) || "plot");
  const fallback = svg
    ? `<img class="${PLOT_CLASS}-fallback" alt="${alt}" style="max-width: 100%; height: auto;" ` +
      `src="data:image/svg+xml;base64,${base64(svg)}"><div class="${PLOT_CLASS}-note" ` +
      `style="font-size: 12px; color: #777;">${TRUST_NOTE}</div>`
    : "";
  const height = fig.layout?.height ?? 400;
  const container = `<div id="${escapeXml(id)}" class="${PLOT_CLASS}" data-plotly-build="${build}" ` +
    `style="width: 100%; max-width: ${fig.layout?.width ?? 720}px; min-height: ${height}px;">${fallback}</div>`;
  const script = `<script type="text/javascript">(function () {
var id = ${jsonForScript(id)}, build = ${jsonForScript(build)}, fig = ${jsonForScript(fig)};
var drawn = false, tries = 0;
function ready() { return !!window.Plotly && (build === "basic" || window.__ch5PlotlyBuild === "full"); }
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
  if (drawn || !ready()) return;
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
if (ready()) { setTimeout(draw, 0); return; }
window.addEventListener(${jsonForScript(PLOTLY_READY_EVENT)}, draw);
setTimeout(function () {
  if (!drawn) note("Static picture: plotly.js is not loaded on this page. Run the notebook from the top to make it interactive.");
}, 5000);
})();</script>`;
  return (options.loader ?? "") + container + script;
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fmt(v: unknown): string {
  return typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
}

/**
 * A one-line text summary of a figure: its title and each trace's last value
 * (what a terminal, or a frontend that shows only text, prints).
 *
 * @example
 * ```ts
 * import { figureText } from "./plotly_html.ts";
 * figureText({ data: [{ name: "loss", y: [0.9, 0.4] }], layout: { title: "Loss" } }); // "Loss: loss 0.4000 (last of 2)"
 * ```
 */
export function figureText(fig: Figure): string {
  const title = titleText(fig.layout?.title) || "Figure";
  const traces = fig.data.map((t, i) => {
    const ys = Array.isArray(t.y) ? t.y : [];
    const name = t.name ?? `trace ${i}`;
    return ys.length ? `${name} ${fmt(ys[ys.length - 1])} (last of ${ys.length})` : name;
  });
  return `${title}: ${traces.join(", ")}`;
}

/**
 * A copy of a layout with every title written as `{text}`: plotly.js 3
 * ignores the string shorthand (`title: "Loss"`) that plotly 2 accepted, for
 * the figure and for each axis.
 *
 * @example
 * ```ts
 * import { normalizeLayout } from "./plotly_html.ts";
 * normalizeLayout({ title: "Loss", xaxis: { title: "Epochs" } });
 * // { title: { text: "Loss" }, xaxis: { title: { text: "Epochs" } } }
 * ```
 */
export function normalizeLayout(layout: Layout | undefined): Layout {
  const out: Layout = { ...layout };
  const fix = (title: unknown) => typeof title === "string" ? { text: title } : title;
  if (out.title !== undefined) out.title = fix(out.title) as Layout["title"];
  for (const [key, value] of Object.entries(out)) {
    if (/^[xyz]axis\d*$/.test(key) && value && typeof value === "object" && "title" in value) {
      out[key] = { ...value, title: fix((value as { title: unknown }).title) };
    }
  }
  return out;
}

/**
 * Plotly charts in a notebook: the book's training curves, and any figure.
 *
 * A figure is displayed as one Jupyter output holding these representations:
 *
 * - `application/vnd.plotly.v1+json`: the figure itself, for frontends with a
 *   native plotly renderer (VS Code; JupyterLab with plotly's extension);
 * - `text/html`: a `<div>` and a script that draws it with `window.Plotly`.
 *   This is what classic Notebook, JupyterLab without the extension and
 *   `jupyter nbconvert --to html` show. The first figure of a kernel session
 *   also carries plotly.js itself (read from `node_modules`, never a CDN),
 *   run with AMD's `define` hidden so that require.js pages (Notebook 6,
 *   nbconvert) still get `window.Plotly`; later figures wait for it. Until
 *   plotly draws, the div shows a static SVG picture of the chart, which is
 *   also what a sanitizing viewer (an untrusted notebook) keeps;
 * - `image/svg+xml` and `text/plain`: the static picture and a one-line summary.
 *
 * "Once" is per kernel process. If you re-run the cell whose output carried
 * plotly.js, the saved notebook loses it (later figures show their static
 * picture and a note): run the notebook from the top again.
 *
 * @example
 * ```ts
 * import { plot, trainingCurves } from "./plot.ts";
 * await trainingCurves({ acc: [0.6, 0.7], val_acc: [0.6, 0.65], loss: [0.7, 0.5], val_loss: [0.7, 0.6] });
 * await plot([{ x: [1, 2, 3], y: [2, 4, 8], mode: "lines+markers", name: "y" }], { title: "Growth" });
 * ```
 * @module
 */
import { display, inJupyter, type MimeBundle, updateDisplay } from "./display.ts";
import { escapeXml, type Figure, type Layout, svgChart, titleText, type Trace } from "./svg_chart.ts";

export type { Axis, Figure, Layout, TitleText, Trace } from "./svg_chart.ts";
export type { MimeBundle } from "./display.ts";

/** Which plotly.js build a figure needs: `basic` (scatter, bar, pie; 1 MB) or `full` (every trace type). */
export type PlotlyBuild = "basic" | "full";

/** Trace types drawn by plotly's basic build; anything else makes a figure need the full build. */
export const BASIC_TRACE_TYPES: ReadonlySet<string> = new Set(["scatter", "bar", "pie"]);

/**
 * The build a figure needs.
 *
 * @example
 * ```ts
 * import { buildFor } from "./plot.ts";
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

/** CSS class of every figure's container in the HTML (the browser test counts them). */
export const PLOT_CLASS = "ch5-plot";

const sources = new Map<PlotlyBuild, string>();

/**
 * The JavaScript source of a plotly.js build, read from `node_modules`.
 *
 * @example
 * ```ts
 * import { plotlySource } from "./plot.ts";
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
 * import { plotlyLoaderHtml } from "./plot.ts";
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
 * import { figureHtml } from "./plot.ts";
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
      `src="data:image/svg+xml;base64,${base64(svg)}">`
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
  if (!el || el.querySelector(".${PLOT_CLASS}-note")) return;
  var p = document.createElement("div");
  p.className = "${PLOT_CLASS}-note";
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
 * import { figureText } from "./plot.ts";
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
 * import { normalizeLayout } from "./plot.ts";
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

/** Default plotly config of displayed figures: responsive, no plotly logo. */
const DEFAULT_CONFIG: Readonly<Record<string, unknown>> = { responsive: true, displaylogo: false };

/**
 * Tracks what a kernel session has sent to the notebook, so that plotly.js
 * travels with it once. The module keeps one for the kernel process
 * (`plotlySession`); tests make their own.
 *
 * @example
 * ```ts
 * import { PlotlySession } from "./plot.ts";
 * const session = new PlotlySession({ source: () => "window.Plotly = {};" });
 * const first = session.figureBundle({ data: [{ y: [1, 2] }] });
 * const second = session.figureBundle({ data: [{ y: [2, 1] }] });
 * String(first["text/html"]).includes("window.Plotly = {};"); // true
 * String(second["text/html"]).includes("window.Plotly = {};"); // false
 * ```
 */
export class PlotlySession {
  #sent: PlotlyBuild | undefined;
  #source: (build: PlotlyBuild) => string;

  /**
   * Make a session that has sent nothing yet.
   *
   * @param options.source reads a build's JavaScript (default {@link plotlySource}).
   */
  constructor(options: { source?: (build: PlotlyBuild) => string } = {}) {
    this.#source = options.source ?? plotlySource;
  }

  /** The largest build sent so far, or `undefined`. */
  get sent(): PlotlyBuild | undefined {
    return this.#sent;
  }

  /** Forget what was sent (the next figure carries plotly.js again). */
  reset(): void {
    this.#sent = undefined;
  }

  /** The loader HTML a figure of `build` must carry, or `""` when the notebook already has it; marks it sent. */
  #loaderFor(build: PlotlyBuild): string {
    if (this.#sent === "full" || this.#sent === build) return "";
    this.#sent = build;
    return plotlyLoaderHtml(build, this.#source(build));
  }

  /**
   * The MIME bundle of a figure; the first one of the session (or the
   * first that needs the full build) carries plotly.js.
   */
  figureBundle(fig: Figure, options: { id?: string } = {}): MimeBundle {
    const figure: Figure = {
      ...fig,
      layout: normalizeLayout(fig.layout),
      config: { ...DEFAULT_CONFIG, ...fig.config },
    };
    const svg = svgChart(figure);
    const bundle: MimeBundle = {
      "application/vnd.plotly.v1+json": figure,
      "text/html": figureHtml(figure, { id: options.id, loader: this.#loaderFor(buildFor(figure)), fallbackSvg: svg }),
      "text/plain": figureText(figure),
    };
    if (svg) bundle["image/svg+xml"] = svg;
    return bundle;
  }

  /** A bundle that only loads plotly.js (always, even if sent before); marks it sent. */
  loaderBundle(build: PlotlyBuild = "basic"): MimeBundle {
    if (this.#sent !== "full") this.#sent = build;
    return { "text/html": plotlyLoaderHtml(build, this.#source(build)), "text/plain": `plotly.js (${build}) loaded` };
  }
}

/** The kernel process's session: what `showFigure` and {@link plot} use. */
const plotlySession: PlotlySession = new PlotlySession();

/**
 * Display a plotly figure (see the module doc for what is sent). Outside
 * Jupyter it prints the figure's one-line summary.
 *
 * @example
 * ```ts
 * import { showFigure } from "./plot.ts";
 * await showFigure({ data: [{ type: "bar", x: ["cat", "dog"], y: [0.3, 0.7] }], layout: { title: "Prediction" } });
 * ```
 */
async function showFigure(fig: Figure, options: { displayId?: string } = {}): Promise<void> {
  if (!inJupyter()) {
    console.log(figureText(fig));
    return;
  }
  await display(plotlySession.figureBundle(fig), options);
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

/**
 * Exponential moving average of a curve, as the book's `smooth_curve`:
 * each point becomes `previous * factor + point * (1 - factor)`.
 *
 * @example
 * ```ts
 * import { smoothCurve } from "./plot.ts";
 * smoothCurve([1, 0, 0], 0.5); // [1, 0.5, 0.25]
 * ```
 */
export function smoothCurve(points: number[], factor = 0.8): number[] {
  if (!(factor >= 0 && factor < 1)) {
    throw new RangeError(
      `smoothing factor ${factor} is outside [0, 1): use e.g. 0.8 (the book's value), or 0 for none.`,
    );
  }
  const out: number[] = [];
  for (const p of points) out.push(out.length ? out[out.length - 1] * factor + p * (1 - factor) : p);
  return out;
}

/** A Keras-style history: `{epoch, history}` as `fit` returns it, or just the `history` record. */
export type HistoryLike = { epoch?: number[]; history: Record<string, number[]> } | Record<string, number[]>;

/** Options of {@link trainingCurves}. */
export interface TrainingCurvesOptions {
  /** Put before each figure's title, e.g. the model's name. */
  title?: string;
  /** Smooth the curves with this EMA factor (the book uses 0.8 in 5.3); labels become "Smoothed …". */
  smooth?: number;
}

const BOOK_BLUE = "blue";

function historyRecord(history: HistoryLike): { epochs?: number[]; record: Record<string, number[]> } {
  if ("history" in history && !Array.isArray(history.history) && typeof history.history === "object") {
    const h = history as { epoch?: number[]; history: Record<string, number[]> };
    return { epochs: h.epoch, record: h.history };
  }
  return { record: history as Record<string, number[]> };
}

/**
 * The book's two training figures as plotly figures (without showing
 * them): "Training and validation accuracy" and "Training and validation
 * loss", training as blue dots (`'bo'`) and validation as a blue line
 * (`'b'`), over epochs 1…n. Accuracy is read from `acc`/`val_acc` or
 * `accuracy`/`val_accuracy`; a figure whose metric is absent is left out.
 *
 * @throws {Error} when the history has neither accuracy nor loss.
 *
 * @example
 * ```ts
 * import { trainingCurveFigures } from "./plot.ts";
 * const [acc, loss] = trainingCurveFigures({ acc: [0.6, 0.7], val_acc: [0.6, 0.65], loss: [0.7, 0.5], val_loss: [0.7, 0.6] });
 * acc.data[0].mode; // "markers"
 * loss.data[1].mode; // "lines"
 * ```
 */
export function trainingCurveFigures(history: HistoryLike, options: TrainingCurvesOptions = {}): Figure[] {
  const { epochs: given, record } = historyRecord(history);
  const smooth = options.smooth;
  const figures: Figure[] = [];
  const metrics: [string, string, string][] = [
    [["acc", "accuracy"].find((k) => record[k] || record[`val_${k}`]) ?? "acc", "accuracy", "acc"],
    ["loss", "loss", "loss"],
  ];
  for (const [key, word, short] of metrics) {
    const train = record[key], val = record[`val_${key}`];
    if (!train && !val) continue;
    const n = Math.max(train?.length ?? 0, val?.length ?? 0);
    const x = given && given.length === n ? given.map((e) => e + 1) : Array.from({ length: n }, (_, i) => i + 1);
    const prep = (ys: number[]) => smooth ? smoothCurve(ys, smooth) : ys;
    const label = (who: string) => smooth ? `Smoothed ${who.toLowerCase()} ${short}` : `${who} ${short}`;
    const data: Trace[] = [];
    if (train) {
      data.push({
        type: "scatter",
        mode: "markers",
        name: label("Training"),
        x: x.slice(0, train.length),
        y: prep(train),
        marker: { color: BOOK_BLUE, size: 7 },
      });
    }
    if (val) {
      data.push({
        type: "scatter",
        mode: "lines",
        name: label("Validation"),
        x: x.slice(0, val.length),
        y: prep(val),
        line: { color: BOOK_BLUE, width: 2 },
      });
    }
    const base = `Training and validation ${word}`;
    figures.push({
      data,
      layout: {
        title: { text: options.title ? `${options.title}: ${base.toLowerCase()}` : base },
        // Whole epochs only: a short run would otherwise get ticks at 1.2, 1.4, …
        xaxis: { title: { text: "Epochs" }, ...(n <= 15 ? { dtick: 1 } : {}) },
        yaxis: { title: { text: word === "loss" ? "Loss" : "Accuracy" } },
        height: 400,
        margin: { t: 60 },
      },
    });
  }
  if (figures.length === 0) {
    const keys = Object.keys(record).join(", ") || "none";
    throw new Error(
      `The history has no accuracy or loss curves (keys: ${keys}): pass model.fit's History, or a record with acc/val_acc (or accuracy/val_accuracy) and loss/val_loss.`,
    );
  }
  return figures;
}

/**
 * Show the book's training figures for a history (see
 * {@link trainingCurveFigures}). Returns nothing, so that a cell ending with
 * it prints nothing more.
 *
 * @example
 * ```ts
 * import { trainingCurves } from "./plot.ts";
 * await trainingCurves({ acc: [0.6, 0.7], val_acc: [0.6, 0.65], loss: [0.7, 0.5], val_loss: [0.7, 0.6] }, { smooth: 0.8 });
 * ```
 */
export async function trainingCurves(history: HistoryLike, options: TrainingCurvesOptions = {}): Promise<void> {
  for (const fig of trainingCurveFigures(history, options)) await showFigure(fig);
}

/**
 * The book's training figures, shown once and then updated in place (Jupyter
 * display ids) each time {@link LiveCurves.update} gets a longer history: the
 * output keeps the last state, which is what an executed notebook and its
 * HTML show. Outside Jupyter it does nothing. `fit(..., { curves: true })`
 * uses it after every epoch.
 *
 * plotly.js goes first in an output of its own (when the session has not
 * sent it), because an update replaces a figure's whole output.
 *
 * @example
 * ```ts
 * import { LiveCurves } from "./plot.ts";
 * const live = new LiveCurves({ title: "Model 1" });
 * await live.update({ loss: [0.7], val_loss: [0.69] });
 * await live.update({ loss: [0.7, 0.6], val_loss: [0.69, 0.65] });
 * ```
 */
export class LiveCurves {
  #options: TrainingCurvesOptions;
  #session: PlotlySession;
  #ids: string[] = [];
  #prefix = `ch5-curves-${crypto.randomUUID().slice(0, 8)}`;

  /**
   * @param options titles and smoothing, as {@link trainingCurves}.
   * @param options.session the plotly session (default `plotlySession`).
   */
  constructor(options: TrainingCurvesOptions & { session?: PlotlySession } = {}) {
    const { session, ...rest } = options;
    this.#options = rest;
    this.#session = session ?? plotlySession;
  }

  /** How many figures are shown (0 before the first update). */
  get shown(): number {
    return this.#ids.length;
  }

  /** Show the figures for `history`, or replace the ones shown. */
  async update(history: HistoryLike): Promise<void> {
    if (!inJupyter()) return;
    const figures = trainingCurveFigures(history, this.#options);
    if (this.#ids.length === 0 && this.#session.sent === undefined) {
      await display(this.#session.loaderBundle("basic"));
    }
    for (const [i, fig] of figures.entries()) {
      const bundle = this.#session.figureBundle(fig);
      const id = this.#ids[i];
      if (id === undefined) {
        this.#ids[i] = `${this.#prefix}-${i}`;
        await display(bundle, { displayId: this.#ids[i] });
      } else {
        await updateDisplay(bundle, id, { settle: i === figures.length - 1 });
      }
    }
  }
}

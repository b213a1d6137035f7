/**
 * Plotly figures in a notebook: the channel that sends them, with plotly.js
 * once per kernel session.
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
 * The HTML and the loader are written by `plotly_html.ts`; the book's
 * training curves are in `curves.ts`.
 *
 * @example
 * ```ts
 * import { plot } from "./plot.ts";
 * await plot([{ x: [1, 2, 3], y: [2, 4, 8], mode: "lines+markers", name: "y" }], { title: "Growth" });
 * ```
 * @module
 */
import { display, inJupyter, type MimeBundle } from "./display.ts";
import { type Figure, type Layout, svgChart, type Trace } from "./svg_chart.ts";
import {
  buildFor,
  figureHtml,
  figureText,
  normalizeLayout,
  type PlotlyBuild,
  plotlyLoaderHtml,
  plotlySource,
} from "./plotly_html.ts";

export type { Axis, Figure, Layout, TitleText, Trace } from "./svg_chart.ts";
export type { MimeBundle } from "./display.ts";

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
    const layout = normalizeLayout(fig.layout);
    // Titles sit just above the plot, from its left edge, under plotly's modebar (top right of the figure).
    if (layout.title) {
      layout.title = {
        x: 0,
        xref: "paper",
        xanchor: "left",
        y: 1,
        yref: "paper",
        yanchor: "bottom",
        ...layout.title as object,
      };
      layout.margin = { ...layout.margin as object, t: Math.max(80, (layout.margin as { t?: number })?.t ?? 0) };
    }
    const figure: Figure = { ...fig, layout, config: { ...DEFAULT_CONFIG, ...fig.config } };
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
export const plotlySession: PlotlySession = new PlotlySession();

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
export async function showFigure(fig: Figure, options: { displayId?: string } = {}): Promise<void> {
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

/**
 * The book's training curves (listing 5.10's figures): accuracy and loss per
 * epoch, training as blue dots and validation as a blue line with dots (so
 * that one epoch shows), optionally smoothed (5.3's `smoothCurve`, listing
 * 5.24); drawn once after training
 * ({@link trainingCurves}) or live during it ({@link LiveCurves}).
 *
 * @example
 * ```ts
 * import { trainingCurves } from "./curves.ts";
 * await trainingCurves({ acc: [0.6, 0.7], val_acc: [0.6, 0.65], loss: [0.7, 0.5], val_loss: [0.7, 0.6] });
 * ```
 * @module
 */
import { display, inJupyter, updateDisplay } from "./display.ts";
import { plotlySession, showFigure } from "./plot.ts";
import { smoothCurve } from "./smooth_curve.ts";
import type { Figure, Trace } from "./svg_chart.ts";

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
/** Up to this many epochs a run is short: a tick per epoch, and dots on the validation line. */
const SHORT_RUN = 15;

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
 * (`'b'`, with small dots up to 15 epochs: a line needs two points), over epochs 1…n;
 * accuracy from `acc` or `accuracy`, a figure whose metric is absent left out.
 *
 * @throws {Error} when the history has neither accuracy nor loss.
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
    const trace = (who: string, ys: number[], style: Trace): Trace => ({
      type: "scatter",
      name: label(who),
      x: x.slice(0, ys.length),
      y: prep(ys),
      ...style,
    });
    const data: Trace[] = [
      ...(train ? [trace("Training", train, { mode: "markers", marker: { color: BOOK_BLUE, size: 7 } })] : []),
      ...(val
        ? [
          // Dots only on a short run: after one epoch a line alone shows nothing; over many, the book's plain line.
          trace("Validation", val, {
            mode: n <= SHORT_RUN ? "lines+markers" : "lines",
            line: { color: BOOK_BLUE, width: 2 },
            marker: { color: BOOK_BLUE, size: 4 },
          }),
        ]
        : []),
    ];
    const base = `Training and validation ${word}`;
    figures.push({
      data,
      layout: {
        title: { text: options.title ? `${options.title}: ${base.toLowerCase()}` : base },
        // Whole epochs only: a short run would otherwise get ticks at 1.2, 1.4, …
        xaxis: { title: { text: "Epochs" }, ...(n <= SHORT_RUN ? { dtick: 1 } : {}) },
        yaxis: { title: { text: word === "loss" ? "Loss" : "Accuracy" } },
        height: 400,
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
 * import { trainingCurves } from "./curves.ts";
 * await trainingCurves({ acc: [0.6, 0.7], val_acc: [0.6, 0.65], loss: [0.7, 0.5], val_loss: [0.7, 0.6] }, { smooth: 0.8 });
 * ```
 */
export async function trainingCurves(history: HistoryLike, options: TrainingCurvesOptions = {}): Promise<void> {
  for (const fig of trainingCurveFigures(history, options)) await showFigure(fig);
}

/**
 * The book's training figures, shown once and then updated in place (Jupyter
 * display ids) by {@link LiveCurves.update}, so a saved notebook keeps the last
 * state; outside Jupyter, nothing. `fit(..., { curves: true })` reserves their
 * place above the progress lines. plotly.js goes first, in an output of its
 * own, since an update replaces a figure's whole output.
 */
export class LiveCurves {
  #options: TrainingCurvesOptions;
  #ids: string[] = [];
  #prefix = `ch5-curves-${crypto.randomUUID().slice(0, 8)}`;

  /** @param options titles and smoothing, as {@link trainingCurves}. */
  constructor(options: TrainingCurvesOptions = {}) {
    this.#options = options;
  }

  async #loader(): Promise<void> {
    if (this.#ids.length === 0 && !plotlySession.sent) await display(plotlySession.loaderBundle());
  }

  /**
   * Hold the figures' places before training starts: `count` short
   * placeholder outputs that later updates replace, so that the figures stay
   * above the progress lines that follow. Does nothing outside Jupyter or
   * once outputs exist.
   */
  async reserve(count = 2): Promise<void> {
    if (!inJupyter() || this.#ids.length > 0) return;
    await this.#loader();
    for (let i = 0; i < count; i++) {
      const id = `${this.#prefix}-${i}`;
      const text = i === 0 ? "(the training curves are drawn here after each epoch)" : "";
      await display({ "text/plain": text, "text/html": `<div style="color: #777; font-size: 12px;">${text}</div>` }, {
        displayId: id,
      });
      this.#ids.push(id);
    }
  }

  /** Show the figures for `history`, or replace the ones shown (placeholders included). */
  async update(history: HistoryLike): Promise<void> {
    if (!inJupyter()) return;
    const figures = trainingCurveFigures(history, this.#options);
    await this.#loader();
    const count = Math.max(figures.length, this.#ids.length);
    for (let i = 0; i < count; i++) {
      const fig = figures[i];
      const bundle = fig ? plotlySession.figureBundle(fig) : { "text/plain": "", "text/html": "" };
      const id = this.#ids[i];
      if (id === undefined) {
        this.#ids[i] = `${this.#prefix}-${i}`;
        await display(bundle, { displayId: this.#ids[i] });
      } else {
        await updateDisplay(bundle, id, { settle: i === count - 1 });
      }
    }
  }
}

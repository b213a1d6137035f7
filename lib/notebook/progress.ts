/**
 * One progress line per loop, like Keras' `verbose=1`: step/total, a bar, the
 * running metrics and the ETA. In Jupyter the line is one output updated in
 * place (`update_display_data`, at most every 250 ms), so an executed notebook
 * keeps only its final state; in a terminal it is redrawn with a carriage
 * return; in a log (no terminal) only the final line is printed.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const bar = await Progress.start({ total: 100, label: "Epoch 1/1" });
 * for (let step = 1; step <= 100; step++) await bar.update(step, { loss: 1 / step });
 * await bar.done({ loss: 0.01 });
 * ```
 * @module
 */
import { display, inJupyter, updateDisplay } from "./display.ts";

/** Metric name → value, as Keras prints them (`loss: 0.1234`). */
export type Metrics = Record<string, number>;

let nextId = 0;
const encoder = new TextEncoder();

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}h`;
  return s >= 60 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}` : `${s}s`;
}

/** Format metrics as Keras does: ` - loss: 0.1234 - acc: 0.9876`. */
export function formatMetrics(metrics: Metrics): string {
  const value = (v: number) => Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(3) : v.toFixed(4);
  return Object.entries(metrics).map(([k, v]) => ` - ${k}: ${value(v)}`).join("");
}

/**
 * Format one progress line: `label 12/100 [==>......] - ETA: 8s - loss: 0.5`
 * while running, `label 100/100 [======] - 10s 100ms/step - loss: 0.1` when done.
 */
export function formatProgress(
  step: number,
  total: number,
  elapsedMs: number,
  metrics: Metrics,
  options: { label?: string; done?: boolean } = {},
): string {
  const width = 30;
  const filled = total > 0 ? Math.min(width, Math.floor((step / total) * width)) : width;
  const bar = step >= total
    ? "=".repeat(width)
    : "=".repeat(Math.max(0, filled - 1)) + ">" + ".".repeat(width - Math.max(1, filled));
  const head = `${options.label ? options.label + " " : ""}${String(step).padStart(String(total).length)}/${total}`;
  const perStep = step > 0 ? elapsedMs / step : 0;
  const timing = options.done
    ? ` - ${formatSeconds(elapsedMs / 1000)} ${Math.round(perStep)}ms/step`
    : ` - ETA: ${formatSeconds(((total - step) * perStep) / 1000)}`;
  return `${head} [${bar}]${timing}${formatMetrics(metrics)}`;
}

/** A live progress line; make one with {@link Progress.start}. */
export class Progress {
  #total: number;
  #label?: string;
  #sink = inJupyter() ? "jupyter" : Deno.stdout.isTerminal() ? "terminal" : "log";
  #id = `ch5-progress-${Deno.pid}-${nextId++}`;
  #started = performance.now();
  #lastDraw = 0;
  #step = 0;
  #finished = false;

  private constructor(total: number, label?: string) {
    if (!(total >= 0)) throw new RangeError(`Progress total must be a number ≥ 0, got ${total}`);
    [this.#total, this.#label] = [total, label];
  }

  /** Start a line of `total` steps at step 0 and show it. */
  static async start(options: { total: number; label?: string }): Promise<Progress> {
    const progress = new Progress(options.total, options.label);
    if (progress.#sink === "jupyter") {
      await display({ "text/plain": progress.#text(0, {}, false) }, { displayId: progress.#id });
    }
    return progress;
  }

  #text(step: number, metrics: Metrics, done: boolean): string {
    return formatProgress(step, this.#total, performance.now() - this.#started, metrics, { label: this.#label, done });
  }

  /** Move to `step` with the running metrics; redraws at most every 250 ms. */
  async update(step: number, metrics: Metrics = {}): Promise<void> {
    this.#step = step;
    if (performance.now() - this.#lastDraw < 250) return;
    this.#lastDraw = performance.now();
    if (this.#sink === "jupyter") await updateDisplay({ "text/plain": this.#text(step, metrics, false) }, this.#id);
    else if (this.#sink === "terminal") {
      await Deno.stdout.write(encoder.encode(`\r${this.#text(step, metrics, false)}\x1b[K`));
    }
  }

  /** Finish the line with the final metrics (kept in the output) and return its text. */
  async done(metrics: Metrics = {}, step = Math.max(this.#step, this.#total)): Promise<string> {
    if (this.#finished) throw new Error("This progress line is already done; start a new one.");
    this.#finished = true;
    const text = this.#text(step, metrics, true);
    if (this.#sink === "jupyter") await updateDisplay({ "text/plain": text }, this.#id, { settle: true });
    else if (this.#sink === "terminal") await Deno.stdout.write(encoder.encode(`\r${text}\x1b[K\n`));
    else console.log(text);
    return text;
  }
}

/**
 * One progress line per loop, like Keras' `verbose=1`: step/total, a bar, the
 * running metrics and the ETA. In Jupyter the line is one output updated in
 * place (`update_display_data`), so an executed notebook keeps only its final
 * state; in a terminal it is redrawn with a carriage return; in a log (no
 * terminal) only the final line is printed.
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

/** Options of {@link Progress.start}. */
export interface ProgressOptions {
  /** Steps in the loop; the bar is full at `total`. */
  total: number;
  /** Text before the counter, e.g. `Epoch 3/30`. */
  label?: string;
  /** Unit for the per-step time (default `step`). */
  unit?: string;
  /** Minimum milliseconds between two redraws (default 250). */
  intervalMs?: number;
  /** Where the line goes (default: Jupyter when in a kernel, else the terminal). */
  sink?: "jupyter" | "terminal" | "log";
}

let nextId = 0;
const encoder = new TextEncoder();

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}h`;
  if (s >= 60) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return `${s}s`;
}

/** Format metrics as Keras does: ` - loss: 0.1234 - acc: 0.9876`. */
export function formatMetrics(metrics: Metrics): string {
  return Object.entries(metrics).map(([k, v]) =>
    ` - ${k}: ${Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(3) : v.toFixed(4)}`
  )
    .join("");
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
  options: { label?: string; unit?: string; done?: boolean } = {},
): string {
  const width = 30;
  const filled = total > 0 ? Math.min(width, Math.floor((step / total) * width)) : width;
  const bar = step >= total ? "=".repeat(width) : "=".repeat(Math.max(0, filled - 1)) + ">" +
    ".".repeat(width - Math.max(1, filled));
  const digits = String(total).length;
  const head = `${options.label ? options.label + " " : ""}${String(step).padStart(digits)}/${total} [${bar}]`;
  const perStep = step > 0 ? elapsedMs / step : 0;
  const timing = options.done
    ? ` - ${formatSeconds(elapsedMs / 1000)} ${Math.round(perStep)}ms/${options.unit ?? "step"}`
    : ` - ETA: ${formatSeconds(((total - step) * perStep) / 1000)}`;
  return head + timing + formatMetrics(metrics);
}

/** A live progress line; make one with {@link Progress.start}. */
export class Progress {
  #options: ProgressOptions;
  #sink: "jupyter" | "terminal" | "log";
  #id = `ch5-progress-${Deno.pid}-${nextId++}`;
  #started = performance.now();
  #lastDraw = 0;
  #step = 0;
  #finished = false;

  private constructor(options: ProgressOptions) {
    if (!(options.total >= 0)) throw new RangeError(`Progress total must be a number ≥ 0, got ${options.total}`);
    this.#options = options;
    this.#sink = options.sink ??
      (inJupyter() ? "jupyter" : Deno.stdout.isTerminal() ? "terminal" : "log");
  }

  /** Start a line at step 0 and show it. */
  static async start(options: ProgressOptions): Promise<Progress> {
    const progress = new Progress(options);
    if (progress.#sink === "jupyter") await display(progress.#bundle(0, {}, false), { displayId: progress.#id });
    return progress;
  }

  /** Milliseconds since the start. */
  get elapsedMs(): number {
    return performance.now() - this.#started;
  }

  #text(step: number, metrics: Metrics, done: boolean): string {
    return formatProgress(step, this.#options.total, this.elapsedMs, metrics, {
      label: this.#options.label,
      unit: this.#options.unit,
      done,
    });
  }

  #bundle(step: number, metrics: Metrics, done: boolean) {
    return { "text/plain": this.#text(step, metrics, done) };
  }

  /** Move to `step` with the running metrics; redraws at most every `intervalMs`. */
  async update(step: number, metrics: Metrics = {}): Promise<void> {
    this.#step = step;
    const now = performance.now();
    if (now - this.#lastDraw < (this.#options.intervalMs ?? 250)) return;
    this.#lastDraw = now;
    if (this.#sink === "jupyter") await updateDisplay(this.#bundle(step, metrics, false), this.#id);
    else if (this.#sink === "terminal") {
      await Deno.stdout.write(encoder.encode(`\r${this.#text(step, metrics, false)}\x1b[K`));
    }
  }

  /** Finish the line with the final metrics (kept in the output) and return its text. */
  async done(metrics: Metrics = {}, step = Math.max(this.#step, this.#options.total)): Promise<string> {
    if (this.#finished) throw new Error("This progress line is already done; start a new one.");
    this.#finished = true;
    const text = this.#text(step, metrics, true);
    if (this.#sink === "jupyter") await updateDisplay({ "text/plain": text }, this.#id, { settle: true });
    else if (this.#sink === "terminal") await Deno.stdout.write(encoder.encode(`\r${text}\x1b[K\n`));
    else console.log(text);
    return text;
  }
}

/**
 * Show things in a Jupyter notebook run by the Deno kernel, or as plain text
 * in a terminal: MIME bundles, printed lines, PNG pictures, HTML fragments
 * and tables. (Model summaries: `lib/models/summary.ts`.)
 *
 * @example
 * ```ts
 * import { showTable } from "./display.ts";
 * await showTable([{ epoch: 1, acc: 0.97 }]);
 * ```
 * @module
 */
import { Buffer } from "node:buffer";
import { escapeXml } from "./svg_chart.ts";

/** A Jupyter MIME bundle: MIME type → data (base64 text for images). */
export type MimeBundle = Record<string, string | object | undefined>;

type Jupyter = {
  display(obj: unknown, options?: { raw?: boolean; update?: boolean; display_id?: string }): Promise<void>;
};

/** The Deno kernel's `Deno.jupyter`, or `undefined` outside `deno jupyter` (where its getter throws). */
function jupyter(): Jupyter | undefined {
  try {
    return (Deno as unknown as { jupyter?: Jupyter }).jupyter;
  } catch {
    return undefined;
  }
}

/** Whether this code runs inside a Jupyter kernel. */
export function inJupyter(): boolean {
  return jupyter() !== undefined;
}

let interruptedAt = -Infinity;

/** A `KeyboardInterrupt` is leaving a cell (its constructor says so): see {@link stopQueuedCell}. */
export function noteInterrupt(): void {
  if (inJupyter()) interruptedAt = performance.now();
}

/**
 * Stop a cell that Run All queued behind an interrupted one. Deno's kernel
 * (2.9) runs queued cells even after a cell ended in an error (it ignores
 * Jupyter's `stop_on_error`), so the workbook stops them itself: in a
 * kernel, a display or a loop that starts within a second of a
 * `KeyboardInterrupt` (or of the last cell this refused) throws one.
 */
export function stopQueuedCell(): void {
  if (performance.now() - interruptedAt >= 1000) return;
  interruptedAt = performance.now();
  const error = new Error("not run: Run All stopped at the interrupted cell above (run this cell again to run it)");
  error.name = "KeyboardInterrupt";
  error.stack = `KeyboardInterrupt: ${error.message}`;
  throw error;
}

/**
 * Milliseconds to wait after displaying a bundle so that the kernel sends it
 * before the cell ends: 50 ms plus 300 ms a megabyte. Deno's kernel (2.9)
 * resolves `Deno.jupyter.display` as soon as a message is queued and reports
 * the cell idle without waiting for that queue, so a cell's last outputs
 * could vanish (a `console.log` too: use {@link print}).
 */
export function settleMs(bundle: MimeBundle): number {
  const chars = Object.values(bundle).reduce<number>(
    (n, v) => n + (typeof v === "string" ? v.length : v === undefined ? 0 : JSON.stringify(v).length),
    0,
  );
  return Math.round(50 + (300 * chars) / 1e6);
}

/**
 * {@link settleMs} stretched by the 1-minute load average per core, between 1
 * and 8 times: under load the kernel's sending thread runs late too.
 */
export function settleWaitMs(bundle: MimeBundle, load?: number, cores = navigator.hardwareConcurrency || 1): number {
  try {
    load ??= Deno.loadavg()[0];
  } catch {
    load = 0; // not permitted or not supported: assume idle
  }
  return Math.round(settleMs(bundle) * Math.min(8, Math.max(1, load / Math.max(1, cores))));
}

/**
 * Display a MIME bundle and wait until the kernel has had time to send it
 * ({@link settleWaitMs}). Outside Jupyter its `text/plain` part is printed.
 * In a cell that Run All queued behind an interrupted one, it throws instead
 * ({@link stopQueuedCell}).
 *
 * @param bundle the representations to send; give `text/plain` for terminals.
 * @param options.displayId name the output so that {@link updateDisplay} can replace it.
 */
export async function display(bundle: MimeBundle, options: { displayId?: string } = {}): Promise<void> {
  const kernel = jupyter();
  stopQueuedCell();
  if (kernel) {
    await kernel.display(bundle, { raw: true, display_id: options.displayId });
    await new Promise((resolve) => setTimeout(resolve, settleWaitMs(bundle)));
  } else if (typeof bundle["text/plain"] === "string") {
    console.log(bundle["text/plain"]);
  }
}

/**
 * Print a line like `console.log`, but as a displayed output that the
 * notebook is sure to keep: in Deno's kernel a `console.log` at the very end
 * of a cell can be lost (see {@link settleMs}).
 *
 * @example
 * ```ts
 * import { print } from "./display.ts";
 * await print("test_acc:", 0.991);
 * ```
 */
export async function print(...values: unknown[]): Promise<void> {
  const text = values.map((v) => typeof v === "string" ? v : Deno.inspect(v, { colors: false })).join(" ");
  await display({ "text/plain": text });
}

/**
 * Replace an output shown earlier with `display(bundle, {displayId})`
 * (Jupyter's `update_display_data`). Outside Jupyter it does nothing: the
 * caller prints its own terminal form.
 *
 * @param options.settle wait until the kernel has sent it (for a final state; see {@link settleMs}).
 */
export async function updateDisplay(
  bundle: MimeBundle,
  displayId: string,
  options: { settle?: boolean } = {},
): Promise<void> {
  const kernel = jupyter();
  if (!kernel) return;
  await kernel.display(bundle, { raw: true, update: true, display_id: displayId });
  if (options.settle) await new Promise((resolve) => setTimeout(resolve, settleWaitMs(bundle)));
}

/**
 * Show a PNG picture.
 *
 * @param png the PNG file's bytes.
 * @param caption plain-text stand-in for terminals (and alt text).
 */
export async function showPng(png: Uint8Array, caption = "[PNG image]"): Promise<void> {
  await display({ "image/png": Buffer.from(png).toString("base64"), "text/plain": caption });
}

/** One table row: column name → cell value. */
export type Row = Record<string, string | number | boolean | null | undefined>;

function cell(value: Row[string]): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(4);
  return String(value);
}

/**
 * Format rows as an aligned plain-text table (the `text/plain` of
 * {@link showTable}).
 */
export function formatTable(rows: Row[], columns = columnsOf(rows)): string {
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function columnsOf(rows: Row[]): string[] {
  return [...new Set(rows.flatMap((row) => Object.keys(row)))];
}

/** Format rows as an HTML table (the `text/html` of {@link showTable}). */
export function tableHtml(rows: Row[], columns = columnsOf(rows)): string {
  const head = columns.map((c) => `<th>${escapeXml(c)}</th>`).join("");
  const body = rows.map((row) => `<tr>${columns.map((c) => `<td>${escapeXml(cell(row[c]))}</td>`).join("")}</tr>`)
    .join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Show rows as a table: HTML in Jupyter, aligned text elsewhere. */
export async function showTable(rows: Row[], columns?: string[]): Promise<void> {
  await display({ "text/html": tableHtml(rows, columns), "text/plain": formatTable(rows, columns) });
}

/**
 * Notices for work a notebook had to leave out (a download that could not be
 * had offline, say), shown to the reader and counted by `deno task notebooks`.
 *
 * {@link reportSkipped} displays the notice as text and HTML, and adds a
 * machine-readable copy under the MIME type {@link SKIP_MIME}. The runner
 * (`tools/notebooks.ts`) reads them from the executed notebook with
 * {@link skipsIn}: skips of reason `download` are expected gaps (it still
 * exits 0), any other reason is a failure.
 *
 * @example
 * ```ts
 * import { reportSkipped } from "./skip.ts";
 * await reportSkipped({
 *   what: "VGG16 ImageNet weights",
 *   reason: "download",
 *   message: "The VGG16 weights could not be downloaded: the cells that need them are skipped.",
 * });
 * ```
 * @module
 */
import { display } from "./display.ts";
import { escapeXml } from "./svg_chart.ts";

/** The MIME type of a skip's machine-readable copy in a notebook output. */
export const SKIP_MIME = "application/vnd.ch5.skip+json";

/** Why something was skipped: `download` (could not be had, e.g. offline) or `other`. */
export type SkipReason = "download" | "other";

/** One skip notice. */
export interface Skip {
  /** What is missing, in a few words (e.g. `VGG16 ImageNet weights`). */
  what: string;
  /** `download`: an expected gap offline; `other`: counted as a failure by the runner. */
  reason: SkipReason;
  /** The notice for the reader: what is missing, where it should be, how to get it or go on without it. */
  message: string;
}

/**
 * Show a skip notice in the notebook (or print it in a terminal) and mark it
 * for the runner's summary. Call it once, where the gap is explained; the
 * cells that then skip their work may print a short line of their own.
 *
 * @throws {TypeError} when `what` or `message` is empty, or `reason` is not one of {@link SkipReason}.
 */
export async function reportSkipped(skip: Skip): Promise<void> {
  if (!skip.what?.trim() || !skip.message?.trim()) {
    throw new TypeError("reportSkipped needs `what` (a few words) and `message` (the notice for the reader).");
  }
  if (skip.reason !== "download" && skip.reason !== "other") {
    throw new TypeError(`reportSkipped: reason ${JSON.stringify(skip.reason)} is not "download" or "other".`);
  }
  const text = `Skipped: ${skip.message}`;
  await display({
    [SKIP_MIME]: { what: skip.what, reason: skip.reason, message: skip.message },
    "text/html":
      `<div class="ch5-skip" style="border-left: 4px solid #d9822b; padding: 4px 8px; white-space: pre-wrap; ` +
      `background: #fff8ef;"><strong>Skipped:</strong> ${escapeXml(skip.message)}</div>`,
    "text/plain": text,
  });
}

/** A cell output as `.ipynb` files store it (only the fields read here). */
interface Output {
  output_type?: string;
  data?: Record<string, unknown>;
}

/**
 * The skip notices in an executed notebook, with the index of the cell
 * (0-based, as nbformat counts) that showed each.
 */
export function skipsIn(notebook: { cells: { outputs?: Output[] }[] }): (Skip & { cell: number })[] {
  const found: (Skip & { cell: number })[] = [];
  notebook.cells.forEach((cell, index) => {
    for (const output of cell.outputs ?? []) {
      const value = output.data?.[SKIP_MIME];
      if (value && typeof value === "object") {
        const { what, reason, message } = value as Partial<Skip>;
        found.push({
          what: String(what ?? "?"),
          reason: reason === "download" ? "download" : "other",
          message: String(message ?? ""),
          cell: index,
        });
      }
    }
  });
  return found;
}

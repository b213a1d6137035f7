/**
 * Execute a workbook notebook headlessly (as `deno task notebooks` does) and
 * read back what its cells showed, for the notebook tests.
 *
 * @module
 */
import { join } from "node:path";
import { EXECUTED_DIR, executeNotebook } from "../tools/html.ts";
import { ROOT } from "../lib/profile.ts";

/** One code cell's outputs, flattened for assertions. */
export interface CellOutputs {
  source: string;
  /** stdout/stderr text and every `text/plain` representation. */
  text: string;
  /** MIME types displayed by the cell (one entry per output). */
  mimeTypes: string[][];
  /** Errors raised by the cell. */
  errors: string[];
}

/** An executed notebook. */
export interface ExecutedNotebook {
  path: string;
  cells: CellOutputs[];
  /** All text of all cells, joined. */
  text: string;
  /** How many outputs carried each MIME type. */
  count(mime: string): number;
}

function joinText(value: unknown): string {
  return Array.isArray(value) ? value.join("") : typeof value === "string" ? value : "";
}

/** Read an executed `.ipynb`. */
export async function readExecuted(path: string): Promise<ExecutedNotebook> {
  const doc = JSON.parse(await Deno.readTextFile(path));
  const cells: CellOutputs[] = doc.cells.filter((c: { cell_type: string }) => c.cell_type === "code").map(
    (cell: { source: string[] | string; outputs: Record<string, unknown>[] }) => {
      const texts: string[] = [];
      const mimeTypes: string[][] = [];
      const errors: string[] = [];
      for (const out of cell.outputs) {
        if (out.output_type === "stream") texts.push(joinText(out.text));
        else if (out.output_type === "error") errors.push(`${out.ename}: ${out.evalue}`);
        else {
          const data = out.data as Record<string, unknown>;
          mimeTypes.push(Object.keys(data));
          texts.push(joinText(data["text/plain"]));
        }
      }
      return { source: joinText(cell.source), text: texts.join("\n"), mimeTypes, errors };
    },
  );
  return {
    path,
    cells,
    text: cells.map((c) => c.text).join("\n"),
    count: (mime) => cells.reduce((n, c) => n + c.mimeTypes.filter((m) => m.includes(mime)).length, 0),
  };
}

/**
 * Execute `notebooks/<name>` in the quick profile (unless `CH5_PROFILE` says
 * otherwise) into `build/notebooks/` and read it back.
 */
export async function runNotebook(name: string): Promise<ExecutedNotebook> {
  Deno.env.set("CH5_PROFILE", Deno.env.get("CH5_PROFILE") ?? "quick");
  const executed = await executeNotebook(join(ROOT, "notebooks", name), EXECUTED_DIR);
  return readExecuted(executed);
}

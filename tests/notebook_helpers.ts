/**
 * Execute a workbook notebook headlessly (as `deno task notebooks` does) and
 * read back what its cells showed, for the notebook tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join, resolve } from "node:path";
import { EXECUTED_DIR, executeNotebook } from "../tools/execute.ts";
import { ROOT } from "../lib/io/profile.ts";
import { type Skip, skipsIn } from "../lib/notebook/skip.ts";

/** One code cell's outputs, flattened for assertions. */
export interface CellOutputs {
  source: string;
  /** stdout/stderr text and every `text/plain` representation. */
  text: string;
  /** MIME types displayed by the cell (one entry per output). */
  mimeTypes: string[][];
  /** Errors raised by the cell. */
  errors: string[];
  /** How many `Out[n]` values (execute_result) it shows: a notebook shows none, its cells print what they mean. */
  results: number;
}

/** An executed notebook. */
export interface ExecutedNotebook {
  path: string;
  cells: CellOutputs[];
  /** All text of all cells, joined. */
  text: string;
  /** How many outputs carried each MIME type. */
  count(mime: string): number;
  /** The skip notices it showed (`reportSkipped`), with the index of their cell among all cells. */
  skips: (Skip & { cell: number })[];
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
      let results = 0;
      for (const out of cell.outputs) {
        if (out.output_type === "execute_result") results++;
        if (out.output_type === "stream") texts.push(joinText(out.text));
        else if (out.output_type === "error") errors.push(`${out.ename}: ${out.evalue}`);
        else {
          const data = out.data as Record<string, unknown>;
          mimeTypes.push(Object.keys(data));
          texts.push(joinText(data["text/plain"]));
        }
      }
      return { source: joinText(cell.source), text: texts.join("\n"), mimeTypes, errors, results };
    },
  );
  return {
    path,
    cells,
    text: cells.map((c) => c.text).join("\n"),
    count: (mime) => cells.reduce((n, c) => n + c.mimeTypes.filter((m) => m.includes(mime)).length, 0),
    skips: skipsIn(doc),
  };
}

/**
 * Execute `notebooks/<name>` into `build/notebooks/` and read it back. The
 * kernel gets the quick profile (unless `CH5_PROFILE` says otherwise), the
 * shared cats-vs-dogs split as `CH5_DATA_SOURCE` (unless set), and `env`;
 * this process's environment is left alone, since other test files read it.
 */
export async function runNotebook(name: string, env: Record<string, string> = {}): Promise<ExecutedNotebook> {
  const executed = await executeNotebook(join(ROOT, "notebooks", name), EXECUTED_DIR, {
    env: {
      CH5_PROFILE: Deno.env.get("CH5_PROFILE") ?? "quick",
      CH5_DATA_SOURCE: Deno.env.get("CH5_DATA_SOURCE") ?? resolve(ROOT, "../shared/datasets/cats_and_dogs_small"),
      ...env,
    },
  });
  return readExecuted(executed);
}

/** A picture an executed notebook shows. */
export interface PictureSize {
  mime: "image/png" | "image/jpeg";
  width: number;
  height: number;
}

/** Width and height of every picture (PNG or JPEG) an executed notebook shows, per code cell. */
export async function pictureSizes(path: string): Promise<PictureSize[][]> {
  const doc = JSON.parse(await Deno.readTextFile(path));
  return doc.cells.filter((c: { cell_type: string }) => c.cell_type === "code").map(
    (cell: { outputs: { data?: Record<string, string | string[]> }[] }) =>
      cell.outputs.flatMap((o): PictureSize[] => {
        const mime = (["image/png", "image/jpeg"] as const).find((m) => o.data?.[m]);
        if (!mime) return [];
        const bytes = Buffer.from([o.data![mime]].flat().join(""), "base64");
        if (mime === "image/png") {
          assert.equal(bytes.subarray(1, 4).toString("latin1"), "PNG");
          return [{ mime, width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }];
        }
        assert.equal(bytes.readUInt16BE(0), 0xffd8, "a JPEG");
        // The first start-of-frame marker holds the size.
        for (let i = 2; i + 9 < bytes.length;) {
          const marker = bytes.readUInt16BE(i);
          if (marker >= 0xffc0 && marker <= 0xffc3) {
            return [{ mime, height: bytes.readUInt16BE(i + 5), width: bytes.readUInt16BE(i + 7) }];
          }
          i += 2 + bytes.readUInt16BE(i + 2);
        }
        throw new Error("a JPEG without a frame header");
      }),
  );
}

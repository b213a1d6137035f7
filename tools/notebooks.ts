/**
 * `deno task notebooks [NAME...]`: execute the notebooks headlessly on the
 * Deno kernel, keep the executed copies in `build/notebooks/` (git ignores
 * it; the committed notebooks stay without outputs), and end with a summary:
 * each notebook, its time, and what it skipped and why.
 *
 * Exit status: 0 when every notebook ran to the end or stopped only where a
 * download could not be had (skip notices of reason `download`, see
 * `lib/notebook/skip.ts`, or a cell that raised a `DownloadError`, such as the
 * cats-vs-dogs pictures offline: the notebook cannot go on without them); 1
 * for any other cell error (shown as the notebook, the cell and the error's
 * first line), any other skip, or a missing Jupyter. What a download gap needs
 * (where to put the files, the command) is printed once, however many
 * notebooks met it.
 *
 * @example
 * ```ts
 * import { summarize } from "./notebooks.ts";
 * const { text, exitCode } = summarize([{ name: "5.1-introduction-to-convnets.ipynb", seconds: 84, skips: [] }]);
 * console.log(text, exitCode); // … 0
 * ```
 * @module
 */
import { basename } from "node:path";
import { checkSettings } from "../lib/io/profile.ts";
import { SettingError } from "../lib/io/errors.ts";
import { type Skip, skipsIn } from "../lib/notebook/skip.ts";
import { CommandError, EXECUTED_DIR, executeNotebook, NotebookCellError, sourceNotebooks } from "./execute.ts";

/** Raised when Jupyter or its Deno kernel is not installed. */
export class JupyterMissingError extends Error {
  override name = "JupyterMissingError";
}

/** Check that `jupyter` runs and knows the `deno` kernel; throw a how-to otherwise. */
export async function requireDenoKernel(): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("jupyter", {
      args: ["kernelspec", "list", "--json"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    throw new JupyterMissingError(
      "Jupyter is not installed. On Debian/Ubuntu: sudo apt-get install jupyter-nbconvert jupyter-notebook " +
        "jupyter-client python3-ipykernel (elsewhere: pip install notebook nbconvert), then run `deno task setup`.",
    );
  }
  const specs = output.success ? JSON.parse(new TextDecoder().decode(output.stdout)).kernelspecs ?? {} : {};
  if (!("deno" in specs)) {
    throw new JupyterMissingError(
      "Jupyter has no Deno kernel. Register it with `deno jupyter --install` (or `deno task setup`).",
    );
  }
}

/** How one notebook went. */
export interface NotebookRun {
  /** The notebook's file name. */
  name: string;
  seconds: number;
  /** The skip notices its cells showed. */
  skips: Skip[];
  /** The cell error that stopped it (notebook, cell, first line), if one did. */
  error?: string;
}

/** A notebook stopped by a download that could not be had: a skip of reason `download`, not a failure. */
function downloadStop(err: NotebookCellError): Skip {
  const what = /pictures|cats|dogs|PetImages|split/i.test(err.evalue) ? "the cats-vs-dogs pictures" : "a download";
  return { what: `${what} (code cell ${err.codeCell} stopped)`, reason: "download", message: err.evalue };
}

/**
 * The closing summary and the exit status: 0 when no notebook failed and
 * every skip is a download that could not be had, else 1.
 */
export function summarize(runs: NotebookRun[], profile = "quick"): { text: string; exitCode: 0 | 1 } {
  const width = Math.max(8, ...runs.map((r) => r.name.replace(/\.ipynb$/, "").length));
  const lines = [`Summary (profile ${profile}):`];
  for (const run of runs) {
    const status = run.error ? "FAILED " : run.skips.length ? "skipped" : "ok     ";
    lines.push(
      `  ${run.name.replace(/\.ipynb$/, "").padEnd(width)}  ${status}  ${run.seconds.toFixed(0).padStart(5)} s`,
    );
    if (run.error) lines.push(`      ${run.error.split("\n")[0]}`);
    for (const skip of run.skips) {
      lines.push(`      skipped (${skip.reason === "download" ? "download not available" : "other"}): ${skip.what}`);
    }
  }
  const failed = runs.filter((r) => r.error);
  const otherSkips = runs.flatMap((r) => r.skips.filter((s) => s.reason !== "download"));
  const downloads = runs.flatMap((r) => r.skips.filter((s) => s.reason === "download"));
  if (failed.length) lines.push(`${failed.length} of ${runs.length} notebooks failed.`);
  if (otherSkips.length) lines.push(`${otherSkips.length} skip(s) for reasons other than a download: a failure.`);
  if (!failed.length && !otherSkips.length) {
    const all = runs.length === 1 ? "The notebook" : `All ${runs.length} notebooks`;
    lines.push(
      downloads.length
        ? `${all} ran to the end or stopped only where a download could not be had: ${downloads.length} gap(s).`
        : `${all} ran to the end.`,
    );
  }
  const stops = [...new Set(downloads.filter((s) => / stopped\)$/.test(s.what)).map((s) => s.message))];
  for (const message of stops) lines.push(`What the notebooks that stopped need:\n  ${message.replace(/\n/g, "\n  ")}`);
  return { text: lines.join("\n"), exitCode: failed.length || otherSkips.length ? 1 : 0 };
}

async function skipsOf(executed: string): Promise<Skip[]> {
  try {
    return skipsIn(JSON.parse(await Deno.readTextFile(executed)));
  } catch {
    return [];
  }
}

/**
 * Execute `notebooks` one after the other into `outDir`, logging as it goes;
 * a failing notebook does not stop the others.
 *
 * @throws {CommandError} when Jupyter itself cannot run (then nothing else can).
 */
export async function runNotebooks(
  notebooks: string[],
  options: { outDir?: string; env?: Record<string, string>; log?: (line: string) => void } = {},
): Promise<NotebookRun[]> {
  const log = options.log ?? console.log;
  const runs: NotebookRun[] = [];
  for (const notebook of notebooks) {
    const name = basename(notebook);
    const started = performance.now();
    log(`executing ${name} ...`);
    let run: NotebookRun;
    try {
      const executed = await executeNotebook(notebook, options.outDir ?? EXECUTED_DIR, { env: options.env });
      run = { name, seconds: (performance.now() - started) / 1000, skips: await skipsOf(executed) };
    } catch (err) {
      if (!(err instanceof NotebookCellError)) throw err;
      const seconds = (performance.now() - started) / 1000, skips = await skipsOf(err.executed);
      if (err.ename === "DownloadError") {
        run = { name, seconds, skips: [...skips, downloadStop(err)] };
        log(`  stopped at code cell ${err.codeCell}: a download could not be had (what it needs: see the summary)`);
      } else {
        run = { name, seconds, skips, error: err.message };
        log(`  FAILED: ${err.message}`);
      }
    }
    if (!run.error) {
      log(`  done in ${run.seconds.toFixed(0)} s${run.skips.length ? `, ${run.skips.length} skip(s)` : ""}`);
    }
    runs.push(run);
  }
  return runs;
}

if (import.meta.main) {
  try {
    checkSettings(); // a bad CH5_* setting fails here in one line, before any notebook starts
    await requireDenoKernel();
    const all = await sourceNotebooks();
    const wanted = Deno.args.length
      ? all.filter((path) => Deno.args.some((arg) => basename(path).startsWith(arg) || path.endsWith(arg)))
      : all;
    if (wanted.length === 0) throw new Error(`No notebook matches ${Deno.args.join(", ")}.`);
    const profile = Deno.env.get("CH5_PROFILE") ?? "quick";
    const runs = await runNotebooks(wanted);
    const { text, exitCode } = summarize(runs, profile);
    console.log(`\n${text}`);
    Deno.exit(exitCode);
  } catch (err) {
    if (err instanceof SettingError) console.error(`error: ${err.message}`);
    else console.error(err instanceof JupyterMissingError || err instanceof CommandError ? err.message : err);
    Deno.exit(1);
  }
}

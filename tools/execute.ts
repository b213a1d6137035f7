/**
 * Execute notebooks headlessly on the Deno kernel: `executeNotebook` runs
 * `tools/execute_notebook.py` (nbclient, what `jupyter nbconvert --execute`
 * runs) and always keeps the executed copy; a cell error comes back as a
 * {@link NotebookCellError} naming the notebook, the cell and the error.
 * `deno task notebooks` (`notebooks.ts`) and `deno task html` (`html.ts`)
 * use it.
 *
 * @example
 * ```ts
 * import { executeNotebook, sourceNotebooks } from "./execute.ts";
 * const [first] = await sourceNotebooks();
 * const executed = await executeNotebook(first, "build/notebooks");
 * ```
 * @module
 */
import { basename, join, resolve } from "node:path";
import { ROOT } from "../lib/io/profile.ts";

/** Where executed notebooks are kept (`deno task notebooks` writes them there too). */
export const EXECUTED_DIR: string = join(ROOT, "build", "notebooks");

/** Raised when an external command (jupyter) fails or is missing. */
export class CommandError extends Error {
  /** Always `"CommandError"`. */
  override name = "CommandError";
}

export async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, { args, cwd: ROOT, env, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CommandError(
        `${cmd} is not installed: install Python 3 with Jupyter's nbconvert (Debian: apt-get install jupyter-nbconvert jupyter-client python3-ipykernel; ` +
          `elsewhere: pip install nbconvert) and register the Deno kernel with \`deno jupyter --install\`.`,
      );
    }
    throw error;
  }
  if (!output.success) {
    const err = new TextDecoder().decode(output.stderr).split("\n").filter((l) =>
      !/^0\.00s - |Debugger warning/.test(l)
    );
    const hint = err.some((l) => /No such kernel named deno/.test(l))
      ? "\nThe Deno kernel is not registered with Jupyter: run `deno jupyter --install`."
      : "";
    const said = err.some((l) => l.trim()) ? `:\n${err.slice(-30).join("\n")}` : ", printing nothing on stderr";
    throw new CommandError(`${cmd} ${args.join(" ")} failed (exit ${output.code})${said}${hint}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** Raised when a cell of an executed notebook raised: which notebook, which cell, and the error's first line. */
export class NotebookCellError extends Error {
  override name = "NotebookCellError";
  constructor(
    /** The notebook's file name. */
    readonly notebook: string,
    /** 1-based among the code cells (what a reader counts), and the cell's first line. */
    readonly codeCell: number,
    readonly source: string,
    /** The error's name and first line. */
    readonly error: string,
    /** The executed copy, with the full error in the cell's output. */
    readonly executed: string,
    /** The error's name and whole message (e.g. `DownloadError`, and what to do). */
    readonly ename = "",
    readonly evalue = "",
  ) {
    super(`${notebook}, code cell ${codeCell} (${source.slice(0, 80)}): ${error}\n  full error: ${executed}`);
  }
}

/** The Python that has Jupyter's packages: `CH5_PYTHON`, else Debian's `/usr/bin/python3`, else `python3`. */
function jupyterPython(): string {
  const given = Deno.env.get("CH5_PYTHON");
  if (given) return given;
  try {
    Deno.statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
}

/**
 * Execute a notebook (nbclient, what `jupyter nbconvert --execute` runs; no
 * cell time limit) and write the executed copy to `outDir`, also when a cell
 * fails; returns its path. `options.env` adds settings (e.g. `CH5_PROFILE`)
 * to the kernel's environment only.
 *
 * @throws {NotebookCellError} when a cell raised (notebook, cell, the error's first line).
 * @throws {CommandError} when Python, Jupyter or the Deno kernel is missing.
 *
 * @example
 * ```ts
 * import { executeNotebook } from "./execute.ts";
 * const executed = await executeNotebook("notebooks/5.1-introduction-to-convnets.ipynb", "build/notebooks");
 * ```
 */
export async function executeNotebook(
  notebook: string,
  outDir: string = EXECUTED_DIR,
  options: { env?: Record<string, string> } = {},
): Promise<string> {
  await Deno.mkdir(outDir, { recursive: true });
  const executed = join(outDir, basename(notebook));
  const driver = join(ROOT, "tools", "execute_notebook.py");
  const python = jupyterPython();
  const stdout = await run(python, [driver, resolve(notebook), resolve(executed)], options.env).catch((err) => {
    if (!(err instanceof CommandError) || !Deno.env.get("CH5_PYTHON")) throw err;
    throw new CommandError(
      `CH5_PYTHON=${python}: running the notebook with it failed. CH5_PYTHON must name a Python 3 that has ` +
        `Jupyter's nbclient (e.g. /usr/bin/python3); fix it or unset it. ${err.message}`,
      { cause: err },
    );
  });
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new CommandError(`${driver} printed no RESULT line for ${notebook}:\n${stdout.slice(-2000)}`);
  const result = JSON.parse(line.slice("RESULT ".length));
  if (!result.ok) {
    const first = String(result.evalue ?? "").split("\n")[0];
    throw new NotebookCellError(
      basename(notebook),
      result.codeCell ?? 0,
      result.source ?? "",
      `${result.ename ?? "Error"}: ${first}`,
      executed,
      String(result.ename ?? ""),
      String(result.evalue ?? ""),
    );
  }
  return executed;
}

/**
 * The workbook's notebooks: `notebooks/*.ipynb`, sorted.
 *
 * @example
 * ```ts
 * import { sourceNotebooks } from "./execute.ts";
 * console.log(await sourceNotebooks());
 * ```
 */
export async function sourceNotebooks(dir: string = join(ROOT, "notebooks")): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".ipynb")) names.push(join(dir, entry.name));
  }
  return names.sort();
}

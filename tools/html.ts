/**
 * Render executed notebooks to self-contained HTML files that open without a
 * network: `deno task html [notebook.ipynb ...] [--execute]`.
 *
 * For each notebook `notebooks/NAME.ipynb` (or each path given) it takes the
 * executed copy `build/notebooks/NAME.ipynb` (executing the notebook with
 * nbconvert first when that copy is missing, or always with `--execute`) and
 * writes `build/html/NAME.html` with `jupyter nbconvert --to html`, then
 * makes the page offline-safe (see {@link makeOffline}). Pictures are already
 * inside the notebook as base64; plotly.js travels inside the first figure's
 * output (see `lib/notebook/plot.ts` and `plotly_html.ts`).
 *
 * @example
 * ```ts
 * import { makeOffline } from "./html.ts";
 * const page = makeOffline('<html><head><script src="https://cdn.example/require.js"></script></head><body>日本語</body></html>');
 * page.includes("cdn.example"); // false
 * ```
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { ROOT } from "../lib/io/profile.ts";
import { statOrNull } from "../lib/io/fs.ts";

/** Where executed notebooks are kept (`deno task notebooks` writes them there too). */
export const EXECUTED_DIR: string = join(ROOT, "build", "notebooks");

/** Where the HTML files go. */
export const HTML_DIR: string = join(ROOT, "build", "html");

/** Fonts that draw Latin text and Japanese (where a CJK font is installed), most specific first. */
export const FONT_STACK: string = [
  "system-ui",
  "-apple-system",
  '"Segoe UI"',
  "Roboto",
  '"Helvetica Neue"',
  "Arial",
  '"Noto Sans"',
  '"Noto Sans CJK JP"',
  '"Noto Sans JP"',
  '"Hiragino Kaku Gothic ProN"',
  '"Hiragino Sans"',
  '"Yu Gothic"',
  "Meiryo",
  '"IPAexGothic"',
  '"IPAPGothic"',
  '"IPAGothic"',
  '"TakaoPGothic"',
  '"VL PGothic"',
  "sans-serif",
].join(", ");

/** Monospace fonts for code, with Japanese fallbacks for comments and strings. */
export const CODE_FONT_STACK: string = [
  "Menlo",
  "Consolas",
  '"DejaVu Sans Mono"',
  '"Liberation Mono"',
  '"Noto Sans Mono CJK JP"',
  '"IPAGothic"',
  "monospace",
].join(", ");

/** The style sheet {@link makeOffline} adds: the font stacks, set on the JupyterLab variables the template uses. */
export const OFFLINE_CSS: string = `:root {
  --jp-content-font-family: ${FONT_STACK};
  --jp-ui-font-family: ${FONT_STACK};
  --jp-code-font-family-default: ${CODE_FONT_STACK};
}
body { font-family: var(--jp-content-font-family); }`;

const KANA = /[\u3040-\u30ff]/;

/**
 * Make an nbconvert HTML page open without a network and show Japanese
 * text: remove every `<script src>` that is not inline data (the template's
 * require.js and MathJax, from a CDN or from this machine's `/usr/share`,
 * which the workbook's outputs do not need), remove external style sheets,
 * make sure the page declares UTF-8, add a font stack with Japanese fonts,
 * and mark the page `lang="ja"` when it contains kana.
 *
 * LaTeX in markdown is left as typed (MathJax is not bundled).
 *
 * @example
 * ```ts
 * import { makeOffline } from "./html.ts";
 * makeOffline("<html><head></head><body>ひらがな</body></html>").includes('lang="ja"'); // true
 * ```
 */
export function makeOffline(html: string): string {
  let page = html
    .replace(/<script\b[^>]*\bsrc\s*=\s*["']?(?!data:)[^"'\s>]+["']?[^>]*>\s*<\/script\s*>/gi, "")
    .replace(/<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?\/\/[^>]*>/gi, "");
  if (!/<meta\b[^>]*charset/i.test(page)) {
    page = page.replace(/<head\b[^>]*>/i, (head) => `${head}\n<meta charset="utf-8">`);
  }
  const style = `<style id="ch5-offline" type="text/css">\n${OFFLINE_CSS}\n</style>`;
  page = /<\/head>/i.test(page) ? page.replace(/<\/head>/i, `${style}\n</head>`) : style + page;
  if (KANA.test(page)) {
    page = page.replace(
      /<html\b([^>]*)>/i,
      (tag, attrs: string) => /\blang=/i.test(attrs) ? tag : `<html lang="ja"${attrs}>`,
    );
  }
  return page;
}

/** Raised when an external command (jupyter) fails or is missing. */
export class CommandError extends Error {
  /** Always `"CommandError"`. */
  override name = "CommandError";
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
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
 * import { executeNotebook } from "./html.ts";
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
    );
  }
  return executed;
}

/**
 * Render an (executed) notebook to `outDir/NAME.html` with
 * `jupyter nbconvert --to html`, then {@link makeOffline}; returns the path.
 *
 * @example
 * ```ts
 * import { notebookToHtml } from "./html.ts";
 * const page = await notebookToHtml("build/notebooks/5.1-introduction-to-convnets.ipynb", "build/html");
 * ```
 */
export async function notebookToHtml(notebook: string, outDir: string = HTML_DIR): Promise<string> {
  await Deno.mkdir(outDir, { recursive: true });
  await run("jupyter", ["nbconvert", "--to", "html", "--output-dir", resolve(outDir), resolve(notebook)]);
  const path = join(outDir, basename(notebook).replace(/\.ipynb$/, "") + ".html");
  await Deno.writeTextFile(path, makeOffline(await Deno.readTextFile(path)));
  return path;
}

/**
 * The workbook's notebooks: `notebooks/*.ipynb`, sorted.
 *
 * @example
 * ```ts
 * import { sourceNotebooks } from "./html.ts";
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

/**
 * Render notebooks to HTML: each is taken executed from `executedDir` (an
 * `.ipynb` already in that folder is used as it is), executed there first
 * when missing or when `execute` is set. Returns the HTML paths.
 *
 * @example
 * ```ts
 * import { renderNotebooks } from "./html.ts";
 * const pages = await renderNotebooks(["notebooks/5.1-introduction-to-convnets.ipynb"]);
 * ```
 */
export async function renderNotebooks(
  notebooks: string[],
  options: { execute?: boolean; executedDir?: string; htmlDir?: string; log?: (line: string) => void } = {},
): Promise<string[]> {
  const executedDir = options.executedDir ?? EXECUTED_DIR;
  const log = options.log ?? (() => {});
  const pages: string[] = [];
  for (const notebook of notebooks) {
    let executed = join(executedDir, basename(notebook));
    if (resolve(dirname(notebook)) === resolve(executedDir)) {
      executed = notebook;
    } else if (options.execute || !(await statOrNull(executed))) {
      log(`executing ${notebook} ...`);
      const t0 = performance.now();
      executed = await executeNotebook(notebook, executedDir);
      log(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    const page = await notebookToHtml(executed, options.htmlDir ?? HTML_DIR);
    const size = (await Deno.stat(page)).size;
    log(`${page} (${(size / 1e6).toFixed(1)} MB)`);
    pages.push(page);
  }
  return pages;
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => a !== "--execute");
  const notebooks = args.length ? args : await sourceNotebooks();
  if (notebooks.length === 0) {
    console.error("No notebooks to render: notebooks/ has no .ipynb file and none was given.");
    Deno.exit(1);
  }
  try {
    await renderNotebooks(notebooks, { execute: Deno.args.includes("--execute"), log: console.log });
  } catch (error) {
    console.error(error instanceof CommandError || error instanceof NotebookCellError ? error.message : error);
    Deno.exit(1);
  }
}

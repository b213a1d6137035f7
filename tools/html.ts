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
 * output (see `lib/notebook/plot.ts`).
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
import { CommandError, EXECUTED_DIR, executeNotebook, NotebookCellError, run, sourceNotebooks } from "./execute.ts";

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

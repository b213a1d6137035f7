/**
 * The notebooks' HTML opens in a browser with no network: every plotly
 * figure is drawn, every picture decodes, the page logs no error, and
 * Japanese markdown is drawn with a Japanese font where one is installed.
 *
 * It checks `build/html/*.html` (from `deno task html`), first rendering the
 * notebooks the notebook tests executed into `build/notebooks/` (this file's
 * name sorts after theirs, so `deno task test` runs it last); when there is
 * nothing to check (or with `CH5_HTML_FIXTURE=1`) it executes and renders
 * `tests/fixtures/plots.ipynb` (two figures, a PNG, Japanese markdown) itself.
 * Screenshots go to `build/screenshots/`.
 * Without Chromium the browser test is skipped, except under `CI`, where it
 * fails.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "../lib/io/profile.ts";
import { PLOTLY_LOADER_ATTRIBUTE } from "../lib/notebook/plot.ts";
import { findChromium, fontsFor, launchChromium, type Page, type PageError, watchPage } from "../tools/chromium.ts";
import { EXECUTED_DIR } from "../tools/execute.ts";
import { HTML_DIR, makeOffline, renderNotebooks } from "../tools/html.ts";

const FIXTURE = join(ROOT, "tests", "fixtures", "plots.ipynb");
const SCREENSHOTS = join(ROOT, "build", "screenshots");
const chromium = findChromium();
const inCI = !!Deno.env.get("CI");

function hasJupyter(): boolean {
  try {
    return new Deno.Command("jupyter", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** `CH5_HTML_FIXTURE=1` checks the fixture even when `build/html` has pages. */
const pagesAtStart = Deno.env.get("CH5_HTML_FIXTURE") === "1" ? [] : await htmlPages();
const missing = [
  ...(chromium ? [] : ["Chromium (Debian: apt-get install chromium)"]),
  ...(pagesAtStart.length || hasJupyter()
    ? []
    : ["Jupyter, to render the fixture (Debian: apt-get install jupyter-nbconvert)"]),
];
const skip = missing.length > 0 && !inCI;
if (skip) {
  console.warn(`html_browser_test: skipped, this machine lacks ${missing.join(" and ")}. Under CI=1 this fails.`);
}

Deno.test("makeOffline drops external scripts and style sheets, keeps inline scripts, adds UTF-8 and Japanese fonts", () => {
  const page = makeOffline(
    `<!DOCTYPE html><html><head><title>t</title>` +
      `<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>` +
      `<script src="file:///usr/share/javascript/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"> </script>` +
      `<link rel="stylesheet" href="https://cdn.example/x.css">` +
      `<script type="text/javascript">window.x = 1;</script></head><body><p>畳み込み</p></body></html>`,
  );
  assert.ok(!page.includes("require.min.js"), "require.js script removed");
  assert.ok(!page.includes("MathJax.js"), "MathJax script removed");
  assert.ok(!page.includes("cdn.example"), "external style sheet removed");
  assert.ok(page.includes('<script type="text/javascript">window.x = 1;</script>'), "inline script kept");
  assert.match(page, /<meta charset="utf-8">/);
  assert.match(page, /"Noto Sans CJK JP"/);
  assert.match(page, /<html lang="ja">/);
});

Deno.test("makeOffline keeps an existing charset and leaves pages without kana unmarked", () => {
  const page = makeOffline(`<html><head><meta charset="utf-8" /></head><body>convnets</body></html>`);
  assert.equal(page.match(/charset/g)?.length, 1);
  assert.match(page, /<html>/);
});

/** Figures and plotly.js loaders in an executed notebook's outputs. */
async function countOutputs(ipynb: string): Promise<{ figures: number; loaders: number }> {
  const nb = JSON.parse(await Deno.readTextFile(ipynb));
  let figures = 0, loaders = 0;
  for (const cell of nb.cells ?? []) {
    for (const out of cell.outputs ?? []) {
      const data = out.data ?? {};
      if (data["application/vnd.plotly.v1+json"]) figures++;
      const html = Array.isArray(data["text/html"]) ? data["text/html"].join("") : data["text/html"] ?? "";
      if (html.includes(`${PLOTLY_LOADER_ATTRIBUTE}=`)) loaders++;
    }
  }
  return { figures, loaders };
}

/** Render the executed notebooks (from the notebook tests or `deno task notebooks`) whose HTML is missing or older. */
async function renderExecuted(): Promise<void> {
  const stale: string[] = [];
  try {
    for await (const e of Deno.readDir(EXECUTED_DIR)) {
      if (!e.isFile || !/^\d\.\d-.*\.ipynb$/.test(e.name)) continue;
      const ipynb = join(EXECUTED_DIR, e.name);
      const html = join(HTML_DIR, e.name.replace(/\.ipynb$/, ".html"));
      const [source, page] = await Promise.all([Deno.stat(ipynb), Deno.stat(html).catch(() => undefined)]);
      if (!page || (page.mtime ?? 0) < (source.mtime ?? 0)) stale.push(ipynb);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (stale.length && hasJupyter()) await renderNotebooks(stale);
}

async function htmlPages(): Promise<{ html: string; ipynb?: string; fixture: boolean }[]> {
  const pages: { html: string; ipynb?: string; fixture: boolean }[] = [];
  await renderExecuted();
  try {
    for await (const e of Deno.readDir(HTML_DIR)) {
      if (!e.isFile || !e.name.endsWith(".html")) continue;
      const ipynb = join(EXECUTED_DIR, e.name.replace(/\.html$/, ".ipynb"));
      const has = await Deno.stat(ipynb).then(() => true, () => false);
      pages.push({ html: join(HTML_DIR, e.name), ipynb: has ? ipynb : undefined, fixture: false });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return pages.sort((a, b) => a.html.localeCompare(b.html));
}

const PLOT_STATE = `(() => {
  const plots = [...document.querySelectorAll(".ch5-plot")];
  const drawn = plots.filter((el) => {
    const svg = el.querySelector(".main-svg");
    if (!svg) return false;
    const box = svg.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && el.querySelector(".trace, .hm, .slice, .imagelayer image") !== null;
  });
  return {
    plots: plots.length,
    drawn: drawn.length,
    fallbacks: document.querySelectorAll(".ch5-plot-fallback").length,
    notes: [...document.querySelectorAll(".ch5-plot-note")].map((n) => n.textContent),
    plotly: typeof window.Plotly === "object" ? window.Plotly.version : null,
  };
})()`;

const IMAGES = `Promise.all([...document.images].map((i) => i.decode().catch(() => {}))).then(() =>
  [...document.images].map((i) => ({ src: i.src.slice(0, 48), ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth })))`;

/** Families of installed fonts that cover Japanese, from fontconfig (empty when it cannot tell). */
async function japaneseFonts(): Promise<string[]> {
  try {
    const out = await new Deno.Command("fc-list", { args: [":lang=ja", "family"], stdout: "piped", stderr: "null" })
      .output();
    return new TextDecoder().decode(out.stdout).split("\n").flatMap((l) => l.split(",")).map((f) => f.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

async function checkPage(page: Page, html: string, expected: number): Promise<string[]> {
  const notes: string[] = [];
  const seen: { errors: PageError[]; requests: string[] } = await watchPage(page);
  await page.goto(pathToFileURL(html).href, { timeout: 60_000 });
  const ready = await page.waitForFunction(
    `(() => { const s = ${PLOT_STATE}; return s.drawn === s.plots && s.plots === ${expected}; })()`,
    { timeout: 30_000, polling: 200 },
  ).then(() => true, () => false);
  const state = await page.evaluate(PLOT_STATE) as Record<string, unknown>;
  assert.ok(ready, `${basename(html)}: expected ${expected} drawn plotly figures, got ${JSON.stringify(state)}`);
  assert.equal(state.fallbacks, 0, `${basename(html)}: static fallback pictures left: ${JSON.stringify(state)}`);
  assert.deepEqual(state.notes, [], `${basename(html)}: figure notes shown`);

  const images = await page.evaluate(IMAGES) as { src: string; ok: boolean }[];
  const broken = images.filter((i) => !i.ok);
  assert.deepEqual(broken, [], `${basename(html)}: images that did not decode`);

  const offsite = seen.requests.filter((u) => !/^(file|data|blob|about):/.test(u));
  assert.deepEqual(offsite, [], `${basename(html)}: requests that need a network`);

  // Let late errors (plotly's resize handlers, etc.) surface before judging.
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(seen.errors, [], `${basename(html)}: the page reported errors`);

  const hasKana = await page.evaluate(`(() => {
    const el = [...document.querySelectorAll(".jp-MarkdownOutput h1, .jp-MarkdownOutput h2, .jp-MarkdownOutput p, .jp-MarkdownOutput li")]
      .find((e) => /[\\u3040-\\u30ff]/.test(e.textContent));
    if (el) el.setAttribute("data-ch5-ja", "");
    return !!el;
  })()`) as boolean;
  if (hasKana) {
    const used = await fontsFor(page, "[data-ch5-ja]");
    const installed = await japaneseFonts();
    if (installed.length === 0) {
      notes.push(
        `no Japanese font installed, text is drawn with ${JSON.stringify(used)}: apt-get install fonts-noto-cjk`,
      );
    } else {
      const japanese = used.filter((f) => f.glyphCount > 0 && installed.includes(f.familyName));
      assert.ok(
        japanese.length > 0,
        `${basename(html)}: Japanese text drawn with ${JSON.stringify(used)}, none of the Japanese fonts ${installed}`,
      );
      notes.push(`Japanese drawn with ${japanese.map((f) => f.familyName).join(", ")}`);
    }
  }
  return notes;
}

/** Points per trace of each figure titled "Live: …" in an executed notebook. */
async function livePoints(ipynb: string): Promise<number[][]> {
  const doc = JSON.parse(await Deno.readTextFile(ipynb));
  // deno-lint-ignore no-explicit-any -- an executed notebook as JSON
  return doc.cells.flatMap((cell: { outputs?: { data?: Record<string, any> }[] }) =>
    (cell.outputs ?? []).map((o) => o.data?.["application/vnd.plotly.v1+json"]).filter((fig) =>
      fig?.layout?.title?.text?.startsWith("Live:")
    ).map((fig) => fig.data.map((t: { y: number[] }) => t.y.length))
  );
}

Deno.test({
  name: "notebook HTML renders offline in Chromium: every figure drawn, every image decoded, no errors",
  ignore: skip,
  async fn(t) {
    assert.ok(chromium, "Chromium is required under CI: apt-get install chromium (or set CHROMIUM=/path/to/chrome).");
    let pages = pagesAtStart;
    let tmp: string | undefined;
    if (pages.length === 0) {
      tmp = await Deno.makeTempDir({ prefix: "ch5-html-test-" });
      const [html] = await renderNotebooks([FIXTURE], { executedDir: tmp, htmlDir: tmp });
      pages = [{ html, ipynb: join(tmp, basename(FIXTURE)), fixture: true }];
    }
    await Deno.mkdir(SCREENSHOTS, { recursive: true });
    const browser = await launchChromium(chromium);
    try {
      for (const { html, ipynb, fixture } of pages) {
        await t.step(basename(html), async () => {
          const text = await Deno.readTextFile(html);
          const containers = text.match(/class="ch5-plot"/g)?.length ?? 0;
          let expected = containers;
          if (ipynb) {
            const counts = await countOutputs(ipynb);
            assert.equal(containers, counts.figures, `${basename(html)}: figures in the HTML vs. in ${ipynb}`);
            if (counts.figures > 0) {
              assert.ok(counts.loaders >= 1 && counts.loaders <= 2, `plotly.js carried ${counts.loaders} times`);
            }
            expected = counts.figures;
          }
          if (fixture) {
            assert.equal(expected, 4, "the fixture draws two figures, then two live ones");
            const counts = await countOutputs(ipynb!);
            assert.equal(counts.loaders, 1, "plotly.js travels once, with the first figure");
            // The live curves were updated in place: the saved outputs hold their final state, 3 epochs.
            assert.deepEqual(await livePoints(ipynb!), [[3, 3], [3, 3]]);
          }
          const page = await browser.newPage();
          const notes = await checkPage(page, html, expected);
          const shot = join(SCREENSHOTS, basename(html).replace(/\.html$/, ".png"));
          const height = Math.min(8000, await page.evaluate("document.documentElement.scrollHeight") as number);
          await page.setViewport({ width: 1100, height });
          await page.screenshot({ path: shot as `${string}.png` });
          await page.close();
          console.log(`  ${basename(html)}: ${expected} figures drawn; ${notes.join("; ")}; screenshot ${shot}`);
        });
      }
    } finally {
      await browser.close();
      if (tmp) await Deno.remove(tmp, { recursive: true });
    }
  },
});

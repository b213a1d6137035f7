/**
 * The real Jupyter UI, in a browser, as a learner uses it: `jupyter notebook`
 * on 127.0.0.1 with a token, the installed Chromium driven by puppeteer-core.
 *
 * - Notebook 5.1, Cell → Run All: the progress line redraws while it trains,
 *   the last cell finishes, no cell shows an error.
 * - `tests/fixtures/interrupt.ipynb`, Run All, the toolbar's Interrupt in the
 *   LAST epoch of a fit on a picture iterator: the training stops within a
 *   step and says where, the cell ends in a KeyboardInterrupt error, the cell
 *   below stops before doing anything (Deno's kernel runs queued cells even
 *   after an error; the workbook stops them, see `stopQueuedCell`), and the
 *   kernel is alive (that cell then runs); its plotly chart is drawn as
 *   `.js-plotly-plot`.
 * - An executed notebook that Jupyter did not sign (as after an edit outside
 *   Jupyter: its signature no longer matches) shows each chart's static
 *   picture with the one-line note on trusting the notebook.
 *
 * Screenshots go to `build/screenshots/ui-*.png`. The committed notebooks
 * are never written (autosave is turned off in the page, nothing is saved).
 * Without Jupyter or Chromium the test is skipped, except under `CI`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../lib/io/profile.ts";
import { TRUST_NOTE } from "../lib/notebook/plot.ts";
import { type Browser, findChromium, launchChromium, type Page, watchPage } from "../tools/chromium.ts";
import { executeNotebook } from "../tools/execute.ts";

const SCREENSHOTS = join(ROOT, "build", "screenshots");
const chromium = findChromium();
const hasJupyter = await new Deno.Command("jupyter", {
  args: ["notebook", "--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success, () => false);
const skip = (!chromium || !hasJupyter) && !Deno.env.get("CI");
if (skip) {
  console.warn("jupyter_ui_test: skipped, this machine lacks Chromium or Jupyter Notebook. Under CI=1 this fails.");
}

/** A Jupyter Notebook server for the repository, on a free port of 127.0.0.1, with a random token. */
async function startJupyter(): Promise<{ url: (path: string) => string; stop: () => Promise<void> }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const token = crypto.randomUUID().replaceAll("-", "");
  const child = new Deno.Command("jupyter", {
    args: [
      "notebook",
      "--no-browser",
      "--allow-root",
      "--ip=127.0.0.1",
      `--port=${port}`,
      `--NotebookApp.token=${token}`,
      `--notebook-dir=${ROOT}`,
    ],
    env: {
      CH5_PROFILE: "quick",
      CH5_DATA_SOURCE: Deno.env.get("CH5_DATA_SOURCE") ?? join(ROOT, "..", "shared", "datasets", "cats_and_dogs_small"),
    },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = (path: string) => `http://127.0.0.1:${port}/${path}?token=${token}`;
  for (let i = 0; i < 150; i++) {
    const ok = await fetch(url("api/status")).then((r) => (r.body?.cancel(), r.ok), () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** Open a notebook in the UI and wait for its kernel; autosave off, so the file is never written. */
async function open(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url, { waitUntil: "load", timeout: 120_000 });
  await page.waitForFunction(
    "window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()",
    { timeout: 120_000, polling: 200 },
  );
  await page.evaluate("Jupyter.notebook.set_autosave_interval(0)");
  return page;
}

/** Cell → Run All, through the menu. */
async function runAll(page: Page): Promise<void> {
  await page.click("#celllink");
  await page.click("#run_all_cells");
}

const IDLE = `document.querySelector("#kernel_indicator_icon").classList.contains("kernel_idle_icon")`;
const cellText = (index: number) => `Jupyter.notebook.get_cell(${index}).output_area.element[0].innerText`;
const codeCells = `Jupyter.notebook.get_cells().filter((c) => c.cell_type === "code")`;

async function shot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `ui-${name}.png`) as `${string}.png`;
  // Notebook 6 scrolls inside #site: make the window as tall as the notebook (at most 12,000 px) to see it all.
  const height = await page.evaluate(`document.querySelector("#notebook-container").scrollHeight + 160`) as number;
  await page.setViewport({ width: 1100, height: Math.min(12_000, height) });
  await page.screenshot({ path });
  return path;
}

Deno.test({
  name: "Jupyter UI: 5.1 runs all through the menu; progress redraws; Interrupt in a last epoch; an unsigned notebook",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    assert.ok(chromium, "Chromium is required under CI: apt-get install chromium");
    const jupyter = await startJupyter();
    const browser = await launchChromium(chromium, { offline: false });
    try {
      await t.step("5.1: Run All, the progress line redraws, every cell finishes, no error", async () => {
        const page = await open(browser, jupyter.url("notebooks/notebooks/5.1-introduction-to-convnets.ipynb"));
        const seen = await watchPage(page);
        const fitCell = await page.evaluate(
          `Jupyter.notebook.get_cells().findIndex((c) => c.get_text().includes("await fit(model"))`,
        ) as number;
        await runAll(page);
        const lines = new Set<string>();
        const end = Date.now() + 15 * 60_000;
        while (Date.now() < end) {
          const text = await page.evaluate(cellText(fitCell)) as string;
          for (const line of text.split("\n")) {
            if (/^Epoch \d\/5 +\d+\/\d+ \[/.test(line)) {
              lines.add(line.split(" - ")[0]);
            }
          }
          const done = await page.evaluate(
            `${IDLE} && ${codeCells}.every((c) => typeof c.input_prompt_number === "number")`,
          );
          if (done) break;
          await new Promise((r) => setTimeout(r, 300));
        }
        assert.ok(await page.evaluate(`${codeCells}.every((c) => typeof c.input_prompt_number === "number")`));
        assert.ok(lines.size >= 3, `the progress line redrew: ${[...lines].join(" | ")}`);
        assert.equal(await page.evaluate(`document.querySelectorAll(".output_error").length`), 0);
        const texts = await page.evaluate(`${codeCells}.map((c) => c.output_area.element[0].innerText)`) as string[];
        assert.match(texts.find((t) => t.includes("テスト精度")) ?? "", /data\/results\/5\.1\.json/, "results saved");
        assert.match(texts.at(-1)!, /Total params: /, "the last cell finished: its summary shows");
        const own = seen.errors.filter((e) => /ch5|plotly|deno/i.test(e.text));
        assert.deepEqual(own, [], "no browser-console errors from the workbook");
        console.log(`  5.1: ${lines.size} progress states seen; ${await shot(page, "5.1-run-all")}`);
        await page.close();
      });

      await t.step("Interrupt in the last epoch of an iterator fit: stops within a step, cell in error", async () => {
        const page = await open(browser, jupyter.url("notebooks/tests/fixtures/interrupt.ipynb"));
        await runAll(page);
        const fitCell = 3, nextCell = 4;
        // Press the toolbar's Interrupt a few steps into epoch 2 of 2.
        await page.waitForFunction(
          `/^Epoch 2\\/2 +([3-9]|\\d\\d)\\/60 /m.test(${cellText(fitCell)})`,
          { timeout: 10 * 60_000, polling: 100 },
        );
        await page.click(`button[data-jupyter-action="jupyter-notebook:interrupt-kernel"]`);
        // Idle again, with the queued cell below settled (Deno's kernel runs it; the workbook stops it at once).
        await page.waitForFunction(
          `${IDLE} && typeof Jupyter.notebook.get_cell(${nextCell}).input_prompt_number === "number"`,
          { timeout: 120_000, polling: 200 },
        );
        const text = await page.evaluate(cellText(fitCell)) as string;
        const stopped = /Interrupted at epoch 2\/2, step (\d+)\/60\. The model keeps its weights as of that step/.exec(
          text,
        );
        assert.ok(stopped, `the fit cell says where it stopped:\n${text}`);
        assert.ok(Number(stopped[1]) < 60, "within the epoch, not at its end");
        assert.match(text, /KeyboardInterrupt: Interrupted at epoch 2\/2, step \d+\/60/);
        const inError = (i: number) =>
          page.evaluate(
            `Jupyter.notebook.get_cell(${i}).output_area.element[0].querySelector(".output_error") !== null`,
          );
        assert.ok(await inError(fitCell), "the cell is in error");
        const below = await page.evaluate(cellText(nextCell)) as string;
        assert.doesNotMatch(
          below,
          /the cell after the training ran/,
          "Run All stopped: the cell below did not do its work",
        );
        assert.match(below, /KeyboardInterrupt: not run: Run All stopped at the interrupted cell above/);
        assert.ok(await page.evaluate(`document.querySelectorAll(".js-plotly-plot").length >= 1`), "plotly drew");
        const path = await shot(page, "interrupt");
        // The kernel is alive, with its variables: the cell below runs when the learner runs it.
        await new Promise((r) => setTimeout(r, 1500));
        await page.evaluate(`Jupyter.notebook.execute_cells([${nextCell}])`);
        await page.waitForFunction(`${cellText(nextCell)}.includes("the cell after the training ran")`, {
          timeout: 60_000,
          polling: 200,
        });
        console.log(`  interrupt: stopped at step ${stopped[1]}/60 of the last epoch; ${path}`);
        await page.close();
      });

      await t.step("an executed notebook Jupyter did not sign shows static charts and says to trust it", async () => {
        const dir = join(ROOT, "build", "ui-test");
        const executed = await executeNotebook(join(ROOT, "tests", "fixtures", "plots.ipynb"), dir);
        const page = await open(browser, jupyter.url(`notebooks/${executed.slice(ROOT.length + 1)}`));
        await page.waitForFunction(`document.querySelectorAll(".ch5-plot-fallback").length > 0`, {
          timeout: 30_000,
          polling: 200,
        });
        const state = await page.evaluate(`({
          trusted: Jupyter.notebook.trusted,
          pictures: document.querySelectorAll(".ch5-plot-fallback").length,
          notes: [...document.querySelectorAll(".ch5-plot-note")].map((n) => n.textContent),
          drawn: document.querySelectorAll(".js-plotly-plot").length,
        })`) as { trusted: boolean; pictures: number; notes: string[]; drawn: number };
        assert.equal(state.trusted, false);
        assert.equal(state.drawn, 0, "no script ran");
        assert.ok(state.pictures >= 2 && state.notes.length === state.pictures, JSON.stringify(state));
        assert.ok(state.notes.every((n) => n === TRUST_NOTE));
        console.log(
          `  unsigned notebook: ${state.pictures} static charts with the note; ${await shot(page, "untrusted")}`,
        );
        await page.close();
      });
    } finally {
      await browser.close();
      await jupyter.stop();
    }
  },
});

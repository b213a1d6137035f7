/**
 * `deno task notebooks` (tools/notebooks.ts): a summary of each notebook, its
 * time and its skips; exit 0 when the only gaps are downloads; a cell error
 * reads as the notebook, the cell and the error's first line. Two tiny
 * notebooks run on the real Deno kernel.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../lib/io/profile.ts";
import { runNotebooks, summarize } from "../tools/notebooks.ts";

function notebook(cells: string[]) {
  return {
    cells: cells.map((source) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source })),
    metadata: {
      kernelspec: { display_name: "Deno", language: "typescript", name: "deno" },
      language_info: { name: "typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

Deno.test("the summary: each notebook with its time and skips; only download skips keep exit 0", () => {
  const download = { what: "VGG16 ImageNet weights", reason: "download" as const, message: "m" };
  const ok = summarize([
    { name: "5.1-introduction-to-convnets.ipynb", seconds: 84.2, skips: [] },
    { name: "5.3-using-a-pretrained-convnet.ipynb", seconds: 12, skips: [download] },
  ]);
  assert.equal(ok.exitCode, 0);
  assert.match(ok.text, /5\.1-introduction-to-convnets\s+ok\s+84 s/);
  assert.match(
    ok.text,
    /5\.3-using-a-pretrained-convnet\s+skipped\s+12 s\n\s+skipped \(download not available\): VGG16/,
  );
  assert.match(ok.text, /All 2 notebooks ran to the end or stopped only where a download could not be had: 1 gap/);

  const other = summarize([{ name: "a.ipynb", seconds: 1, skips: [{ ...download, reason: "other" }] }]);
  assert.equal(other.exitCode, 1);
  const failed = summarize([{
    name: "a.ipynb",
    seconds: 1,
    skips: [],
    error: "a.ipynb, code cell 2 (x): Error: boom",
  }]);
  assert.equal(failed.exitCode, 1);
  assert.match(failed.text, /a\s+FAILED\s+1 s\n\s+a\.ipynb, code cell 2 \(x\): Error: boom\n1 of 1 notebooks failed\./);
});

Deno.test("real notebooks: a cell error names notebook, cell and first line; a skip notice is counted; the run goes on", async () => {
  const dir = join(ROOT, "build", "runner-test");
  await Deno.mkdir(dir, { recursive: true });
  const skipModule = new URL("../lib/notebook/skip.ts", import.meta.url).href;
  const failing = join(dir, "failing.ipynb");
  const skipping = join(dir, "skipping.ipynb");
  await Deno.writeTextFile(
    failing,
    JSON.stringify(notebook([
      "const answer = 42;",
      'throw new RangeError("first line of the message\\nsecond line");',
      'console.log("never runs");',
    ])),
  );
  await Deno.writeTextFile(
    skipping,
    JSON.stringify(notebook([
      `import { reportSkipped } from "${skipModule}";`,
      'await reportSkipped({ what: "test weights", reason: "download", message: "offline: skipped" });',
    ])),
  );
  const lines: string[] = [];
  try {
    const runs = await runNotebooks([failing, skipping], { outDir: join(dir, "out"), log: (l) => lines.push(l) });
    assert.equal(runs.length, 2);
    assert.equal(
      runs[0].error?.split("\n")[0],
      'failing.ipynb, code cell 2 (throw new RangeError("first line of the message\\nsecond line");): ' +
        "RangeError: first line of the message",
    );
    assert.ok(!runs[0].error?.includes("Traceback"), "no Python traceback");
    assert.deepEqual(runs[1].skips, [{
      what: "test weights",
      reason: "download",
      message: "offline: skipped",
      cell: 1,
    }]);
    assert.equal(runs[1].error, undefined);
    // The failing notebook's executed copy is kept, with the error in cell 2 and nothing after it.
    const executed = JSON.parse(await Deno.readTextFile(join(dir, "out", "failing.ipynb")));
    assert.equal(executed.cells[1].outputs[0].output_type, "error");
    assert.deepEqual(executed.cells[2].outputs, []);
    assert.equal(summarize(runs).exitCode, 1);
    assert.equal(summarize(runs.slice(1)).exitCode, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("offline, a notebook stopped by a DownloadError is a download gap: one line each, the fix printed once, exit 0", async () => {
  const dir = join(ROOT, "build", "runner-test-offline");
  await Deno.mkdir(dir, { recursive: true });
  const offline = (name: string) => {
    const path = join(dir, name);
    const cell = 'const e = new Error("cannot download https://example.org/cats.zip (offline): put the pictures in ' +
      'data/cats_and_dogs_small, or run deno task data --from PATH"); e.name = "DownloadError"; throw e;';
    return Deno.writeTextFile(path, JSON.stringify(notebook(["const a = 1;", cell, "const b = 2;"]))).then(() => path);
  };
  const lines: string[] = [];
  try {
    const runs = await runNotebooks([await offline("a.ipynb"), await offline("b.ipynb")], {
      outDir: join(dir, "out"),
      log: (l) => lines.push(l),
    });
    assert.deepEqual(runs.map((r) => r.error), [undefined, undefined]);
    assert.deepEqual(runs.map((r) => r.skips.map((s) => s.what)), [
      ["the cats-vs-dogs pictures (code cell 2 stopped)"],
      ["the cats-vs-dogs pictures (code cell 2 stopped)"],
    ]);
    const { text, exitCode } = summarize(runs);
    assert.equal(exitCode, 0);
    assert.match(text, /^ {2}a +skipped +\d+ s\n {6}skipped \(download not available\): the cats-vs-dogs pictures/m);
    assert.equal(text.match(/put the pictures in data\/cats_and_dogs_small/g)?.length, 1, "the fix, once");
    assert.equal(lines.join("\n").match(/put the pictures/g), null, "not in the progress log either");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a kernel that dies is a failure of that notebook, named by its cell; the run goes on", async () => {
  const dir = join(ROOT, "build", "runner-test-dead");
  await Deno.mkdir(dir, { recursive: true });
  const dying = join(dir, "dying.ipynb");
  await Deno.writeTextFile(dying, JSON.stringify(notebook(["const a = 1;", "Deno.exit(3);", "const b = 2;"])));
  try {
    const [run] = await runNotebooks([dying], { outDir: join(dir, "out"), log: () => {} });
    assert.match(
      run.error ?? "",
      /^dying\.ipynb, code cell 2 \(Deno\.exit\(3\);\): DeadKernelError: the Deno kernel died/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

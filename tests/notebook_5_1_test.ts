import assert from "node:assert/strict";
import { runNotebook } from "./notebook_helpers.ts";
import { notebookProblems } from "../tools/check_notebooks.ts";
import { sourceNotebooks } from "../tools/execute.ts";
import { dataPath } from "../lib/io/profile.ts";
import { BOOK } from "../lib/data/book.ts";

Deno.test("committed notebooks carry no outputs and run on the Deno kernel", async () => {
  const notebooks = await sourceNotebooks();
  assert.ok(notebooks.length >= 1);
  for (const path of notebooks) assert.deepEqual(notebookProblems(await Deno.readTextFile(path)), [], path);
});

Deno.test("notebookProblems finds outputs, execution counts and a foreign kernel", () => {
  const doc = {
    metadata: { kernelspec: { name: "python3" } },
    cells: [{ cell_type: "code", execution_count: 3, outputs: [{ output_type: "stream", text: "x" }], source: "" }],
  };
  assert.deepEqual(notebookProblems(JSON.stringify(doc)), [
    "its kernelspec is not the Deno kernel",
    "cell 0 carries outputs",
    "cell 0 has an execution count",
  ]);
});

Deno.test({
  name:
    "notebook 5.1 executes headlessly: the book's convnet trains 5 epochs on real MNIST digits, test accuracy > 0.9",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    const nb = await runNotebook("5.1-introduction-to-convnets.ipynb");
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    for (const cell of nb.cells) assert.equal(cell.results, 0, `a stray Out[n] under ${cell.source.slice(0, 80)}`);
    assert.match(nb.cells[0].text, /^backend: [\w-]+ \(/m);

    // What the reader is shown: the two summaries of listings 5.1–5.2, the padding/strides table, the pooled grid.
    const summary = nb.cells.find((c) => c.source.startsWith("const model = mnistConvnet()"))!;
    assert.match(summary.text, /Total params: 93,322/);
    assert.match(summary.text, /flatten_1 \(Flatten\)\s+\(None, 576\)/);
    assert.match(nb.text, /^5×5\s+3×3\s+valid\s+1\s+3×3$/m);
    assert.match(nb.text, /^5×5\s+3×3\s+same\s+1\s+5×5$/m);
    assert.match(nb.text, /^5×5\s+3×3\s+valid\s+2\s+2×2$/m);
    assert.match(nb.text, /^5×5\s+3×3\s+same\s+2\s+3×3$/m);
    assert.match(nb.text, /max pooled 2×2:\n.*\[\[4, 2\],\s*\[2, 8\]\]/s);
    assert.match(nb.text, /\(None, 22, 22, 64\)/, "model_no_max_pool ends at 22×22×64");

    // The results file this run wrote.
    const results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.1.json")));
    assert.ok(Date.parse(results.savedAt) >= started - 1000, "written by this run");
    assert.equal(results.profile, "quick");
    assert.equal(results.epochs, BOOK["5.1"].settings.epochs, "the book's 5 epochs, in the quick profile too");
    assert.equal(results.history.acc.length, 5);
    assert.ok(results.history.acc[4] > results.history.acc[0], "training accuracy rises");
    assert.match(results.data, /10,000|10000/, "the quick profile's 10,000 training digits");
    assert.ok(results.testAcc > 0.9 && results.testAcc <= 1, `test accuracy ${results.testAcc}`);
    // The reader sees this accuracy beside the book's 0.9908.
    assert.match(nb.text, new RegExp(`テスト精度\\s+${results.testAcc.toFixed(4)}\\s+0\\.9908`));
  },
});

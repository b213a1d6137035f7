import assert from "node:assert/strict";
import { runNotebook } from "./notebook_helpers.ts";
import { notebookProblems } from "../tools/check_notebooks.ts";
import { sourceNotebooks } from "../tools/html.ts";

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
  name: "notebook 5.1 executes headlessly: backend line, 93,322 params, shapes, curves, test accuracy > 0.9",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const nb = await runNotebook("5.1-introduction-to-convnets.ipynb");
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    assert.match(nb.cells[0].text, /^backend: (node-gpu|node|webgpu|wasm|cpu) \(/m);
    // Border effects: 5×5 input, 3×3 window → 3×3 valid, 5×5 same; strides 2 → 2×2 / 3×3.
    assert.match(nb.text, /5×5\s+3×3\s+valid\s+1\s+3×3/);
    assert.match(nb.text, /5×5\s+3×3\s+same\s+1\s+5×5/);
    assert.match(nb.text, /5×5\s+3×3\s+valid\s+2\s+2×2/);
    assert.match(nb.text, /max pooled 2×2/);
    assert.match(nb.text, /\(None, 22, 22, 64\)/);
    assert.match(nb.text, /Total params: 93,322/);
    assert.match(nb.text, /Epoch 4\/4 +\d+\/\d+ \[=+\] - .* - acc: [\d.]+ - val_loss/);
    assert.ok(nb.count("application/vnd.plotly.v1+json") >= 2, "accuracy and loss figures");
    const acc = nb.text.match(/test_acc: ([\d.]+)/);
    assert.ok(acc, "test accuracy printed");
    assert.ok(Number(acc[1]) > 0.9, `quick-profile test accuracy ${acc[1]} > 0.9`);
  },
});

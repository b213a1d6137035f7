import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  formatModelSummary,
  formatTable,
  inJupyter,
  summaryTable,
  tableHtml,
  thousands,
} from "../lib/notebook/display.ts";
import { mnistConvnet, smallConvnet } from "../lib/models/convnets.ts";
import { initBackend } from "../lib/backend/chain.ts";

await initBackend({ backend: "cpu" });

Deno.test("outside a kernel, inJupyter is false (Deno.jupyter's getter throws there)", () => {
  assert.equal(inJupyter(), false);
});

Deno.test("the MNIST convnet's summary matches the book: 93,322 params and its shapes", () => {
  const text = formatModelSummary(mnistConvnet());
  assert.match(text, /Total params: 93,322/);
  assert.match(text, /Trainable params: 93,322/);
  assert.match(text, /Non-trainable params: 0/);
  assert.match(text, /conv2d_1 \(Conv2D\)\s+\(None, 26, 26, 32\)\s+320/);
  assert.match(text, /max_pooling2d_2 \(MaxPooling2D\)\s+\(None, 5, 5, 64\)\s+0/);
  assert.match(text, /flatten_1 \(Flatten\)\s+\(None, 576\)/);
  assert.match(text, /dense_2 \(Dense\)\s+\(None, 10\)\s+650/);
});

Deno.test("the cats-vs-dogs convnet has the book's 3,453,121 params, with or without dropout", () => {
  assert.equal(summaryTable(smallConvnet()).totalParams, 3_453_121);
  const withDropout = summaryTable(smallConvnet({ dropout: true }));
  assert.equal(withDropout.totalParams, 3_453_121);
  assert.ok(withDropout.rows.some((r) => r.layer === "dropout_1 (Dropout)"));
});

Deno.test("the cats-vs-dogs convnet refuses inputs its pooling stages would shrink to nothing", () => {
  assert.throws(() => smallConvnet({ size: 38 }), /at least 46×46/);
  assert.equal(smallConvnet({ size: 46 }).outputs[0].shape[1], 1);
});

Deno.test("frozen weights count as non-trainable", () => {
  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.dense({ units: 1, trainable: false })],
  });
  const table = summaryTable(model);
  assert.deepEqual([table.totalParams, table.trainableParams, table.nonTrainableParams], [21, 16, 5]);
});

Deno.test("tables align in text and escape HTML", () => {
  const rows = [{ name: "a<b", acc: 0.912345 }, { name: "long name", acc: 1 }];
  assert.equal(
    formatTable(rows),
    ["name       acc", "---------  ------", "a<b        0.9123", "long name  1"].join("\n"),
  );
  assert.match(tableHtml(rows), /<td>a&lt;b<\/td><td>0\.9123<\/td>/);
  assert.equal(thousands(138357544), "138,357,544");
});

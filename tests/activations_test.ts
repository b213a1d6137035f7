import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend/chain.ts";
import { smallConvnet } from "../lib/models/convnets.ts";
import {
  activationGrid,
  activationModel,
  pickLayers,
  showActivations,
  standardizeChannel,
} from "../lib/viz/activations.ts";

await initBackend({ backend: "cpu" });

const CAT = new URL("../../shared/datasets/cats_and_dogs_small/test/cats/cat.1700.jpg", import.meta.url).pathname;

Deno.test("activationModel: the first 8 layers of the 5.2 convnet give the book's shapes", () => {
  const model = smallConvnet();
  const acts = activationModel(model, 8);
  assert.deepEqual(acts.outputs.map((o) => o.shape), [
    [null, 148, 148, 32],
    [null, 74, 74, 32],
    [null, 72, 72, 64],
    [null, 36, 36, 64],
    [null, 34, 34, 128],
    [null, 17, 17, 128],
    [null, 15, 15, 128],
    [null, 7, 7, 128],
  ]);
  // Building it leaves the model usable (no extra graph nodes on its layers).
  assert.equal(model.getLayer("conv2d_1").inboundNodes.length, 1);
  assert.equal(model.outputs[0].shape[1], 1);
});

Deno.test("activationModel: named layers, predicted values match the model's own layers", () => {
  const model = smallConvnet({ size: 64 });
  const acts = activationModel(model, ["conv2d_1", "max_pooling2d_4"]);
  const x = tf.randomUniform([1, 64, 64, 3], 0, 1, "float32", 1);
  const [first, last] = acts.predict(x) as tf.Tensor[];
  assert.deepEqual(first.shape, [1, 62, 62, 32]);
  assert.deepEqual(last.shape, [1, 2, 2, 128]);
  const direct = model.getLayer("conv2d_1").apply(x) as tf.Tensor;
  assert.ok(first.sub(direct).abs().max().dataSync()[0] < 1e-5);
  tf.dispose([x, first, last, direct]);
});

Deno.test("pickLayers: clear errors for unknown names and counts", () => {
  const model = smallConvnet({ size: 64 });
  assert.throws(() => pickLayers(model, ["conv2d_9"]), /no layer named "conv2d_9"; its layers are: conv2d_1, /);
  assert.throws(() => pickLayers(model, 0), /ask for 1 to 11, not 0/);
  assert.throws(() => pickLayers(model, 12), /ask for 1 to 11, not 12/);
});

Deno.test("standardizeChannel: (v − mean)/std·64 + 128, clipped; a constant channel is grey 128", () => {
  assert.deepEqual(Array.from(standardizeChannel([2, 2, 2, 2])), [128, 128, 128, 128]);
  // mean 0, std 1 → −1 → 64, +1 → 192; 10 σ clips.
  assert.deepEqual(Array.from(standardizeChannel([-1, 1, -1, 1])), [64, 192, 64, 192]);
  const clipped = standardizeChannel([...Array(99).fill(0), 100]);
  assert.equal(clipped[99], 255);
});

Deno.test("activationGrid: 32 channels at 16 per row → 2 rows; a constant channel is a uniform grey tile", async () => {
  const values = tf.tidy(() => {
    const noise = tf.randomNormal([1, 4, 4, 32], 0, 1, "float32", 3);
    const keep = tf.oneHot(5, 32).reshape([1, 1, 1, 32]);
    return noise.mul(tf.sub(1, keep)).add(keep.mul(3.7)); // channel 5 is constant 3.7
  });
  const grid = await activationGrid(values, { scale: 1, margin: 1 });
  assert.deepEqual([grid.rows, grid.cols], [2, 16]);
  assert.deepEqual([grid.image.width, grid.image.height, grid.image.channels], [16 * 4 + 15, 2 * 4 + 1, 1]);
  const x0 = 5 * (4 + 1);
  for (let y = 0; y < 4; y++) {
    for (let x = x0; x < x0 + 4; x++) assert.equal(grid.image.data[y * grid.image.width + x], 128);
  }
  // A random channel is not uniform.
  const tile0 = Array.from({ length: 4 }, (_, x) => grid.image.data[x]);
  assert.ok(new Set(tile0).size > 1);
  assert.deepEqual([grid.png[1], grid.png[2], grid.png[3]], [0x50, 0x4e, 0x47]); // "PNG"
  values.dispose();
});

Deno.test("activationGrid: small maps are zoomed, a title adds a band, bad shapes are refused", async () => {
  const t = tf.randomNormal([1, 7, 7, 3]);
  const grid = await activationGrid(t, { imagesPerRow: 16 });
  assert.equal(grid.cols, 3);
  assert.equal(grid.image.width, 3 * 35 + 2); // 7 px × 5 → 35 px tiles
  const titled = await activationGrid(t, { title: "max_pooling2d_4", colormap: "viridis" });
  assert.equal(titled.image.channels, 3);
  assert.ok(titled.image.height >= grid.image.height);
  await assert.rejects(() => activationGrid(tf.zeros([1, 10])), /shape \(1, h, w, c\), got \[1,10\]/);
  t.dispose();
});

Deno.test("showActivations: one grid per spatial layer, from a tensor or a picture file", async () => {
  const model = smallConvnet({ size: 64 });
  const before = tf.memory().numTensors;
  const shown = await showActivations(model, tf.zeros([1, 64, 64, 3]), { layers: 10 });
  assert.deepEqual(shown.map((s) => s.name), [
    "conv2d_1",
    "max_pooling2d_1",
    "conv2d_2",
    "max_pooling2d_2",
    "conv2d_3",
    "max_pooling2d_3",
    "conv2d_4",
    "max_pooling2d_4",
  ]); // flatten_1 and dense_1 are skipped
  const fromFile = await showActivations(model, CAT, { layers: ["conv2d_1"] });
  assert.deepEqual(fromFile[0].shape, [1, 62, 62, 32]);
  assert.ok(tf.memory().numTensors <= before + 1, "no tensors leak (the zeros input is the caller's)");
});

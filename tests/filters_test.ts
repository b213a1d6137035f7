/**
 * The filter visualisation of notebook 5.4 (listings 5.37–5.39, exported from
 * its cells to lib/viz/filters.ts): gradient ascent raises the filter's
 * activation, the picture is the book's 0–255 integers, and the grid is the
 * book's 547×547.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "@ch5/engine";
import { deprocessImage, filterGrid, generatePattern } from "../lib/viz/filters.ts";

await initBackend({ backend: "wasm" }); // the 547×547 grid climbs 64 patterns × 40 steps: wasm, not the plain-JS cpu backend

/** Zero-mean 3×3 kernels: a grey picture barely excites them, structure does. */
function zeroMean(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => {
    const w = tf.randomNormal(shape, 0, 0.2, "float32", seed);
    return w.sub(w.mean([0, 1, 2], true));
  });
}

/** A small VGG-like chain: c1 (8) → pool → c2 (16) → pool. */
function tinyConvnet(): tf.Sequential {
  const model = tf.sequential({
    name: "tiny",
    layers: [
      tf.layers.conv2d({
        name: "c1",
        filters: 8,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        inputShape: [null, null, 3] as unknown as number[],
      }),
      tf.layers.maxPooling2d({ name: "p1", poolSize: 2 }),
      tf.layers.conv2d({ name: "c2", filters: 16, kernelSize: 3, padding: "same", activation: "relu" }),
      tf.layers.maxPooling2d({ name: "p2", poolSize: 2 }),
    ],
  });
  model.getLayer("c1").setWeights([zeroMean([3, 3, 3, 8], 1), tf.fill([8], 0.1)]);
  model.getLayer("c2").setWeights([zeroMean([3, 3, 8, 16], 2), tf.fill([16], 0.1)]);
  return model;
}

function meanActivation(model: tf.LayersModel, layer: string, filter: number, x: tf.Tensor): number {
  return tf.tidy(() => {
    const sub = tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tf.SymbolicTensor });
    const y = sub.predict(x) as tf.Tensor4D;
    return y.slice([0, 0, 0, filter], [1, -1, -1, 1]).mean().dataSync()[0];
  });
}

Deno.test("generatePattern: 40 steps of gradient ascent raise the filter's mean activation at least 3×", async () => {
  const model = tinyConvnet();
  const before = tf.memory().numTensors;
  const { image, losses } = await generatePattern(model, "c2", 3, 32);
  assert.equal(tf.memory().numTensors, before + 1, "only the picture is left");
  assert.equal(losses.length, 40);
  assert.ok(losses[0] > 0, `the grey start activates filter 3 (${losses[0]})`);
  assert.ok(losses[39] >= 3 * losses[0], `${losses[0]} → ${losses[39]}`);
  assert.ok(losses.every((v, i) => i === 0 || v >= losses[i - 1] - 1e-6), "every step climbs");
  const start = meanActivation(model, "c2", 3, tf.fill([1, 32, 32, 3], 138));
  assert.ok(losses[39] > 3 * start, "well above a flat grey picture");
  assert.deepEqual(image.shape, [32, 32, 3]);
  assert.equal(image.dtype, "int32");
  assert.ok(new Set(image.dataSync()).size > 50, "a pattern, not a flat picture");
  image.dispose();
  await assert.rejects(() => generatePattern(model, "block1_conv1", 0), /block1_conv1/);
});

Deno.test("deprocessImage: the book's normalisation to 0–255 integers", () => {
  const x = tf.tensor3d([0, 1, 2, 3], [2, 2, 1]);
  const d = deprocessImage(x);
  assert.equal(d.dtype, "int32");
  // std of [0,1,2,3] is √1.25: (x − 1.5)/1.118·0.1 + 0.5 → 0.366, 0.455, 0.545, 0.634 → ×255, truncated.
  assert.deepEqual(Array.from(d.dataSync()), [93, 116, 138, 161]);
  const big = deprocessImage(tf.tensor3d([...Array(99).fill(0), 1000], [1, 100, 1]));
  assert.deepEqual(Array.from(big.dataSync()).slice(98), [124, 255], "an outlier is clipped to 255");
  tf.dispose([x, d, big]);
});

Deno.test("filterGrid: 8×8 tiles of 64 px with 5 px black margins make the book's 547×547 grid", async () => {
  const model = tf.sequential({
    name: "wide",
    layers: [tf.layers.conv2d({ name: "c1", filters: 64, kernelSize: 1, activation: "relu", inputShape: [64, 64, 3] })],
  });
  const grid = await filterGrid(model, "c1");
  assert.deepEqual(grid.shape, [547, 547, 3]);
  const pixels = await grid.array() as number[][][];
  for (const k of [64, 68, 133, 546 - 64 - 4]) {
    assert.ok(pixels[k].every((px) => px.every((v) => v === 0)), `row ${k} is a black margin`);
    assert.ok(pixels.every((row) => row[k].every((v) => v === 0)), `column ${k} is a black margin`);
  }
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 8; j++) {
      const tile = pixels.slice(i * 69, i * 69 + 64).flatMap((row) => row.slice(j * 69, j * 69 + 64));
      assert.ok(tile.some((px) => px.some((v) => v > 0)), `tile (${i}, ${j}) holds a pattern`);
    }
  }
  grid.dispose();
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend/chain.ts";
import { deprocessImage, filterGrid, filterPattern, filterPatterns } from "../lib/viz/filters.ts";

await initBackend({ backend: "cpu" });

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

/** The starting picture of filter `i`, as filterPatterns makes it. */
function start(size: number, seed: number): tf.Tensor4D {
  return tf.tidy(() =>
    tf.randomUniform([size * size * 3], 0, 20, "float32", seed).add(128).reshape([1, size, size, 3])
  );
}

function meanActivation(model: tf.LayersModel, layer: string, filter: number, x: tf.Tensor): number {
  return tf.tidy(() => {
    const sub = tf.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tf.SymbolicTensor });
    const y = sub.predict(x) as tf.Tensor4D;
    return y.slice([0, 0, 0, filter], [1, -1, -1, 1]).mean().dataSync()[0];
  });
}

Deno.test("filterPattern: gradient ascent raises the filter's mean activation at least 3×", async () => {
  const model = tinyConvnet();
  const p = await filterPattern(model, "c2", 3, { size: 32, steps: 40, seed: 10 });
  assert.ok(p.lossBefore > 0, `the start activates filter 3 (${p.lossBefore})`);
  assert.ok(p.lossAfter >= 3 * p.lossBefore, `${p.lossBefore} → ${p.lossAfter}`);
  assert.deepEqual([p.image.width, p.image.height, p.image.channels, p.image.data.length], [32, 32, 3, 32 * 32 * 3]);
  assert.ok(new Set(p.image.data).size > 50, "a pattern, not a flat picture");
  // The loss is the layer's own mean activation on the starting picture (the
  // single-filter kernel path agrees with the full layer).
  const x0 = start(32, 10 + 3);
  const expected = meanActivation(model, "c2", 3, x0);
  assert.ok(Math.abs(p.lossBefore - expected) < 1e-4 * Math.max(1, expected), `${p.lossBefore} vs ${expected}`);
  x0.dispose();
});

Deno.test("filterPatterns: a batch of filters gives the same patterns as one filter at a time", async () => {
  const model = tinyConvnet();
  const options = { size: 16, steps: 8, seed: 5 };
  const before = tf.memory().numTensors;
  const batched = await filterPatterns(model, "c2", [0, 7, 2, 11], { ...options, batchSize: 4 });
  const single = await filterPatterns(model, "c2", [0, 7, 2, 11], { ...options, batchSize: 1 });
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  assert.deepEqual(batched.map((p) => p.filterIndex), [0, 7, 2, 11]);
  for (const [i, b] of batched.entries()) {
    const s = single[i];
    assert.ok(Math.abs(b.lossAfter - s.lossAfter) <= 1e-3 * Math.max(1, Math.abs(s.lossAfter)));
    let maxDiff = 0;
    for (let k = 0; k < b.image.data.length; k++) {
      maxDiff = Math.max(maxDiff, Math.abs(b.image.data[k] - s.image.data[k]));
    }
    assert.ok(maxDiff <= 1, `filter ${b.filterIndex}: pixels differ by ${maxDiff}`);
  }
});

Deno.test("filterPattern: a pooling layer (the generic path) also climbs", async () => {
  const model = tinyConvnet();
  const p = await filterPattern(model, "p2", 5, { size: 16, steps: 20, seed: 2 });
  assert.ok(p.lossAfter > 2 * p.lossBefore && p.lossAfter > 0, `${p.lossBefore} → ${p.lossAfter}`);
  const x0 = start(16, 2 + 5);
  const expected = meanActivation(model, "p2", 5, x0);
  assert.ok(Math.abs(p.lossBefore - expected) < 1e-4 * Math.max(1, expected));
  x0.dispose();
});

Deno.test("filterPattern: clear errors for a missing layer or filter", async () => {
  const model = tinyConvnet();
  await assert.rejects(
    () => filterPattern(model, "block1_conv1", 0),
    /no layer named "block1_conv1"; its layers are: c1, p1, c2, p2/,
  );
  await assert.rejects(() => filterPattern(model, "c1", 8), /has 8 filters \(0 to 7\); filter 8 does not exist/);
});

Deno.test("deprocessImage: the book's normalisation to 0–255 integers, per picture", () => {
  const x = tf.tensor4d([0, 1, 2, 3, 100, 101, 102, 103], [2, 2, 2, 1]);
  const d = deprocessImage(x);
  assert.equal(d.dtype, "int32");
  const v = Array.from(d.dataSync());
  // std of [0,1,2,3] is √1.25: (x − 1.5)/1.118·0.1 + 0.5 → 0.366, 0.455, 0.545, 0.634 → ×255, truncated.
  assert.deepEqual(v.slice(0, 4), [93, 116, 138, 161]);
  assert.deepEqual(v.slice(4), v.slice(0, 4), "statistics are per picture");
  const big = deprocessImage(tf.tensor3d([...Array(99).fill(0), 1000], [1, 100, 1]));
  assert.deepEqual(Array.from(big.dataSync()).slice(98), [124, 255], "an outlier is clipped to 255");
  tf.dispose([x, d, big]);
});

Deno.test("filterGrid: tiles filter i at row ⌊i/cols⌋, column i mod cols, margins between", async () => {
  const model = tinyConvnet();
  const grid = await filterGrid(model, "c1", { count: 6, cols: 3, size: 10, margin: 2, steps: 2, seed: 1 });
  assert.deepEqual([grid.image.width, grid.image.height], [3 * 10 + 2 * 2, 2 * 10 + 2]);
  assert.deepEqual(grid.patterns.map((p) => p.filterIndex), [0, 1, 2, 3, 4, 5]);
  const p4 = grid.patterns[4].image; // row 1, column 1
  const x0 = 12, y0 = 12, W = grid.image.width;
  for (let y = 0; y < 10; y++) {
    for (let x = 0; x < 10; x++) {
      for (let k = 0; k < 3; k++) {
        assert.equal(grid.image.data[((y0 + y) * W + x0 + x) * 3 + k], p4.data[(y * 10 + x) * 3 + k]);
      }
    }
  }
  assert.equal(grid.image.data[(10 * W + 5) * 3], 0, "black margin");
});

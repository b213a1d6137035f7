/**
 * The Grad-CAM of notebook 5.4 (listings 5.42–5.43, exported from its cells
 * to lib/viz/gradcam.ts) on models whose answer is known: the heatmap points
 * at the quadrant that drives the class.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "@ch5/engine";
import { smallConvnet } from "../lib/models/small_convnet.ts";
import { gradCam, postprocessHeatmap } from "../lib/viz/gradcam.ts";
import { chainLayers, splitAt } from "../lib/models/submodel.ts";

await initBackend({ backend: "cpu" });

const S = 32;

/**
 * A 32×32 gray picture classifier: conv "detect" has a bright-spot channel
 * (relu(sum − 0.5)) and a dark channel (relu(0.5 − sum)) plus two dead ones;
 * class 1 ("bright") reads the first through global average pooling, class 0
 * the second.
 */
function detector(options: { dense?: number[][] } = {}): tf.Sequential {
  const model = tf.sequential({
    name: "detector",
    layers: [
      tf.layers.conv2d({
        name: "detect",
        filters: 4,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        inputShape: [S, S, 1],
      }),
      tf.layers.globalAveragePooling2d({ name: "gap" }),
      tf.layers.dense({ name: "predictions", units: 2, activation: "softmax" }),
    ],
  });
  const k = Array.from({ length: 9 }, () => [[1 / 9, -1 / 9, 0, 0]]);
  model.getLayer("detect").setWeights([tf.tensor4d(k.flat(2), [3, 3, 1, 4]), tf.tensor1d([-0.5, 0.5, -10, -10])]);
  const dense = options.dense ?? [[-4, 4], [4, -4], [0, 0], [0, 0]];
  model.getLayer("predictions").setWeights([tf.tensor2d(dense), tf.zeros([2])]);
  return model;
}

/** Dark picture with a bright 12×12 square in the bottom-right quadrant, plus faint noise. */
function pictureWithSpot(): tf.Tensor4D {
  return tf.tidy(() => {
    const spot = tf.buffer([1, S, S, 1]);
    for (let y = 18; y < 30; y++) for (let x = 18; x < 30; x++) spot.set(1, 0, y, x, 0);
    return spot.toTensor().add(tf.randomUniform([1, S, S, 1], 0, 0.05, "float32", 4)) as tf.Tensor4D;
  });
}

interface Heatmap {
  data: Float32Array;
  height: number;
  width: number;
}

/** Run the notebook's listing 5.42 then 5.43 for class `classIndex` (one sigmoid unit: 0 is 1 − output). */
function cam(model: tf.LayersModel, x: tf.Tensor, layerName: string, classIndex: number): Heatmap {
  const units = (model.outputs[0].shape as number[])[1];
  const classOutput = units === 1
    ? (preds: tf.Tensor) => classIndex === 1 ? preds : tf.sub(1, preds)
    : (preds: tf.Tensor) => preds.slice([0, classIndex], [1, 1]);
  const raw = gradCam(model, x, layerName, classOutput);
  const heatmap = postprocessHeatmap(raw);
  const [height, width] = heatmap.shape;
  const data = heatmap.dataSync() as Float32Array;
  tf.dispose([raw, heatmap]);
  return { data, height, width };
}

/** Share of the heatmap's mass in the quadrant (rows y0…, columns x0…) of half size. */
function massIn(h: Heatmap, qy: number, qx: number): number {
  let inside = 0, total = 0;
  for (let y = 0; y < h.height; y++) {
    for (let x = 0; x < h.width; x++) {
      const v = h.data[y * h.width + x];
      total += v;
      if (Math.floor(y / (h.height / 2)) === qy && Math.floor(x / (h.width / 2)) === qx) inside += v;
    }
  }
  return inside / total;
}

Deno.test("gradCam: the evidence for a class lies in the quadrant that drives its score", () => {
  const model = detector();
  const x = pictureWithSpot();
  const bright = cam(model, x, "detect", 1);
  assert.deepEqual([bright.height, bright.width], [S, S]);
  const share = massIn(bright, 1, 1);
  assert.ok(share > 0.7, `bottom-right holds ${(share * 100).toFixed(1)}% of the "bright" map`);
  assert.equal(Math.max(...bright.data), 1, "normalised to a maximum of 1");
  assert.ok(Math.min(...bright.data) >= 0, "ReLU'd");
  // The "dark" class's evidence is everywhere but the spot.
  const dark = cam(model, x, "detect", 0);
  assert.ok(massIn(dark, 1, 1) < 0.15, `dark map in the spot quadrant: ${massIn(dark, 1, 1)}`);
  x.dispose();
});

Deno.test("postprocessHeatmap: a zero gradient gives an all-zero heatmap, no NaN (the book would divide 0 by 0)", () => {
  const model = detector({ dense: [[0, 0], [0, 0], [0, 0], [0, 0]] });
  const x = pictureWithSpot();
  assert.ok(cam(model, x, "detect", 1).data.every((v) => v === 0), "all zeros");
  // And a map that is all negative before the ReLU.
  const flipped = detector({ dense: [[0, -4], [0, 0], [0, 0], [0, 0]] });
  assert.ok(cam(flipped, tf.ones([1, S, S, 1]), "detect", 1).data.every((v) => v === 0));
  x.dispose();
});

Deno.test("gradCam: a one-unit sigmoid model explains the output, and 1 − output for the other class", () => {
  const model = tf.sequential({
    name: "binary",
    layers: [
      tf.layers.conv2d({
        name: "detect",
        filters: 4,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        inputShape: [S, S, 1],
      }),
      tf.layers.globalAveragePooling2d({ name: "gap" }),
      tf.layers.dense({ name: "dense_2", units: 1, activation: "sigmoid" }),
    ],
  });
  model.getLayer("detect").setWeights(detector().getLayer("detect").getWeights());
  model.getLayer("dense_2").setWeights([tf.tensor2d([[4], [-4], [0], [0]]), tf.zeros([1])]);
  const x = pictureWithSpot();
  assert.ok(massIn(cam(model, x, "detect", 1), 1, 1) > 0.7, "the output points at the spot");
  assert.ok(massIn(cam(model, x, "detect", 0), 1, 1) < 0.15, "1 − output points away from it");
  x.dispose();
});

Deno.test("gradCam on the 5.2 convnet: conv2d_4 gives 15×15 at 150 px, max_pooling2d_4 7×7, no leak", () => {
  const model = smallConvnet();
  const x = tf.randomUniform([1, 150, 150, 3], 0, 1, "float32", 9);
  const before = tf.memory().numTensors;
  const conv = cam(model, x, "conv2d_4", 0);
  assert.deepEqual([conv.height, conv.width], [15, 15]);
  assert.ok(conv.data.every((v) => Number.isFinite(v) && v >= 0 && v <= 1));
  assert.deepEqual([cam(model, x, "max_pooling2d_4", 1).height], [7]);
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  assert.throws(() => gradCam(model, x, "nope", (p) => p), /has no layer named "nope"/);
  x.dispose();
});

Deno.test("splitAt/chainLayers: a model nested as a layer is expanded; branching models are refused", () => {
  const base = tf.sequential({
    name: "conv_base",
    layers: [tf.layers.conv2d({ name: "block1_conv1", filters: 2, kernelSize: 3, inputShape: [8, 8, 3] })],
  });
  const model = tf.sequential({
    name: "outer",
    layers: [base, tf.layers.flatten({ name: "flatten" }), tf.layers.dense({ name: "out", units: 1 })],
  });
  assert.deepEqual(chainLayers(model).map((l) => l.name), ["block1_conv1", "flatten", "out"]);
  assert.deepEqual(splitAt(model, "block1_conv1").head.map((l) => l.name), ["flatten", "out"]);
  const input = tf.input({ shape: [4] });
  const a = tf.layers.dense({ name: "a", units: 2 }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.dense({ name: "b", units: 2 }).apply(input) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: "sum" }).apply([a, b]) as tf.SymbolicTensor;
  const branching = tf.model({ name: "branching", inputs: input, outputs: sum });
  assert.throws(() => chainLayers(branching), /layer b of model branching takes its input from .*only chain models/);
});

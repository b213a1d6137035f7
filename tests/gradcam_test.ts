import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/backend/chain.ts";
import { smallConvnet } from "../lib/models/convnets.ts";
import { gradCam, type Heatmap, heatmapPng, overlayHeatmap } from "../lib/viz/gradcam.ts";
import { encodePng } from "../lib/viz/image.ts";
import { chainLayers, splitAt } from "../lib/models/submodel.ts";

await initBackend({ backend: "cpu" });

const ELEPHANT = new URL("../../shared/images/creative_commons_elephant.jpg", import.meta.url).pathname;
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

Deno.test("gradCam: the evidence for a class lies in the quadrant that drives its score", async () => {
  const model = detector();
  const x = pictureWithSpot();
  const bright = await gradCam(model, x, { layerName: "detect", classIndex: 1 });
  assert.deepEqual([bright.height, bright.width, bright.classIndex], [S, S, 1]);
  const share = massIn(bright, 1, 1);
  assert.ok(share > 0.7, `bottom-right holds ${(share * 100).toFixed(1)}% of the "bright" map`);
  assert.equal(Math.max(...bright.data), 1, "normalised to a maximum of 1");
  assert.ok(Math.min(...bright.data) >= 0, "ReLU'd");
  // The predicted class is "bright" (the spot covers 14% of the picture, but its
  // channel outweighs): by default gradCam explains the prediction.
  const byDefault = await gradCam(model, x, { layerName: "detect" });
  const probs = (model.predict(x) as tf.Tensor).dataSync();
  assert.equal(byDefault.classIndex, probs[1] > probs[0] ? 1 : 0);
  assert.ok(Math.abs(byDefault.score - Math.max(probs[0], probs[1])) < 1e-6);
  // The "dark" class's evidence is everywhere but the spot.
  const dark = await gradCam(model, x, { layerName: "detect", classIndex: 0 });
  assert.ok(massIn(dark, 1, 1) < 0.15, `dark map in the spot quadrant: ${massIn(dark, 1, 1)}`);
  x.dispose();
});

Deno.test("gradCam: a zero gradient gives an all-zero heatmap, no NaN", async () => {
  const model = detector({ dense: [[0, 0], [0, 0], [0, 0], [0, 0]] });
  const x = pictureWithSpot();
  const cam = await gradCam(model, x, { layerName: "detect", classIndex: 1 });
  assert.ok(cam.data.every((v) => v === 0), "all zeros");
  assert.equal(cam.score, 0.5);
  // And a map that is all negative before the ReLU.
  const flipped = detector({ dense: [[0, -4], [0, 0], [0, 0], [0, 0]] });
  const neg = await gradCam(flipped, tf.ones([1, S, S, 1]), { layerName: "detect", classIndex: 1 });
  assert.ok(neg.data.every((v) => v === 0));
  x.dispose();
});

Deno.test("gradCam: a one-unit sigmoid model explains class 1 by the score and class 0 by 1 − score", async () => {
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
  const p = (model.predict(x) as tf.Tensor).dataSync()[0];
  const dog = await gradCam(model, x, { layerName: "detect", classIndex: 1 });
  const cat = await gradCam(model, x, { layerName: "detect", classIndex: 0 });
  assert.ok(Math.abs(dog.score - p) < 1e-6 && Math.abs(cat.score - (1 - p)) < 1e-6);
  assert.ok(massIn(dog, 1, 1) > 0.7, "class 1 points at the spot");
  assert.ok(massIn(cat, 1, 1) < 0.15, "class 0 (the complement) points away from it");
  const predicted = await gradCam(model, x, { layerName: "detect" });
  assert.equal(predicted.classIndex, p >= 0.5 ? 1 : 0);
  await assert.rejects(
    () => gradCam(model, x, { layerName: "detect", classIndex: 2 }),
    /use 0 to 1 \(one sigmoid unit/,
  );
  x.dispose();
});

Deno.test("gradCam on the 5.2 convnet: conv2d_4 gives 15×15 at 150 px, max_pooling2d_4 7×7", async () => {
  const model = smallConvnet();
  const x = tf.randomUniform([1, 150, 150, 3], 0, 1, "float32", 9);
  const before = tf.memory().numTensors;
  const conv = await gradCam(model, x, { layerName: "conv2d_4", classIndex: 0 });
  assert.deepEqual([conv.height, conv.width], [15, 15]);
  assert.ok(conv.data.every((v) => Number.isFinite(v) && v >= 0 && v <= 1));
  const pooled = await gradCam(model, x, { layerName: "max_pooling2d_4", classIndex: 1 });
  assert.deepEqual([pooled.height, pooled.width], [7, 7]);
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  await assert.rejects(() => gradCam(model, x, { layerName: "dense_1" }), /pick a conv or pooling layer/);
  await assert.rejects(() => gradCam(model, tf.concat([x, x]), { layerName: "conv2d_4" }), /one picture/);
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

Deno.test("overlayHeatmap: a JPEG of the picture's size, JET blended at 0.4", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const heatmap = { data: new Float32Array(196).map((_, i) => (i % 14) / 13), height: 14, width: 14 };
    const outPath = join(dir, "sub", "elephant_cam.jpg");
    const jpeg = await overlayHeatmap(ELEPHANT, heatmap, { outPath });
    const [meta, original] = await Promise.all([sharp(jpeg).metadata(), sharp(ELEPHANT).metadata()]);
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", original.width, original.height]);
    assert.deepEqual(await Deno.readFile(outPath), jpeg);
    // On a flat grey picture: left edge + 0.4·dark blue, right edge + 0.4·dark red.
    const grey = await encodePng({ data: new Uint8Array(40 * 30 * 3).fill(100), width: 40, height: 30, channels: 3 });
    const left = new Float32Array([0, 1]);
    const out = await overlayHeatmap(grey, { data: left, height: 1, width: 2 });
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [40, 30]);
    const px = (x: number, y: number) => Array.from(data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3));
    const near = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]) <= 8);
    assert.ok(near(px(1, 15), [100, 100, 151]), `left ${px(1, 15)}`);
    assert.ok(near(px(38, 15), [151, 100, 100]), `right ${px(38, 15)}`);
    const png = await heatmapPng(heatmap);
    assert.equal((await sharp(png).metadata()).width, 14 * 16);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { formatModelSummary, shapeText } from "../lib/models/summary.ts";
import { initBackend } from "@ch5/engine";

await initBackend({ backend: "cpu" });

/** Listing 5.1–5.2, written out here so that this test checks the summary, not the model's home. */
function bookMnistConvnet() {
  return tf.sequential({
    name: "mnist_convnet",
    layers: [
      tf.layers.conv2d({ name: "conv2d_1", filters: 32, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }),
      tf.layers.maxPooling2d({ name: "max_pooling2d_1", poolSize: 2 }),
      tf.layers.conv2d({ name: "conv2d_2", filters: 64, kernelSize: 3, activation: "relu" }),
      tf.layers.maxPooling2d({ name: "max_pooling2d_2", poolSize: 2 }),
      tf.layers.conv2d({ name: "conv2d_3", filters: 64, kernelSize: 3, activation: "relu" }),
      tf.layers.flatten({ name: "flatten_1" }),
      tf.layers.dense({ name: "dense_1", units: 64, activation: "relu" }),
      tf.layers.dense({ name: "dense_2", units: 10, activation: "softmax" }),
    ],
  });
}

Deno.test("the MNIST convnet's summary reads like the book's: 93,322 params and its shapes", () => {
  const text = formatModelSummary(bookMnistConvnet());
  assert.match(text, /^Model: "mnist_convnet"/);
  assert.match(text, /Total params: 93,322/);
  assert.match(text, /Trainable params: 93,322/);
  assert.match(text, /Non-trainable params: 0/);
  assert.match(text, /conv2d_1 \(Conv2D\)\s+\(None, 26, 26, 32\)\s+320/);
  assert.match(text, /max_pooling2d_2 \(MaxPooling2D\)\s+\(None, 5, 5, 64\)\s+0/);
  assert.match(text, /flatten_1 \(Flatten\)\s+\(None, 576\)/);
  assert.match(text, /dense_2 \(Dense\)\s+\(None, 10\)\s+650/);
});

Deno.test("frozen weights count as non-trainable", () => {
  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.dense({ units: 1, trainable: false })],
  });
  const text = formatModelSummary(model);
  assert.match(text, /Total params: 21\nTrainable params: 16\nNon-trainable params: 5\n/);
  assert.equal(text.match(/\(Dense\)/g)?.length, 2, "one row a layer");
});

Deno.test("shapes are written as Keras writes them", () => {
  assert.equal(shapeText([null, 26, 26, 32]), "(None, 26, 26, 32)");
  assert.equal(shapeText([[null, 2], [null, 3]]), "(None, 2), (None, 3)");
  assert.equal(shapeText([2000]), "(2000,)");
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "@ch5/engine";
import { freeze, trainableWeightCount, trainedWeights } from "../lib/models/trainable.ts";
import { vgg16 } from "../lib/models/vgg16.ts";

await initBackend({ backend: "cpu" });

/** Notebook 5.3's listing 5.22, the book's loop: every layer from `name` on trains, the ones before are frozen. */
function bookLoop(convBase: tf.LayersModel, name: string): void {
  convBase.trainable = true;
  let setTrainable = false;
  for (const layer of convBase.layers) {
    if (layer.name === name) setTrainable = true;
    layer.trainable = setTrainable;
  }
}

/** The book's model of 5.3: VGG16's conv base (random weights) → Flatten → Dense 256 → Dense 1. */
async function bookModel(size = 150) {
  const convBase = await vgg16({ weights: null, includeTop: false, inputShape: [size, size, 3] });
  const model = tf.sequential();
  model.add(convBase);
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 256, activation: "relu" }));
  model.add(tf.layers.dense({ units: 1, activation: "sigmoid" }));
  return { convBase, model };
}

/** Train one batch and return the names of the layers whose weights changed. */
async function layersThatTrain(model: tf.LayersModel, size: number): Promise<string[]> {
  const layers = model.layers.flatMap((l) => l instanceof tf.LayersModel ? l.layers : [l]).filter((l) =>
    l.weights.length
  );
  const before = layers.map((l) => l.getWeights().map((w) => w.dataSync().slice()));
  const x = tf.randomUniform([1, size, size, 3]);
  const y = tf.tensor2d([[1]]);
  await model.trainOnBatch(x, y);
  tf.dispose([x, y]);
  return layers.filter((l, i) => l.getWeights().some((w, k) => w.dataSync().some((v, j) => v !== before[i][k][j]))).map(
    (l) => l.name,
  );
}

Deno.test("VGG16 + dense head: 30 trainable weight tensors, 4 with the base frozen (Keras' counts)", async () => {
  const { convBase, model } = await bookModel();
  assert.equal(model.countParams(), 16_812_353);
  assert.equal(trainableWeightCount(model), 30);
  freeze(convBase);
  assert.equal(trainableWeightCount(model), 4);
  assert.equal(trainableWeightCount(convBase), 0);
  model.dispose();
});

Deno.test("after freeze(), the book's loop from block5_conv1: 3 convs × 2 + 2 dense × 2 = 10 trainable tensors", async () => {
  const { convBase, model } = await bookModel();
  freeze(convBase);
  bookLoop(convBase, "block5_conv1");
  assert.equal(trainableWeightCount(model), 10);
  assert.deepEqual(
    trainedWeights(model).map((w) => w.originalName.split("/")[0]).slice(0, 6),
    ["block5_conv1", "block5_conv1", "block5_conv2", "block5_conv2", "block5_conv3", "block5_conv3"],
  );
  assert.equal(convBase.getLayer("block4_conv3").trainable, false);
  assert.equal(convBase.getLayer("block5_conv1").trainable, true);
  model.dispose();
});

Deno.test("a frozen base stays frozen through compile and training; block5 trains after the book's loop", async () => {
  const { convBase, model } = await bookModel(32);
  freeze(convBase); // before the Sequential model is built: the case that `convBase.trainable = false` gets wrong
  model.compile({ optimizer: tf.train.sgd(0.1), loss: "binaryCrossentropy" });
  assert.equal(trainableWeightCount(model), 4);
  const head = model.layers.slice(2).map((l) => l.name); // the two Dense layers
  assert.deepEqual(await layersThatTrain(model, 32), head);

  bookLoop(convBase, "block5_conv1");
  model.compile({ optimizer: tf.train.sgd(0.1), loss: "binaryCrossentropy" });
  assert.equal(trainableWeightCount(model), 10);
  assert.deepEqual(await layersThatTrain(model, 32), [
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
    ...head,
  ]);
  model.dispose();
});

Deno.test("`convBase.trainable = false` before tfjs builds the Sequential model does not freeze: the count says so", async () => {
  const { convBase, model } = await bookModel(32);
  convBase.trainable = false;
  assert.equal(model.trainableWeights.length, 4, "tfjs' own count before the build");
  assert.equal(trainableWeightCount(model), 30, "what compile() will really train");
  model.dispose();
});

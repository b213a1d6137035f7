import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "@ch5/engine";
import { openH5, readH5 } from "../lib/io/h5.ts";
import { loadWeightsFromH5, saveWeightsToH5 } from "../lib/models/keras_h5.ts";
import { buildVgg16, hasWeights, vgg16 } from "../lib/models/vgg16.ts";
import { DownloadError } from "../lib/io/errors.ts";
import { formatModelSummary } from "../lib/models/summary.ts";

await initBackend({ backend: "cpu" });

const CONV_NAMES = [
  "block1_conv1",
  "block1_conv2",
  "block1_pool",
  "block2_conv1",
  "block2_conv2",
  "block2_pool",
  "block3_conv1",
  "block3_conv2",
  "block3_conv3",
  "block3_pool",
  "block4_conv1",
  "block4_conv2",
  "block4_conv3",
  "block4_pool",
  "block5_conv1",
  "block5_conv2",
  "block5_conv3",
  "block5_pool",
];

const offline: typeof fetch = () => Promise.reject(new TypeError("offline"));

Deno.test("vgg16 without the top at 150×150: Keras' layers, 14,714,688 params, output 4×4×512", async () => {
  const model = await vgg16({ weights: null, includeTop: false, inputShape: [150, 150, 3] });
  try {
    assert.equal(model.name, "vgg16");
    assert.deepEqual(model.layers.map((l) => l.name), ["input_1", ...CONV_NAMES]);
    assert.equal(model.countParams(), 14_714_688);
    assert.match(formatModelSummary(model), /Total params: 14,714,688\n/);
    assert.deepEqual(model.outputs[0].shape, [null, 4, 4, 512]);
    assert.deepEqual(model.getLayer("block1_conv1").outputShape, [null, 150, 150, 64]);
    assert.equal(model.getLayer("block1_conv1").countParams(), 1_792);
    assert.equal(model.getLayer("block5_conv3").countParams(), 2_359_808);
    assert.match(formatModelSummary(model), /block5_pool \(MaxPooling2D\)\s+\(None, 4, 4, 512\)\s+0/);
    // Keras' initializers: glorot_uniform kernels (bounded by sqrt(6 / (fan_in + fan_out))), zero biases.
    const [kernel, bias] = model.getLayer("block1_conv1").getWeights();
    const limit = Math.sqrt(6 / (27 + 576));
    assert.ok((await kernel.abs().max().data())[0] <= limit);
    assert.equal((await bias.abs().max().data())[0], 0);
  } finally {
    model.dispose();
  }
});

Deno.test("vgg16 with the top at 224×224: 138,357,544 params, flatten/fc1/fc2/predictions", async () => {
  const model = await vgg16({ weights: null });
  try {
    assert.deepEqual(model.layers.map((l) => l.name), [
      "input_1",
      ...CONV_NAMES,
      "flatten",
      "fc1",
      "fc2",
      "predictions",
    ]);
    assert.equal(model.countParams(), 138_357_544);
    assert.match(formatModelSummary(model), /Total params: 138,357,544\n/, "digits grouped as Keras does");
    assert.deepEqual(model.inputs[0].shape, [null, 224, 224, 3]);
    assert.deepEqual(model.getLayer("flatten").outputShape, [null, 25088]);
    assert.equal(model.getLayer("fc1").countParams(), 102_764_544);
    assert.deepEqual(model.outputs[0].shape, [null, 1000]);
  } finally {
    model.dispose();
  }
});

Deno.test("buildVgg16: the architecture alone, with Keras' default input shapes", () => {
  const model = buildVgg16({ includeTop: false });
  assert.deepEqual(model.inputs[0].shape, [null, null, null, 3]);
  assert.deepEqual(model.outputs[0].shape, [null, null, null, 512]);
  model.dispose();
});

/** The lines `fn` prints outside Jupyter (where `print` is `console.log`). */
async function printed<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const log = console.log;
  const lines: string[] = [];
  console.log = (...args: unknown[]) => void lines.push(args.join(" "));
  try {
    return { value: await fn(), lines };
  } finally {
    console.log = log;
  }
}

Deno.test("vgg16 rejects what Keras rejects, before any download", async () => {
  let requests = 0;
  const download = { fetch: () => (requests++, offline("")), allowRandom: false, log: () => {} };
  await assert.rejects(
    vgg16({ includeTop: true, inputShape: [150, 150, 3], download }),
    (err: Error) =>
      err instanceof RangeError && /inputShape must be \[224, 224, 3\] .*; got \[150,150,3\]/.test(err.message),
  );
  await assert.rejects(vgg16({ includeTop: false, inputShape: [16, 16, 3], download }), /at least 32×32/);
  await assert.rejects(vgg16({ includeTop: false, inputShape: [64, 64, 1], download }), /3 channels/);
  await assert.rejects(
    vgg16({ weights: "/a/keras/file.h5" as never, includeTop: false }),
    /weights must be "imagenet" or null \(random\); got "\/a\/keras\/file\.h5"/,
  );
  assert.equal(requests, 0);
});

Deno.test("vgg16 'imagenet' offline with allowRandom keeps random weights and says so itself", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const download = { dir, fetch: offline, allowRandom: true, log: () => {} };
    const { value: model, lines } = await printed(() =>
      vgg16({ includeTop: false, inputShape: [32, 32, 3], download })
    );
    assert.equal(model.countParams(), 14_714_688);
    assert.equal(model.weightsSource, "random");
    assert.equal(model.weightsPath, null);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^WARNING: VGG16 has RANDOM weights/);
    assert.ok(lines[0].includes(join(dir, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")), "the path to fill");
    assert.match(lines[0], /md5 6d6bbae143d832006294945121d1f1fc/);
    assert.ok(await hasWeights(model), "random weights that were allowed count as weights");
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vgg16 'imagenet' offline: throws outside a notebook, or with onMissing 'skip' marks the model missing", async () => {
  const dir = await Deno.makeTempDir();
  const download = { dir, fetch: offline, allowRandom: false, log: () => {} };
  try {
    await assert.rejects(
      vgg16({ includeTop: false, inputShape: [32, 32, 3], download }),
      (err: Error) => err instanceof DownloadError && err.message.includes("CH5_ALLOW_RANDOM_WEIGHTS=1"),
    );
    const model = await vgg16({ includeTop: false, inputShape: [32, 32, 3], download, onMissing: "skip" });
    assert.equal(model.weightsSource, "missing");
    assert.equal(await hasWeights(model), false, "cells that need the weights skip");
    model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Writes the weights of a VGG16 conv base as Keras' ImageNet "notop" file lays them out (`block1_conv1_W_1:0`). */
async function writeKerasNotop(model: tf.LayersModel, path: string): Promise<void> {
  const file = await openH5(path, "w");
  try {
    const names = model.layers.map((l) => l.name);
    file.create_attribute("layer_names", names, [names.length], "A13");
    for (const layer of model.layers) {
      const group = file.create_group(layer.name);
      if (layer.weights.length === 0) {
        group.create_attribute("weight_names", new Float64Array(0), [0]);
        continue;
      }
      const weightNames = [`${layer.name}_W_1:0`, `${layer.name}_b_1:0`];
      group.create_attribute("weight_names", weightNames, [2], "A19");
      for (let i = 0; i < 2; i++) {
        group.create_dataset({
          name: weightNames[i],
          data: (await layer.weights[i].read().data()) as Float32Array,
          shape: layer.weights[i].shape as number[],
          dtype: "<f4",
        });
      }
    }
  } finally {
    file.close();
  }
}

async function assertSameWeights(a: tf.LayersModel, b: tf.LayersModel): Promise<void> {
  assert.equal(a.weights.length, 26);
  assert.equal(b.weights.length, 26);
  for (let i = 0; i < a.weights.length; i++) {
    const [x, y] = [await a.weights[i].read().data(), await b.weights[i].read().data()] as Float32Array[];
    assert.deepEqual(b.weights[i].shape, a.weights[i].shape);
    const differ = x.findIndex((v, k) => !Object.is(v, y[k]));
    assert.equal(differ, -1, `${a.weights[i].originalName} differs at ${differ}`);
  }
}

Deno.test("Keras-layout weight files load into buildVgg16 exactly, in order (saveWeightsToH5 and the ImageNet notop layout)", async () => {
  const dir = await Deno.makeTempDir();
  const source = buildVgg16({ includeTop: false, inputShape: [32, 32, 3] });
  try {
    const saved = await saveWeightsToH5(source, join(dir, "vgg16_notop.h5"));
    const tree = await readH5(saved);
    assert.deepEqual(tree.attrs.layer_names, ["input_1", ...CONV_NAMES]);
    assert.deepEqual(tree.children!.block5_conv3.attrs.weight_names, ["block5_conv3/kernel:0", "block5_conv3/bias:0"]);
    const loaded = buildVgg16({ includeTop: false, inputShape: [32, 32, 3] });
    await loadWeightsFromH5(loaded, saved, { byName: false }); // as vgg16() loads the ImageNet file
    await assertSameWeights(source, loaded);
    loaded.dispose();

    const old = join(dir, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5");
    await writeKerasNotop(source, old);
    const fromOld = buildVgg16({ includeTop: false, inputShape: [32, 32, 3] });
    await loadWeightsFromH5(fromOld, old, { byName: false });
    await assertSameWeights(source, fromOld);
    const x = tf.randomUniform([1, 32, 32, 3], 0, 255);
    const [ya, yb] = [source.predict(x) as tf.Tensor, fromOld.predict(x) as tf.Tensor];
    assert.deepEqual(yb.shape, [1, 1, 1, 512]);
    assert.deepEqual(await yb.data(), await ya.data());
    tf.dispose([x, ya, yb]);
    fromOld.dispose();
  } finally {
    source.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "@ch5/engine";
import { ModelFileError } from "../lib/io/errors.ts";
import { openH5, readH5 } from "../lib/io/h5.ts";
import { loadKerasModel, loadWeightsFromH5, saveWeightsToH5 } from "../lib/models/keras_h5.ts";
import type { Dataset, Group } from "../lib/io/h5.ts";
import { toFloat16 } from "./fixtures/float16_h5.ts";
import { withEnv } from "./env_helpers.ts";

const FIXTURES = new URL("../../shared/fixtures/keras/", import.meta.url).pathname;
const fixture = (name: string) => join(FIXTURES, name);

await initBackend({ backend: "cpu" });

/** Every weight array of a Keras file, read straight from its datasets: layer → weight name → [shape, values]. */
async function fileArrays(path: string): Promise<Map<string, Map<string, [number[], Float32Array]>>> {
  const file = await openH5(path);
  try {
    const root = (file.attrs["layer_names"] ? file : file.get("model_weights")) as Group;
    const out = new Map<string, Map<string, [number[], Float32Array]>>();
    for (const layer of root.attrs["layer_names"].value as string[]) {
      const group = root.get(layer) as Group;
      const names = group.attrs["weight_names"].value;
      const arrays = new Map<string, [number[], Float32Array]>();
      for (const name of Array.isArray(names) ? names as string[] : []) {
        const ds = group.get(name) as Dataset;
        arrays.set(name, [ds.shape!, ds.value as Float32Array]);
      }
      out.set(layer, arrays);
    }
    return out;
  } finally {
    file.close();
  }
}

/** Asserts that every array of the file equals the model weight of the same name. */
async function assertWeightsEqualFile(model: tf.LayersModel, path: string): Promise<number> {
  let compared = 0;
  for (const [layerName, arrays] of await fileArrays(path)) {
    const layer = model.getLayer(layerName);
    for (const [name, [shape, values]] of arrays) {
      const variable = layer.weights.find((w) => `${w.originalName}:0` === name);
      assert.ok(variable, `model layer ${layerName} has no weight ${name}`);
      assert.deepEqual(variable.shape, shape, `${layerName}/${name} shape`);
      assert.deepEqual(await variable.read().data(), values, `${layerName}/${name} values`);
      compared++;
    }
  }
  return compared;
}

function shapes(model: tf.LayersModel): string[] {
  return model.layers.map((l) => `${l.name} ${l.getClassName()} ${JSON.stringify(l.outputShape)}`);
}

Deno.test("readH5 lists the groups, datasets and attributes of a real Keras file", async () => {
  const tree = await readH5(fixture("decoder.h5"));
  assert.equal(tree.attrs.keras_version, "2.2.2");
  assert.equal(tree.attrs.backend, "tensorflow");
  const weights = tree.children!.model_weights;
  assert.deepEqual(weights.attrs.layer_names, ["input_2", "dense_4", "reshape_1", "conv2d_transpose_1", "conv2d_5"]);
  assert.deepEqual(weights.children!.reshape_1.attrs.weight_names, []);
  const kernel = weights.children!.dense_4.children!.dense_4.children!["kernel:0"];
  assert.equal(kernel.kind, "dataset");
  assert.deepEqual(kernel.shape, [2, 12544]);
});

Deno.test("loadKerasModel: the encoder (functional Model, Conv2D + Dense) with every weight of the file", async () => {
  const model = await loadKerasModel(fixture("encoder.h5"));
  assert.equal(model.name, "model_1");
  assert.deepEqual(shapes(model), [
    "input_1 InputLayer [null,28,28,1]",
    "conv2d_1 Conv2D [null,28,28,32]",
    "conv2d_2 Conv2D [null,14,14,64]",
    "conv2d_3 Conv2D [null,14,14,64]",
    "conv2d_4 Conv2D [null,14,14,64]",
    "flatten_1 Flatten [null,12544]",
    "dense_1 Dense [null,32]",
    "dense_2 Dense [null,2]",
    "dense_3 Dense [null,2]",
  ]);
  assert.equal(await assertWeightsEqualFile(model, fixture("encoder.h5")), 14);
});

Deno.test("loadKerasModel: the decoder (Dense, Reshape, Conv2DTranspose) with every weight of the file", async () => {
  const model = await loadKerasModel(fixture("decoder.h5"));
  assert.deepEqual(shapes(model), [
    "input_2 InputLayer [null,2]",
    "dense_4 Dense [null,12544]",
    "reshape_1 Reshape [null,14,14,64]",
    "conv2d_transpose_1 Conv2DTranspose [null,28,28,32]",
    "conv2d_5 Conv2D [null,28,28,1]",
  ]);
  assert.equal(await assertWeightsEqualFile(model, fixture("decoder.h5")), 6);
  const image = tf.tidy(() => model.predict(tf.tensor2d([[0.5, -0.5]])) as tf.Tensor);
  assert.deepEqual(image.shape, [1, 28, 28, 1]);
  image.dispose();
});

Deno.test("loadKerasModel: dense_imdb (Sequential) predicts probabilities and is compiled as in Keras", async () => {
  const model = await loadKerasModel(fixture("dense_imdb.h5"));
  assert.deepEqual(shapes(model), ["dense_7 Dense [null,16]", "dense_8 Dense [null,16]", "dense_9 Dense [null,1]"]);
  assert.equal(await assertWeightsEqualFile(model, fixture("dense_imdb.h5")), 6);
  const x = tf.tidy(() => tf.randomUniform([4, 10000]).greater(0.9).toFloat());
  const y = model.predict(x) as tf.Tensor;
  assert.deepEqual(y.shape, [4, 1]);
  for (const p of await y.data()) assert.ok(Number.isFinite(p) && p >= 0 && p <= 1, `probability ${p}`);
  assert.equal(model.optimizer.getClassName(), "RMSProp");
  assert.ok(model.metricsNames.includes("acc"), `metrics ${model.metricsNames}`);
  tf.dispose([x, y]);
});

function smallNet(seed: number): tf.LayersModel {
  const init = { kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: "randomNormal" as const };
  const input = tf.input({ shape: [8, 8, 3], name: "input_1" });
  let x = tf.layers.conv2d({ name: "conv_a", filters: 4, kernelSize: 3, activation: "relu", ...init }).apply(input);
  x = tf.layers.maxPooling2d({ name: "pool_a", poolSize: 2 }).apply(x);
  x = tf.layers.flatten({ name: "flat" }).apply(x);
  const output = tf.layers.dense({ name: "out", units: 3, ...init }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: "small" });
}

async function assertSameWeights(a: tf.LayersModel, b: tf.LayersModel): Promise<void> {
  assert.equal(a.weights.length, b.weights.length);
  for (let i = 0; i < a.weights.length; i++) {
    assert.deepEqual(await b.weights[i].read().data(), await a.weights[i].read().data(), a.weights[i].originalName);
  }
}

Deno.test("saveWeightsToH5 writes Keras' weights layout, and it round-trips into a fresh model", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const source = smallNet(1);
    const path = await saveWeightsToH5(source, join(dir, "small.h5"));
    const tree = await readH5(path);
    assert.deepEqual(tree.attrs.layer_names, ["input_1", "conv_a", "pool_a", "flat", "out"]);
    assert.equal(tree.attrs.backend, "tensorflow");
    assert.equal(tree.attrs.keras_version, "2.2.4");
    assert.deepEqual(tree.children!.conv_a.attrs.weight_names, ["conv_a/kernel:0", "conv_a/bias:0"]);
    assert.deepEqual(tree.children!.pool_a.attrs.weight_names, []);
    assert.deepEqual(tree.children!.conv_a.children!.conv_a.children!["kernel:0"].shape, [3, 3, 3, 4]);
    assert.deepEqual(tree.children!.out.children!.out.children!["kernel:0"].shape, [36, 3]);

    const fresh = smallNet(2);
    assert.notDeepEqual(await fresh.weights[0].read().data(), await source.weights[0].read().data());
    const report = await loadWeightsFromH5(fresh, path);
    assert.deepEqual(report, { loaded: ["conv_a", "out"], notInFile: [], arrays: 4 });
    await assertSameWeights(source, fresh);

    const byOrder = smallNet(3);
    await loadWeightsFromH5(byOrder, path, { byName: false });
    await assertSameWeights(source, byOrder);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadWeightsFromH5 reads VGG16-style names (layer_W_1:0) in order, and chunked name attributes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const source = smallNet(4);
    const path = join(dir, "old_style.h5");
    const file = await openH5(path, "w");
    // As Keras writes long attribute lists: layer_names0, layer_names1, ...
    file.create_attribute("layer_names0", ["conv_a", "pool_a"], [2], "A7");
    file.create_attribute("layer_names1", ["out"], [1], "A4");
    for (const layer of ["conv_a", "pool_a", "out"]) {
      const group = file.create_group(layer);
      const weights = source.getLayer(layer).weights;
      if (weights.length === 0) {
        group.create_attribute("weight_names", new Float64Array(0), [0]);
        continue;
      }
      const names = [`${layer}_W_1:0`, `${layer}_b_1:0`];
      group.create_attribute("weight_names", names, [2], "A12");
      for (let i = 0; i < 2; i++) {
        group.create_dataset({
          name: names[i],
          data: (await weights[i].read().data()) as Float32Array,
          shape: weights[i].shape as number[],
          dtype: "<f4",
        });
      }
    }
    file.close();
    const fresh = smallNet(5);
    const report = await loadWeightsFromH5(fresh, path);
    assert.deepEqual(report.loaded, ["conv_a", "out"]);
    await assertSameWeights(source, fresh);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a nested model's weights are matched by name, whichever of its layers were frozen when saved", async () => {
  const build = (seed: number) => {
    const base = smallNet(seed);
    const outer = tf.sequential({ name: "outer" });
    outer.add(base);
    outer.add(tf.layers.dense({ name: "head", units: 1, activation: "sigmoid" }));
    return { base, outer };
  };
  const dir = await Deno.makeTempDir();
  try {
    const saved = build(6);
    saved.base.getLayer("conv_a").trainable = false; // Keras and tfjs then list "out" before "conv_a"
    assert.equal(saved.base.weights[0].originalName, "out/kernel");
    const path = await saveWeightsToH5(saved.outer, join(dir, "nested.h5"));
    const fresh = build(7);
    const report = await loadWeightsFromH5(fresh.outer, path);
    assert.deepEqual(report.loaded, ["small", "head"]);
    for (const name of ["conv_a", "out"]) {
      const a = saved.base.getLayer(name).weights, b = fresh.base.getLayer(name).weights;
      for (let i = 0; i < a.length; i++) assert.deepEqual(await b[i].read().data(), await a[i].read().data());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors: not an HDF5 file, no file, a weights-only file given as a model", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = join(dir, "page.h5");
    await Deno.writeTextFile(text, "<html>Not Found</html>");
    await assert.rejects(loadWeightsFromH5(smallNet(1), text), (err: Error) => {
      assert.ok(err instanceof ModelFileError);
      assert.match(err.message, /not an HDF5 file/);
      assert.ok(err.message.includes(text), err.message);
      return true;
    });
    await assert.rejects(loadWeightsFromH5(smallNet(1), join(dir, "missing.h5")), /No file at .*missing\.h5/);
    const weightsOnly = await saveWeightsToH5(smallNet(1), join(dir, "w.h5"));
    await assert.rejects(loadKerasModel(weightsOnly), (err: Error) => {
      assert.ok(err instanceof ModelFileError);
      assert.match(err.message, /weights only .*loadWeightsFromH5/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors: a layer of the file that the model lacks, and a shape mismatch, name what differs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await saveWeightsToH5(smallNet(1), join(dir, "small.h5"));

    const renamed = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: "conv_a", filters: 4, kernelSize: 3, inputShape: [8, 8, 3] }),
        tf.layers.flatten({ name: "flat" }),
        tf.layers.dense({ name: "classifier", units: 3 }),
      ],
    });
    await assert.rejects(loadWeightsFromH5(renamed, path), (err: Error) => {
      assert.ok(err instanceof ModelFileError);
      assert.match(err.message, /weights for layer "out" .* no layer of that name/);
      assert.match(err.message, /conv_a, classifier/);
      return true;
    });

    const wider = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: "conv_a", filters: 8, kernelSize: 3, inputShape: [8, 8, 3] }),
        tf.layers.flatten({ name: "flat" }),
        tf.layers.dense({ name: "out", units: 3 }),
      ],
    });
    const before = await wider.getWeights()[2].data();
    await assert.rejects(loadWeightsFromH5(wider, path), (err: Error) => {
      assert.ok(err instanceof ModelFileError);
      assert.match(err.message, /layer "conv_a", weight "conv_a\/kernel:0"/);
      assert.match(err.message, /expects shape \(3, 3, 3, 8\) but the file has \(3, 3, 3, 4\)/);
      return true;
    });
    assert.deepEqual(await wider.getWeights()[2].data(), before, "a file that does not fit changes no weight");

    const deeper = tf.sequential({
      layers: [
        tf.layers.dense({ name: "d1", units: 2, inputShape: [3] }),
        tf.layers.dense({ name: "d2", units: 2 }),
        tf.layers.dense({ name: "d3", units: 2 }),
      ],
    });
    await assert.rejects(
      loadWeightsFromH5(deeper, path, { byName: false }),
      /has 2 layers with weights \(conv_a, out\) but the model .* has 3 \(d1, d2, d3\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Run `fn`, collecting what goes to console.error and console.warn (where h5wasm's HDF5-DIAG lines went). */
async function capturingStderr<T>(fn: () => Promise<T>): Promise<[T | Error, string]> {
  const lines: string[] = [];
  const [error, warn] = [console.error, console.warn];
  console.error = console.warn = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return [await fn().catch((err: Error) => err), lines.join("\n")];
  } finally {
    [console.error, console.warn] = [error, warn];
  }
}

Deno.test("a truncated .h5 (4 KB, half, 2 KB short) is a ModelFileError naming the file, no HDF5-DIAG noise", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const whole = await Deno.readFile(fixture("dense_imdb.h5"));
    for (
      const [label, length] of [["4k", 4096], ["half", whole.length >> 1], ["short", whole.length - 2048]] as const
    ) {
      const path = join(dir, `${label}.h5`);
      await Deno.writeFile(path, whole.subarray(0, length));
      for (const load of [() => loadKerasModel(path) as Promise<unknown>, () => loadWeightsFromH5(smallNet(1), path)]) {
        const [err, stderr] = await capturingStderr(load);
        assert.ok(err instanceof ModelFileError, `${label}: ${err}`);
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, new RegExp(`damaged or incomplete \\(HDF5: truncated file: eof = ${length}`));
        assert.match(err.message, /Fetch or copy it again/);
        assert.doesNotMatch(stderr, /HDF5-DIAG/);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("512 bytes overwritten inside a .h5 never load as NaN weights", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = smallNet(64);
    const path = await saveWeightsToH5(model, join(dir, "w.h5"));
    const bytes = await Deno.readFile(path);
    // Find the first kernel's values in the file and overwrite 512 bytes there with 0xff (NaN as float32).
    const kernel = await model.getLayer("conv_a").weights[0].read().data() as Float32Array;
    const needle = new Uint8Array(kernel.buffer, kernel.byteOffset, 16);
    const at = bytes.findIndex((_, i) => needle.every((b, k) => bytes[i + k] === b));
    assert.ok(at > 0, "the kernel's bytes are in the file");
    bytes.fill(0xff, at, at + 512);
    await Deno.writeFile(path, bytes);
    await assert.rejects(loadWeightsFromH5(smallNet(64), path), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.match(err.message, /holds NaN at index 0: the file is damaged/);
      return true;
    });
    // Finite garbage is only found by a manifest: a .h5 saved by saveModel has one beside it.
    const { saveModel } = await import("../lib/models/save.ts");
    await withEnv("CH5_DATA_DIR", dir, async () => {
      const saved = await saveModel(model, "m");
      const h5 = await Deno.readFile(saved.h5!);
      const pos = h5.findIndex((_, i) => needle.every((b, k) => h5[i + k] === b));
      h5.fill(0x3f, pos, pos + 512); // 0x3f3f3f3f is 0.747: finite, wrong
      await Deno.writeFile(saved.h5!, h5);
      await assert.rejects(loadWeightsFromH5(smallNet(64), saved.h5!), (err: Error) => {
        assert.ok(err instanceof ModelFileError, String(err));
        assert.match(err.message, /differs from what was saved \(other content: SHA-256 [0-9a-f]{64}, expected/);
        return true;
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a damaged .h5 on which HDF5 loops forever (found by the fuzz suite) is a ModelFileError after the probe's time limit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Six bytes of dense_imdb.h5's metadata changed (fuzz seed 2, case 73): reading the "backend" attribute never ends.
    const bytes = await Deno.readFile(fixture("dense_imdb.h5"));
    for (const [at, value] of [[1945, 0o40], [1977, 0o33], [2170, 0o146], [3264, 0o52], [3605, 0o2], [3641, 0o2]]) {
      bytes[at] = value;
    }
    const path = join(dir, "loops.h5");
    await Deno.writeFile(path, bytes);
    await withEnv("CH5_H5_PROBE_MS", "3000", async () => {
      await assert.rejects(loadKerasModel(path), (err: Error) => {
        assert.ok(err instanceof ModelFileError, String(err));
        assert.ok(err.message.includes(path), err.message);
        assert.match(err.message, /did not finish reading its structure in 3 s/);
        return true;
      });
      // The same process still reads good files.
      (await loadKerasModel(fixture("dense_imdb.h5"))).dispose();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("float16 weights, an unknown loss or metric: a ModelFileError naming the file and the dataset or setting", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await saveWeightsToH5(smallNet(1), join(dir, "half.h5"));
    const bytes = await Deno.readFile(path);
    assert.ok(toFloat16(bytes) >= 4, "every weight retyped as float16");
    await Deno.writeFile(path, bytes);
    await assert.rejects(loadWeightsFromH5(smallNet(1), path), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.ok(err.message.startsWith(`${path}: weight "conv_a/conv_a/kernel:0" is float16`), err.message);
      assert.match(err.message, /Save the weights as float32/);
      return true;
    });
    for (
      const [key, value, named] of [
        ["loss", "my_custom_loss", /names the loss "my_custom_loss", which TensorFlow\.js does not know/],
        ["metrics", ["my_metric"], /names the metrics \["my_metric"\], which TensorFlow\.js does not know/],
      ] as const
    ) {
      const copy = join(dir, `${key}.h5`);
      await Deno.copyFile(fixture("dense_imdb.h5"), copy);
      const file = await openH5(copy, "a");
      const config = JSON.parse(file.attrs["training_config"].value as string);
      config[key] = value;
      file.delete_attribute("training_config");
      file.create_attribute("training_config", JSON.stringify(config));
      file.close();
      await assert.rejects(loadKerasModel(copy), (err: Error) => {
        assert.ok(err instanceof ModelFileError, String(err));
        assert.ok(err.message.startsWith(`${copy}: its training_config`), err.message);
        assert.match(err.message, named);
        assert.match(err.message, /\{ compile: false \}/);
        return true;
      });
      (await loadKerasModel(copy, { compile: false })).dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadWeightsFromH5 of a file that lacks a layer of the model warns, naming the layers left at their initial values", async () => {
  const dir = await Deno.makeTempDir();
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (line: string) => warnings.push(line);
  try {
    const path = await saveWeightsToH5(smallNet(1), join(dir, "small.h5"));
    const bigger = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: "conv_a", filters: 4, kernelSize: 3, inputShape: [8, 8, 3] }),
        tf.layers.maxPooling2d({ name: "pool_a", poolSize: 2 }),
        tf.layers.flatten({ name: "flat" }),
        tf.layers.dense({ name: "out", units: 3 }),
        tf.layers.dense({ name: "extra", units: 2 }),
      ],
    });
    const report = await loadWeightsFromH5(bigger, path);
    assert.deepEqual(report.notInFile, ["extra"]);
    assert.deepEqual(warnings, [
      `warning: ${path} has no weights for layer extra of model "${bigger.name}": they keep their initial (random) values.`,
    ]);
  } finally {
    console.warn = warn;
    await Deno.remove(dir, { recursive: true });
  }
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "@ch5/engine";
import { mnistConvnet } from "../lib/models/mnist_convnet.ts";
import { loadWeightsFromH5 } from "../lib/models/keras_h5.ts";
import { ModelFileError } from "../lib/io/errors.ts";
import { MANIFEST as MANIFEST_JSON } from "../lib/io/integrity.ts";
import { loadModel, modelPath, saveModel } from "../lib/models/save.ts";
import { withTempDataDir } from "./env_helpers.ts";

await initBackend({ backend: "cpu" });

const ROOT_FIXTURES = join(import.meta.dirname!, "..", "..", "shared", "fixtures", "keras");

/** Run `fn` with `CH5_DATA_DIR` in a fresh temporary folder. */
const inTempDataDir = (fn: (dir: string) => Promise<void>) => withTempDataDir("ch5-save-", fn);

async function weightValues(model: tf.LayersModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const w of model.weights) out.set(w.originalName, await w.read().data() as Float32Array);
  return out;
}

function trainedModel(): tf.LayersModel {
  const model = mnistConvnet();
  model.compile({ optimizer: tf.train.rmsprop(1e-3), loss: "categoricalCrossentropy", metrics: ["acc"] });
  return model;
}

Deno.test("saveModel writes model.json, weights.bin and Keras .h5 under data/models/<name>", async () => {
  await inTempDataDir(async (dataDir) => {
    const model = trainedModel();
    const saved = await saveModel(model, "cats_and_dogs_small_1");
    assert.equal(saved.dir, join(dataDir, "models", "cats_and_dogs_small_1"));
    assert.equal(modelPath("cats_and_dogs_small_1"), saved.dir);
    const files = [...Deno.readDirSync(saved.dir)].map((e) => e.name).sort();
    assert.deepEqual(files, ["cats_and_dogs_small_1.h5", "manifest.json", "model.json", "weights.bin"]);
    const manifest = JSON.parse(await Deno.readTextFile(join(saved.dir, MANIFEST_JSON)));
    assert.deepEqual(Object.keys(manifest.files).sort(), ["cats_and_dogs_small_1.h5", "model.json", "weights.bin"]);
    assert.equal(manifest.files["weights.bin"].size, 93_322 * 4);
    assert.match(manifest.files["weights.bin"].sha256, /^[0-9a-f]{64}$/);
    assert.equal((await Deno.stat(saved.weightsBin)).size, 93_322 * 4);
    const json = JSON.parse(await Deno.readTextFile(saved.modelJson));
    assert.equal(json.format, "layers-model");
    assert.deepEqual(json.weightsManifest[0].paths, ["./weights.bin"]);
    assert.equal(json.trainingConfig.loss, "categorical_crossentropy");
    // No temporary or old folders are left next to it.
    assert.deepEqual([...Deno.readDirSync(join(dataDir, "models"))].map((e) => e.name), ["cats_and_dogs_small_1"]);

    // The .h5 holds the same weights, in Keras' layout.
    const other = mnistConvnet();
    const report = await loadWeightsFromH5(other, saved.h5!);
    assert.equal(report.arrays, model.weights.length);
    assert.deepEqual(await weightValues(other), await weightValues(model));
  });
});

Deno.test("loadModel round-trips weights and predictions, by name and by path", async () => {
  await inTempDataDir(async () => {
    const model = trainedModel();
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, "float32", 7);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 10);
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 }); // weights that differ from the initialisation
    const saved = await saveModel(model, "round_trip", { h5: false });
    assert.equal(saved.h5, undefined);
    const want = await weightValues(model);
    const predicted = await (model.predict(x) as tf.Tensor).data();

    for (const where of ["round_trip", saved.dir, saved.modelJson]) {
      const loaded = await loadModel(where);
      assert.equal(loaded.countParams(), 93_322);
      assert.deepEqual(loaded.layers.map((l) => l.name), model.layers.map((l) => l.name));
      assert.deepEqual(await weightValues(loaded), want, where);
      assert.deepEqual(await (loaded.predict(x) as tf.Tensor).data(), predicted, where);
      // Saved after compile: it comes back compiled and can be evaluated at once.
      assert.deepEqual(loaded.metricsNames, ["loss", "acc"]);
      assert.equal((loaded.optimizer.getConfig() as { learningRate: number }).learningRate, 1e-3);
      const result = loaded.evaluate(x, y) as tf.Scalar[];
      assert.equal(result.length, 2);
      tf.dispose(result);
      loaded.dispose();
    }
    tf.dispose([x, y]);
  });
});

Deno.test("saveModel replaces a model saved earlier under the same name", async () => {
  await inTempDataDir(async (dataDir) => {
    const first = trainedModel();
    await saveModel(first, "again", { h5: false });
    const second = trainedModel();
    await saveModel(second, "again", { h5: false });
    const loaded = await loadModel("again");
    assert.deepEqual(await weightValues(loaded), await weightValues(second));
    assert.notDeepEqual(await weightValues(loaded), await weightValues(first));
    assert.deepEqual([...Deno.readDirSync(join(dataDir, "models"))].map((e) => e.name), ["again"]);
  });
});

Deno.test("includeOptimizer keeps the optimizer's state, so that training resumes", async () => {
  await inTempDataDir(async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ name: "dense_1", units: 1, inputShape: [3] })] });
    model.compile({ optimizer: tf.train.rmsprop(0.01), loss: "meanSquaredError" });
    const x = tf.ones([2, 3]), y = tf.ones([2, 1]);
    await model.fit(x, y, { epochs: 1, verbose: 0 });
    const saved = await saveModel(model, "resume", { h5: false, includeOptimizer: true });
    assert.ok(
      (await Deno.stat(saved.weightsBin)).size > 4 * 4,
      "optimizer slots are saved after the model's 4 weights",
    );
    const loaded = await loadModel("resume");
    const want = await Promise.all((await model.optimizer.getWeights()).map((w) => w.tensor.data()));
    const got = await Promise.all((await loaded.optimizer.getWeights()).map((w) => w.tensor.data()));
    assert.ok(want.length > 1, "RMSprop has an iteration count and per-weight slots");
    assert.deepEqual(got, want);
    tf.dispose([x, y]);
  });
});

Deno.test("loadModel of a missing model says to run notebook 5.2 or save it", async () => {
  await inTempDataDir(async (dataDir) => {
    await assert.rejects(loadModel("cats_and_dogs_small_2"), (err: Error) => {
      assert.ok(err instanceof ModelFileError && err.cause instanceof Deno.errors.NotFound);
      assert.match(err.message, /no model called "cats_and_dogs_small_2"/);
      assert.match(err.message, /run notebook 5\.2/);
      assert.match(err.message, /saveModel\(model, "cats_and_dogs_small_2"\)/);
      return true;
    });
    await assert.rejects(loadModel(join(dataDir, "elsewhere")), (err: Error) => {
      assert.ok(err instanceof ModelFileError);
      assert.match(err.message, /no saved model at .*elsewhere/);
      return true;
    });
  });
});

Deno.test("model names must be plain folder names", () => {
  assert.throws(() => modelPath("../escape"), RangeError);
  assert.throws(() => modelPath(""), RangeError);
  assert.equal(modelPath("cats_and_dogs_small_1").endsWith(join("models", "cats_and_dogs_small_1")), true);
});

/** A small saved model for the damage tests. */
async function savedSmall(name: string) {
  const model = tf.sequential({ layers: [tf.layers.dense({ name: "dense_1", units: 2, inputShape: [3] })] });
  const saved = await saveModel(model, name, { h5: false });
  model.dispose();
  return saved;
}

Deno.test("a truncated weights.bin is a ModelFileError naming the file, not tfjs' shape error", async () => {
  await inTempDataDir(async () => {
    const saved = await savedSmall("cut");
    const bytes = await Deno.readFile(saved.weightsBin);
    await Deno.writeFile(saved.weightsBin, bytes.subarray(0, 10));
    await assert.rejects(loadModel("cut"), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.ok(err.message.includes(saved.weightsBin), err.message);
      assert.match(err.message, /differs from what was saved \(10 bytes, expected 32; manifest\.json records it\)/);
      assert.match(err.message, /Save the model again/);
      return true;
    });
    // Without a manifest (saved by tfjs or an older version) the size is checked against model.json.
    await Deno.remove(join(saved.dir, MANIFEST_JSON));
    await assert.rejects(loadModel("cut"), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.match(
        err.message,
        /holds 10 bytes but .*model\.json describes 32 bytes of weights: the file is truncated/,
      );
      return true;
    });
  });
});

Deno.test("same-size corruption of weights.bin is refused (SHA-256 differs from the manifest)", async () => {
  await inTempDataDir(async () => {
    const saved = await savedSmall("flipped");
    const bytes = await Deno.readFile(saved.weightsBin);
    bytes[5] ^= 0x01;
    await Deno.writeFile(saved.weightsBin, bytes);
    await assert.rejects(loadModel("flipped"), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.match(
        err.message,
        /differs from what was saved \(other content: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}; manifest\.json/,
      );
      return true;
    });
  });
});

Deno.test("NaN or infinite weights after loading are a ModelFileError naming the weight", async () => {
  await inTempDataDir(async () => {
    const saved = await savedSmall("nan");
    const bytes = await Deno.readFile(saved.weightsBin);
    new DataView(bytes.buffer).setFloat32(4, NaN, true);
    await Deno.writeFile(saved.weightsBin, bytes);
    await Deno.remove(join(saved.dir, MANIFEST_JSON)); // as if the model itself had diverged before the save
    await assert.rejects(loadModel("nan"), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.match(err.message, /weight "dense_1\/kernel" holds NaN at index 1/);
      return true;
    });
  });
});

Deno.test("loadModel of a Keras .h5 file says to use loadKerasModel / loadWeightsFromH5; a model.json that is not JSON is named", async () => {
  await inTempDataDir(async (dataDir) => {
    for (const arg of ["x.h5", join(ROOT_FIXTURES, "dense_imdb.h5")]) {
      await assert.rejects(loadModel(arg), (err: Error) => {
        assert.ok(err instanceof ModelFileError, String(err));
        assert.match(err.message, /is a Keras file, not a model saved by saveModel/);
        assert.match(err.message, /loadKerasModel\(/);
        assert.match(err.message, /loadWeightsFromH5\(model, /);
        return true;
      });
    }
    // A model.json that is not JSON: a ModelFileError, not "Unexpected token" (with the manifest: it differs).
    const saved = await savedSmall("badjson");
    await Deno.writeTextFile(saved.modelJson, "<html>not json</html>");
    await assert.rejects(loadModel("badjson"), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.match(err.message, /model\.json differs from what was saved \(21 bytes, expected \d+; manifest\.json/);
      return true;
    });
    await Deno.remove(join(saved.dir, MANIFEST_JSON));
    await assert.rejects(loadModel("badjson"), (err: Error) => {
      assert.ok(err instanceof ModelFileError, String(err));
      assert.ok(err.message.includes(saved.modelJson));
      assert.match(err.message, /save the model again/);
      return true;
    });
    assert.ok(dataDir);
  });
});

Deno.test("temporary folders left by a killed save are removed at the next save", async () => {
  await inTempDataDir(async (dataDir) => {
    const models = join(dataDir, "models");
    await Deno.mkdir(models, { recursive: true });
    // The pid of a process that has ended.
    const child = new Deno.Command("true").spawn();
    await child.status;
    const dead = child.pid;
    const stale = [`.leak.tmp-${dead}-abcd1234`, `.leak.old-${dead}-abcd1234`];
    for (const name of stale) await Deno.mkdir(join(models, name, "inner"), { recursive: true });
    // One of a save that is still running (this process) must stay.
    const live = `.leak.tmp-${Deno.pid}-running`;
    await Deno.mkdir(join(models, live));
    await savedSmall("leak");
    assert.deepEqual([...Deno.readDirSync(models)].map((e) => e.name).sort(), [live, "leak"].sort());
  });
});

Deno.test("saveModel on a full disk or a read-only folder is a ModelFileError naming the folder; the old model stays", async () => {
  await inTempDataDir(async (dataDir) => {
    const models = join(dataDir, "models");
    await Deno.mkdir(models);
    const mount = (...args: string[]) =>
      new Deno.Command("mount", { args, stdout: "null", stderr: "null" }).output().then((o) => o.success, () => false);
    if (!(await mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", models))) return; // needs root and Linux
    try {
      const small = await savedSmall("keep");
      const big = tf.sequential({ layers: [tf.layers.dense({ units: 256, inputShape: [256] })] }); // 257 KB of weights
      await assert.rejects(saveModel(big, "keep", { h5: false }), (err: Error) => {
        assert.ok(err instanceof ModelFileError, String(err));
        assert.match(err.message, /cannot save the model at .*keep: no space left on the disk/);
        return true;
      });
      big.dispose();
      assert.deepEqual([...Deno.readDirSync(models)].map((e) => e.name), ["keep"], "no temporary folder left");
      assert.equal((await loadModel("keep")).countParams(), 8, "the model saved before is intact");
      assert.ok(await mount("-o", "remount,ro", models));
      await assert.rejects(
        saveModel(tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1] })] }), "other", { h5: false }),
        (err: Error) => err instanceof ModelFileError && /read-only file system/.test(err.message),
      );
      assert.ok(small.dir);
    } finally {
      await new Deno.Command("umount", { args: [models] }).output();
    }
  });
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { initBackend } from "../lib/backend/chain.ts";
import { ROOT } from "../lib/io/profile.ts";
import {
  type Batch,
  type DirectoryIterator,
  DirectoryIteratorError,
  flowFromDirectory,
} from "../lib/preprocessing/directory_iterator.ts";
import { ImageLoadError } from "../lib/preprocessing/image.ts";
import { imageDataGenerator } from "../lib/preprocessing/image_data_generator.ts";

await initBackend({ backend: "cpu" });

const SHARED_TRAIN = resolve(ROOT, "../shared/datasets/cats_and_dogs_small/train");
const hasShared = await Deno.stat(SHARED_TRAIN).then(() => true, () => false);
const quiet = () => {};

const picture = (value: number, format: "jpeg" | "png" = "png", size = 12) =>
  sharp({ create: { width: size, height: size, channels: 3, background: { r: value, g: value, b: value } } })
    [format]()
    .toBuffer()
    .then((b) => new Uint8Array(b));

/**
 * A small class folder tree: cats/ has 4 pictures (one in a nested folder, one with an upper-case
 * extension), dogs/ has 3, plus files and folders flowFromDirectory must ignore.
 */
async function makeTree(dir: string) {
  for (const d of ["cats/more", "dogs", ".ipynb_checkpoints"]) await Deno.mkdir(join(dir, d), { recursive: true });
  await Deno.writeFile(join(dir, "cats/cat.0.png"), await picture(10));
  await Deno.writeFile(join(dir, "cats/cat.1.PNG"), await picture(20));
  await Deno.writeFile(join(dir, "cats/cat.10.jpg"), await picture(30, "jpeg"));
  await Deno.writeFile(join(dir, "cats/more/cat.2.png"), await picture(40));
  await Deno.writeTextFile(join(dir, "cats/notes.txt"), "not a picture");
  for (let i = 0; i < 3; i++) await Deno.writeFile(join(dir, `dogs/dog.${i}.png`), await picture(200 + i));
  await Deno.writeFile(join(dir, ".ipynb_checkpoints/x.png"), await picture(1));
  await Deno.writeTextFile(join(dir, "README.txt"), "a file beside the class folders");
}

async function withTree(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ch5_flow_" });
  try {
    await makeTree(dir);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function dispose(batch: Batch) {
  batch.xs.dispose();
  batch.ys?.dispose();
}

async function indicesOf(it: DirectoryIterator, batches: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let k = 0; k < batches; k++) {
    const b = await it.next();
    out.push(Array.from(b.indices));
    dispose(b);
  }
  return out;
}

Deno.test("flowFromDirectory: classes, filenames and labels as Keras lists them", async () => {
  await withTree(async (dir) => {
    const lines: string[] = [];
    const it = await flowFromDirectory(dir, { targetSize: [6, 5], log: (l) => lines.push(l) });
    assert.deepEqual(lines, ["Found 7 images belonging to 2 classes."]);
    assert.deepEqual(it.classIndices, { cats: 0, dogs: 1 });
    assert.deepEqual(it.filenames, [
      "cats/cat.0.png",
      "cats/cat.1.PNG",
      "cats/cat.10.jpg",
      "cats/more/cat.2.png",
      "dogs/dog.0.png",
      "dogs/dog.1.png",
      "dogs/dog.2.png",
    ]);
    assert.deepEqual(Array.from(it.classes), [0, 0, 0, 0, 1, 1, 1]);
    assert.equal(it.samples, 7);
    assert.equal(it.filepath(4), join(dir, "dogs/dog.0.png"));
    const only = await flowFromDirectory(dir, { classes: ["dogs"], log: quiet });
    assert.deepEqual(only.classIndices, { dogs: 0 });
    assert.equal(only.samples, 3);
  });
});

Deno.test("flowFromDirectory: label shapes per classMode, rescale, target size", async () => {
  await withTree(async (dir) => {
    const common = { targetSize: [6, 5] as const, batchSize: 4, shuffle: false, log: quiet };
    const expectations = [
      ["binary", [4, 1]],
      ["categorical", [4, 2]],
      ["sparse", [4]],
    ] as const;
    for (const [classMode, shape] of expectations) {
      const it = await flowFromDirectory(dir, { ...common, classMode, rescale: 1 / 255 });
      const b = await it.next();
      assert.deepEqual(b.xs.shape, [4, 6, 5, 3]);
      assert.equal(b.xs.dtype, "float32");
      assert.deepEqual(b.ys!.shape, shape, classMode);
      assert.equal(b.ys!.dtype, "float32");
      const x = b.xs.dataSync();
      assert.ok(x.every((v) => v >= 0 && v <= 1));
      assert.ok(Math.abs(x[0] - 10 / 255) < 1e-6, "first picture, value 10, rescaled");
      const second = await it.next(); // the rest of the epoch: 3 pictures, all dogs
      assert.equal(second.xs.shape[0], 3);
      if (classMode === "categorical") assert.deepEqual(Array.from(second.ys!.dataSync()), [0, 1, 0, 1, 0, 1]);
      else assert.deepEqual(Array.from(second.ys!.dataSync()), [1, 1, 1]);
      dispose(b);
      dispose(second);
    }
    const none = await flowFromDirectory(dir, { ...common, classMode: null });
    const b = await none.next();
    assert.equal(b.ys, undefined);
    assert.ok(b.xs.dataSync()[0] === 10, "no rescale: values 0..255");
    dispose(b);
    const grey = await flowFromDirectory(dir, { ...common, colorMode: "grayscale" });
    const g = await grey.next();
    assert.deepEqual(g.xs.shape, [4, 6, 5, 1]);
    dispose(g);
  });
});

Deno.test("flowFromDirectory: endless epochs, each a reshuffle covering every picture once; seeds repeat", async () => {
  await withTree(async (dir) => {
    const make = (seed: number, shuffle = true) =>
      flowFromDirectory(dir, { targetSize: [4, 4], batchSize: 3, seed, shuffle, log: quiet });
    const it = await make(7);
    assert.equal(it.batchesPerEpoch, 3);
    const batches = await indicesOf(it, 9); // three epochs of 3 + 3 + 1
    assert.deepEqual(batches.map((b) => b.length), [3, 3, 1, 3, 3, 1, 3, 3, 1]);
    const epochs = [0, 1, 2].map((e) => batches.slice(3 * e, 3 * e + 3).flat());
    for (const epoch of epochs) assert.deepEqual([...epoch].sort(), [0, 1, 2, 3, 4, 5, 6]);
    assert.ok(epochs[0].join() !== epochs[1].join() || epochs[1].join() !== epochs[2].join(), "reshuffled");

    assert.deepEqual(await indicesOf(await make(7), 9), batches, "same seed, same order");
    assert.notDeepEqual(await indicesOf(await make(8), 9), batches, "another seed, another order");
    assert.deepEqual((await indicesOf(await make(7, false), 3)).flat(), [0, 1, 2, 3, 4, 5, 6]);

    const it2 = await make(7, false);
    await indicesOf(it2, 1);
    it2.reset();
    assert.deepEqual((await indicesOf(it2, 1))[0], [0, 1, 2], "reset starts a new epoch");

    let count = 0;
    for await (const b of await make(1)) {
      dispose(b);
      if (++count === 5) break;
    }
    assert.equal(count, 5);
  });
});

Deno.test("flowFromDirectory: errors for a missing folder, no class folders, no pictures and a corrupt picture", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ch5_flow_err_" });
  try {
    await assert.rejects(
      flowFromDirectory(join(dir, "nope")),
      (err: Error) => err instanceof DirectoryIteratorError && /no such folder/.test(err.message),
    );
    await Deno.writeFile(join(dir, "loose.png"), await picture(5));
    await assert.rejects(
      flowFromDirectory(dir, { log: quiet }),
      (err: Error) => err instanceof DirectoryIteratorError && /no class subfolders/.test(err.message),
    );
    // Empty class folders are reported as 0 pictures; iterating over nothing is then an error.
    await Deno.mkdir(join(dir, "a"));
    await Deno.mkdir(join(dir, "b"));
    const lines: string[] = [];
    const empty = await flowFromDirectory(dir, { log: (l) => lines.push(l) });
    assert.deepEqual(lines, ["Found 0 images belonging to 2 classes."]);
    await assert.rejects(
      empty.next(),
      (err: Error) => err instanceof DirectoryIteratorError && /no pictures/.test(err.message),
    );
    // One good class, one empty: fine.
    for (let i = 0; i < 4; i++) await Deno.writeFile(join(dir, `a/${i}.png`), await picture(i * 10));
    const half = await flowFromDirectory(dir, { log: quiet, targetSize: [4, 4], batchSize: 2, shuffle: false });
    assert.equal(half.samples, 4);
    // A picture that breaks in the middle of training: the batch that holds it fails, naming it.
    await Deno.writeTextFile(join(dir, "a/2.png"), "no longer a picture");
    dispose(await half.next());
    await assert.rejects(half.next(), (err: Error) => err instanceof ImageLoadError && /a\/2\.png/.test(err.message));
    dispose(await half.next()); // the iterator goes on with the next batch
    await Deno.mkdir(join(dir, "c"));
    await assert.rejects(flowFromDirectory(dir, { log: quiet, classMode: "binary" }), /needs 2 class folders/);
    await assert.rejects(flowFromDirectory(dir, { log: quiet, classes: ["a", "a"] }), /twice/);
    await assert.rejects(flowFromDirectory(dir, { log: quiet, classes: ["a", "zebra"] }), /zebra is not in/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flowFromDirectory: with an ImageDataGenerator, batches are augmented then rescaled", async () => {
  await withTree(async (dir) => {
    const datagen = imageDataGenerator({ rescale: 1 / 255, horizontalFlip: true, rotationRange: 30, seed: 3 });
    const it = await datagen.flowFromDirectory(dir, { targetSize: [12, 12], batchSize: 7, shuffle: false, log: quiet });
    const b = await it.next();
    const x = b.xs.dataSync();
    assert.ok(x.every((v) => v >= 0 && v <= 1));
    // Uniform pictures stay uniform under rotation with fill "nearest".
    assert.ok(Math.abs(x[0] - 10 / 255) < 1e-6 && Math.abs(x[x.length - 1] - 202 / 255) < 1e-6);
    dispose(b);
    await assert.rejects(
      flowFromDirectory(dir, { generator: datagen, rescale: 1 / 255, log: quiet }),
      /rescale is given twice/,
    );
  });
});

Deno.test("flowFromDirectory: toDataset trains with model.fitDataset without leaking tensors", async () => {
  await withTree(async (dir) => {
    const train = await flowFromDirectory(dir, {
      targetSize: [8, 8],
      batchSize: 3,
      classMode: "binary",
      rescale: 1 / 255,
      seed: 1,
      log: quiet,
    });
    const validation = await flowFromDirectory(dir, {
      targetSize: [8, 8],
      batchSize: 4,
      classMode: "binary",
      rescale: 1 / 255,
      shuffle: false,
      log: quiet,
    });
    const model = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [8, 8, 3] }), tf.layers.dense({ units: 1, activation: "sigmoid" })],
    });
    model.compile({ optimizer: "sgd", loss: "binaryCrossentropy", metrics: ["accuracy"] });
    const before = tf.memory().numTensors;
    const history = await model.fitDataset(train.toDataset(), {
      epochs: 2,
      batchesPerEpoch: 3,
      validationData: validation.toDataset(),
      validationBatches: 2,
      verbose: 0,
    });
    assert.equal(history.history.loss.length, 2);
    assert.equal(history.history.val_loss.length, 2);
    assert.equal(tf.memory().numTensors, before, "every batch was disposed");
    const finite = await train.toDataset({ batches: 2 }).toArray();
    assert.equal(finite.length, 2);
    tf.dispose(finite as tf.TensorContainer[]);
    model.dispose();
  });
});

Deno.test("flowFromDirectory: the next batch is decoded while the current one is in use", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ch5_flow_prefetch_" });
  try {
    await Deno.mkdir(join(dir, "only"));
    const big = await picture(120, "jpeg", 900);
    for (let i = 0; i < 16; i++) await Deno.writeFile(join(dir, `only/${i}.jpg`), big);
    const latency = async (prefetch: boolean) => {
      const it = await flowFromDirectory(dir, { targetSize: [150, 150], batchSize: 4, prefetch, log: quiet });
      dispose(await it.next());
      await new Promise((r) => setTimeout(r, 1000)); // "training" on the first batch
      const t = performance.now();
      dispose(await it.next());
      return performance.now() - t;
    };
    const without = await latency(false);
    const withPrefetch = await latency(true);
    console.log(
      `next() after 1 s of training: ${withPrefetch.toFixed(1)} ms with prefetch, ${without.toFixed(1)} ms without`,
    );
    assert.ok(withPrefetch < without, "prefetching hides the decoding time");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "flowFromDirectory: the book's train folder: 2000 pictures, cats 0, dogs 1, 150×150 batches of 20",
  ignore: !hasShared,
  fn: async () => {
    const lines: string[] = [];
    const it = await flowFromDirectory(SHARED_TRAIN, {
      targetSize: [150, 150],
      batchSize: 20,
      classMode: "binary",
      rescale: 1 / 255,
      log: (l) => lines.push(l),
    });
    assert.deepEqual(lines, ["Found 2000 images belonging to 2 classes."]);
    assert.deepEqual(it.classIndices, { cats: 0, dogs: 1 });
    assert.deepEqual(it.filenames.slice(0, 3), ["cats/cat.0.jpg", "cats/cat.1.jpg", "cats/cat.10.jpg"]);
    assert.equal(it.classes.filter((c) => c === 1).length, 1000);
    const b = await it.next();
    assert.deepEqual(b.xs.shape, [20, 150, 150, 3]);
    assert.deepEqual(b.ys!.shape, [20, 1]);
    dispose(b);
  },
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { initBackend } from "@ch5/engine";
import { ROOT } from "../lib/io/profile.ts";
import { DataError, PictureError } from "../lib/io/errors.ts";
import {
  type Batch,
  type DirectoryIterator,
  type FlowFromDirectoryOptions,
} from "../lib/preprocessing/directory_iterator.ts";
import { imageDataGenerator } from "../lib/preprocessing/image_data_generator.ts";

await initBackend({ backend: "cpu" });

const SHARED_TRAIN = resolve(ROOT, "../shared/datasets/cats_and_dogs_small/train");
const hasShared = await Deno.stat(SHARED_TRAIN).then(() => true, () => false);
const quiet = () => {};

/** Batches without augmentation or rescaling: values 0..255. */
const flowFromDirectory = (dir: string, options?: FlowFromDirectoryOptions) =>
  imageDataGenerator().flowFromDirectory(dir, options);
/** The book's test generator: rescale only. */
const rescaled = imageDataGenerator({ rescale: 1 / 255 });

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
      const it = await rescaled.flowFromDirectory(dir, { ...common, classMode });
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
      (err: Error) => err instanceof DataError && /no such folder/.test(err.message),
    );
    await Deno.writeFile(join(dir, "loose.png"), await picture(5));
    await assert.rejects(
      flowFromDirectory(dir, { log: quiet }),
      (err: Error) => err instanceof DataError && /no class subfolders/.test(err.message),
    );
    // Empty class folders are reported as 0 pictures; iterating over nothing is then an error.
    await Deno.mkdir(join(dir, "a"));
    await Deno.mkdir(join(dir, "b"));
    const lines: string[] = [];
    const warn = console.warn;
    console.warn = (l: string) => lines.push(l);
    const empty = await flowFromDirectory(dir, { log: (l) => lines.push(l) }).finally(() => console.warn = warn);
    assert.equal(lines.length, 3);
    assert.match(lines[0], /class folder .*\/a holds no pictures/);
    assert.match(lines[1], /class folder .*\/b holds no pictures/);
    assert.equal(lines[2], "Found 0 images belonging to 2 classes.");
    await assert.rejects(
      empty.next(),
      (err: Error) => err instanceof DataError && /no pictures/.test(err.message),
    );
    // One good class, one empty: fine.
    for (let i = 0; i < 4; i++) await Deno.writeFile(join(dir, `a/${i}.png`), await picture(i * 10));
    const half = await flowFromDirectory(dir, {
      log: quiet,
      targetSize: [4, 4],
      batchSize: 2,
      shuffle: false,
    });
    assert.equal(half.samples, 4);
    // A picture that breaks in the middle of training: the batch that holds it fails, naming it.
    await Deno.writeTextFile(join(dir, "a/2.png"), "no longer a picture");
    dispose(await half.next());
    await assert.rejects(half.next(), (err: Error) => err instanceof PictureError && /a\/2\.png/.test(err.message));
    dispose(await half.next()); // the iterator goes on with the next batch
    await Deno.mkdir(join(dir, "c"));
    const opts = { log: quiet };
    await assert.rejects(flowFromDirectory(dir, { ...opts, classMode: "binary" }), /needs 2 class folders/);
    await assert.rejects(flowFromDirectory(dir, { ...opts, classes: ["a", "a"] }), /twice/);
    await assert.rejects(flowFromDirectory(dir, { ...opts, classes: ["a", "zebra"] }), /zebra is not in/);
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
  });
});

Deno.test("flowFromDirectory: toDataset trains with model.fitDataset without leaking tensors", async () => {
  await withTree(async (dir) => {
    const train = await rescaled.flowFromDirectory(dir, {
      targetSize: [8, 8],
      batchSize: 3,
      classMode: "binary",
      seed: 1,
      log: quiet,
    });
    const validation = await rescaled.flowFromDirectory(dir, {
      targetSize: [8, 8],
      batchSize: 4,
      classMode: "binary",
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
    // Batch 2 is read as soon as batch 1 is handed out: deleting its files afterwards does not matter.
    for (let i = 0; i < 4; i++) await Deno.writeFile(join(dir, `only/${i}.png`), await picture(i * 50));
    const it = await flowFromDirectory(dir, { targetSize: [6, 6], batchSize: 2, shuffle: false, log: quiet });
    dispose(await it.next());
    await new Promise((r) => setTimeout(r, 500)); // "training" on batch 1
    for (const i of [2, 3]) await Deno.remove(join(dir, `only/${i}.png`));
    const second = await it.next();
    assert.equal(second.xs.dataSync()[0], 100, "batch 2 was decoded ahead");
    dispose(second);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flowFromDirectory: decoded pictures are kept after the first epoch (they fit in 512 MiB)", async () => {
  await withTree(async (dir) => {
    const cached = await flowFromDirectory(dir, { targetSize: [4, 4], batchSize: 7, shuffle: false, log: quiet });
    assert.equal(cached.cache, true, "7 small pictures fit the limit");
    // Epochs 1 and 2 (one batch each) are decoded from the files while epoch 1 is the current batch; epoch 3 is
    // scheduled once epoch 1's pictures are kept, so it needs no file.
    const first = await cached.next();
    const again = await cached.next();
    await Deno.remove(join(dir, "cats"), { recursive: true });
    const third = await cached.next();
    assert.deepEqual(Array.from(third.xs.dataSync()), Array.from(first.xs.dataSync()), "epoch 3 from memory");
    [first, again, third].forEach(dispose);
  });
});

Deno.test("flowFromDirectory: an empty class folder is a warning that names it and its label", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ch5_flow_empty_" });
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (line: string) => warnings.push(line);
  try {
    await Deno.mkdir(join(dir, "cats"));
    await Deno.mkdir(join(dir, "dogs"));
    for (let i = 0; i < 2; i++) await Deno.writeFile(join(dir, `cats/cat.${i}.png`), await picture(i));
    const it = await flowFromDirectory(dir, { classMode: "binary", log: quiet });
    assert.equal(it.samples, 2);
    assert.deepEqual(warnings, [
      `flowFromDirectory: class folder ${join(dir, "dogs")} holds no pictures ` +
      "(.jpg/.jpeg/.png/.bmp/.ppm/.tif/.tiff); its label 1 never occurs, so every batch has only the other labels. " +
      "Put pictures in it or remove the folder.",
    ]);
  } finally {
    console.warn = warn;
    await Deno.remove(dir, { recursive: true });
  }
});

/** A picture whose pixels all differ, so any rotation, zoom or flip shows. */
const texture = (seed: number, size = 8) =>
  sharp(Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 37 + seed * 11) % 256), {
    raw: { width: size, height: size, channels: 3 },
  }).png().toBuffer().then((b) => new Uint8Array(b));

Deno.test("getState/setState: a resumed iterator gives the same batches, augmentation included, as one never stopped", async () => {
  await withTree(async (dir) => {
    for (const [i, name] of ["cats/cat.0.png", "cats/cat.1.PNG", "dogs/dog.0.png", "dogs/dog.1.png"].entries()) {
      await Deno.writeFile(join(dir, name), await texture(i));
    }
    const make = (seeds: { generator?: number; iterator?: number } = { generator: 5, iterator: 9 }) =>
      imageDataGenerator({
        rescale: 1 / 255,
        rotationRange: 40,
        zoomRange: 0.3,
        horizontalFlip: true,
        seed: seeds.generator,
      }).flowFromDirectory(dir, {
        targetSize: [8, 8],
        batchSize: 3,
        classMode: "binary",
        seed: seeds.iterator,
        log: quiet,
      });
    const take = async (it: DirectoryIterator, n: number) => {
      const out: { indices: number[]; x: number[]; y: number[] }[] = [];
      for (let k = 0; k < n; k++) {
        const b = await it.next();
        out.push({ indices: Array.from(b.indices), x: Array.from(b.xs.dataSync()), y: Array.from(b.ys!.dataSync()) });
        dispose(b);
      }
      return out;
    };
    const whole = await take(await make(), 8); // 8 batches: 2 epochs of 3 and 2 of the third
    const plain = await imageDataGenerator({ rescale: 1 / 255 })
      .flowFromDirectory(dir, { targetSize: [8, 8], batchSize: 3, classMode: "binary", seed: 9, log: quiet });
    const unaugmented = await take(plain, 8);
    assert.deepEqual(unaugmented.map((b) => b.indices), whole.map((b) => b.indices));
    assert.ok(unaugmented.some((b, k) => b.x.join() !== whole[k].x.join()), "the pictures are augmented");
    const first = await make();
    const head = await take(first, 4); // one epoch and a batch; batch 5 is being decoded ahead
    const saved = JSON.parse(JSON.stringify(first.getState()));
    assert.equal(saved.totalBatchesSeen, 4, "the state counts batches handed out, not the one decoded ahead");
    assert.deepEqual(head, whole.slice(0, 4));
    // A fresh process: new generator and iterator (without seeds, as in the book), then the saved state.
    const resumed = await make({});
    assert.notEqual(resumed.seed, 9);
    resumed.setState(saved);
    assert.equal(resumed.seed, 9, "the state's seed is adopted");
    assert.deepEqual(await take(resumed, 4), whole.slice(4), "same pictures, same augmentation, same labels");
    // The book passes no seeds at all: a state still fixes what comes next.
    const unseeded = await make({});
    await take(unseeded, 2);
    const savedUnseeded = JSON.parse(JSON.stringify(unseeded.getState()));
    const rest = await take(unseeded, 5);
    const restarted = await make({});
    restarted.setState(savedUnseeded);
    assert.deepEqual(await take(restarted, 5), rest);
    // The same iterator can go back, too, and toDataset carries the state.
    const ds = first.toDataset();
    ds.setState(saved);
    assert.deepEqual(ds.getState(), saved);
    assert.deepEqual(await take(first, 1), whole.slice(4, 5));
    // States of other pictures, or not a state, are refused.
    await Deno.rename(join(dir, "dogs/dog.2.png"), join(dir, "cats/dog.2.png")); // same count, another label
    const other = await make();
    assert.equal(other.samples, saved.samples);
    assert.throws(() => other.setState(saved), /the folder changed since the state was saved/);
    assert.throws(() => first.setState({ ...saved, batchIndex: 99 }), DataError);
    assert.throws(() => first.setState(null as never), /not a DirectoryIterator state/);
  });
});

Deno.test({
  name: "flowFromDirectory: the book's train folder: 2000 pictures, cats 0, dogs 1, 150×150 batches of 20",
  ignore: !hasShared,
  fn: async () => {
    const lines: string[] = [];
    const it = await rescaled.flowFromDirectory(SHARED_TRAIN, {
      targetSize: [150, 150],
      batchSize: 20,
      classMode: "binary",
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

Deno.test("flowFromDirectory: seeds outside 0 … 2^32 − 1 (Date.now(), −1, 1.5) are refused at once, naming the range", async () => {
  await withTree(async (dir) => {
    for (const seed of [Date.now(), -1, 1.5]) {
      await assert.rejects(
        flowFromDirectory(dir, { seed, log: quiet }),
        (err: Error) =>
          err instanceof RangeError && /seed must be a whole number from 0 to 2\^32 - 1/.test(err.message),
      );
      assert.throws(() => imageDataGenerator({ seed }), /seed must be a whole number/);
    }
    const it = await flowFromDirectory(dir, { seed: 0xffff_ffff, targetSize: [4, 4], log: quiet });
    it.setState(JSON.parse(JSON.stringify(it.getState())));
  });
});

Deno.test("flowFromDirectory: a targetSize whose batch cannot be held is a RangeError naming targetSize, batch and bytes", async () => {
  await withTree(async (dir) => {
    await assert.rejects(flowFromDirectory(dir, { targetSize: [100000, 100000], log: quiet }), (err: Error) => {
      assert.ok(err instanceof RangeError, String(err));
      assert.match(err.message, /^targetSize \[100000, 100000\] with batchSize 32 needs 3840\.0 GB per batch/);
      assert.match(err.message, /\(32 × 100000 × 100000 × 3 float32 values\)/);
      return true;
    });
  });
});

Deno.test("flowFromDirectory: .gif and .webp files are not pictures; links to folders are not followed, so a link loop lists each file once", async () => {
  await withTree(async (dir) => {
    await Deno.writeFile(join(dir, "dogs/dog.3.gif"), await sharp(await picture(9)).gif().toBuffer());
    await Deno.writeFile(join(dir, "dogs/dog.4.webp"), await sharp(await picture(9)).webp().toBuffer());
    await Deno.symlink(join(dir, "cats"), join(dir, "cats/more/loop")); // cats/more/loop -> cats
    await Deno.symlink(join(dir, "dogs/dog.0.png"), join(dir, "dogs/dog.9.png")); // a link to a file is a file
    const lines: string[] = [];
    const it = await flowFromDirectory(dir, { log: (l) => lines.push(l) });
    assert.deepEqual(lines, ["Found 8 images belonging to 2 classes."]);
    assert.deepEqual(it.filenames.filter((f) => f.startsWith("dogs/")), [
      "dogs/dog.0.png",
      "dogs/dog.1.png",
      "dogs/dog.2.png",
      "dogs/dog.9.png",
    ]);
  });
});

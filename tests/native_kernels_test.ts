/**
 * The oneDNN kernels of the wasm-native backend (lib/backend/native_kernels.ts,
 * lib/backend/onednn.ts) compute what the cpu backend computes (relative error
 * ≤ 1e-4), train the chapter's models the same, and leak nothing.
 *
 * Skipped, with one line saying so, only where no oneDNN 2.x library exists
 * (`apt install libdnnl2`); CI installs it, so there they run.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { mnistConvnet, smallConvnet } from "../lib/models/convnets.ts";
import { registerWasmTrainingKernels } from "../lib/backend/wasm_training.ts";
import { loadOneDnn, type OneDnn, OneDnnError } from "../lib/backend/onednn.ts";
import { nativeKernelCounts, registerNativeKernels } from "../lib/backend/native_kernels.ts";
import {
  convCases,
  convOutShape,
  expectSame as sameOnBoth,
  type KernelInputs,
  random,
  relativeError,
  type Shape4,
  TOLERANCE,
  trainOnBoth as sharedTrainOnBoth,
} from "./backend_helpers.ts";

/** The shared cases, plus one with 32 input channels (oneDNN picks blocked kernels there). */
const CONV_CASES = convCases([{ batch: 1, h: 15, w: 17, inC: 32, outC: 16, f: [3, 3] }]);

let dnnl: OneDnn | undefined;
try {
  dnnl = loadOneDnn({ threads: Math.min(2, navigator.hardwareConcurrency) });
} catch (err) {
  // Only a missing library skips; a wrong version or a broken binding fails the file.
  if (!(err instanceof OneDnnError && /not found/.test(err.message))) throw err;
  console.warn(`native kernel tests skipped: ${err.message}`);
}
const ignore = !dnnl;

// The single-threaded wasm build is enough here: the oneDNN kernels run on OpenMP threads.
await tf.setBackend("wasm");
registerWasmTrainingKernels();
const KERNELS = dnnl ? registerNativeKernels(dnnl) : [];

function test(name: string, fn: () => Promise<void> | void): void {
  Deno.test({ name, ignore, fn });
}

/** Calls that `kernel` sent to oneDNN so far. */
const nativeCalls = (kernel: string) => nativeKernelCounts()[kernel]?.native ?? 0;

/** {@link sameOnBoth}, and oneDNN (not a fallback) ran the kernel once. */
async function expectSame(what: string, kernel: string, inputs: KernelInputs, attrs: Record<string, unknown>) {
  const before = nativeCalls(kernel);
  await sameOnBoth(what, kernel, inputs, attrs);
  assert.equal(nativeCalls(kernel), before + 1, `${what}: oneDNN ran ${kernel} (no fallback)`);
}

test("registerNativeKernels registers the oneDNN kernels once, over the wasm ones", () => {
  assert.ok(dnnl!.version.startsWith("2."), `oneDNN ${dnnl!.version}`);
  for (const name of ["Conv2D", "FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "BatchMatMul"]) {
    assert.ok(KERNELS.includes(name), `${name} is native`);
  }
  assert.deepEqual(registerNativeKernels(dnnl!), KERNELS, "a second call changes nothing");
});

test("loadOneDnn with no library names the install commands", () => {
  assert.throws(() => loadOneDnn({ paths: ["/nonexistent/libdnnl.so.2"] }), (err: Error) => {
    assert.ok(err instanceof OneDnnError);
    assert.match(err.message, /oneDNN 2\.x not found/);
    assert.match(err.message, /apt install libdnnl2/);
    assert.match(err.message, /conda install/);
    assert.match(err.message, /brew install onednn/);
    return true;
  });
});

test("Conv2D matches the cpu backend (valid/same, strides 1 and 2, odd sizes, batch 1 and N, 1/3/odd channels)", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const xShape: Shape4 = [c.batch, c.h, c.w, c.inC], filterShape: Shape4 = [c.f[0], c.f[1], c.inC, c.outC];
    await expectSame(`conv2d ${JSON.stringify(c)}`, "Conv2D", {
      x: { shape: xShape, values: random(xShape, 1 + i) },
      filter: { shape: filterShape, values: random(filterShape, 101 + i) },
    }, { strides: c.stride, pad: c.pad, dataFormat: "NHWC", dilations: 1 });
  }
});

test("FusedConv2D (bias, bias + ReLU, bias + sigmoid) matches the cpu backend", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const activation = ["linear", "relu", "sigmoid"][i % 3];
    const xShape: Shape4 = [c.batch, c.h, c.w, c.inC], filterShape: Shape4 = [c.f[0], c.f[1], c.inC, c.outC];
    await expectSame(`fusedConv2d ${activation} ${JSON.stringify(c)}`, "FusedConv2D", {
      x: { shape: xShape, values: random(xShape, 201 + i) },
      filter: { shape: filterShape, values: random(filterShape, 301 + i) },
      bias: { shape: [c.outC], values: random([c.outC], 401 + i) },
    }, { strides: c.stride, pad: c.pad, dataFormat: "NHWC", dilations: 1, activation });
  }
});

test("Conv2DBackpropInput matches the cpu backend on every convolution case", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const xShape: Shape4 = [c.batch, c.h, c.w, c.inC], filterShape: Shape4 = [c.f[0], c.f[1], c.inC, c.outC];
    const yShape = convOutShape(xShape, filterShape, c.stride, c.pad);
    await expectSame(`conv2DBackpropInput ${JSON.stringify(c)}`, "Conv2DBackpropInput", {
      dy: { shape: yShape, values: random(yShape, 501 + i) },
      filter: { shape: filterShape, values: random(filterShape, 601 + i) },
    }, { strides: c.stride, pad: c.pad, dataFormat: "NHWC", inputShape: xShape });
  }
});

test("Conv2DBackpropFilter matches the cpu backend on every convolution case", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const xShape: Shape4 = [c.batch, c.h, c.w, c.inC], filterShape: Shape4 = [c.f[0], c.f[1], c.inC, c.outC];
    const yShape = convOutShape(xShape, filterShape, c.stride, c.pad);
    await expectSame(`conv2DBackpropFilter ${JSON.stringify(c)}`, "Conv2DBackpropFilter", {
      x: { shape: xShape, values: random(xShape, 701 + i) },
      dy: { shape: yShape, values: random(yShape, 801 + i) },
    }, { strides: c.stride, pad: c.pad, dataFormat: "NHWC", filterShape });
  }
});

test("BatchMatMul and _FusedMatMul match the cpu backend with transposes, batches, bias and activations", async () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[5, 7], [5, 3], true, false],
    [[4, 5], [3, 5], false, true],
    [[6, 4], [4, 9], false, false],
    [[20, 300], [300, 64], false, false],
    [[300, 20], [300, 64], true, false],
    [[20, 64], [300, 64], false, true],
    [[40, 3], [600, 40], true, true],
    [[2, 5, 4], [2, 4, 3], false, false],
    [[3, 5, 4], [1, 3, 5], true, true],
  ];
  for (const [i, [sa, sb, ta, tb]] of cases.entries()) {
    const a = { shape: sa, values: random(sa, 901 + i) }, b = { shape: sb, values: random(sb, 1001 + i) };
    await expectSame(`matMul ${sa} x ${sb} tA=${ta} tB=${tb}`, "BatchMatMul", { a, b }, {
      transposeA: ta,
      transposeB: tb,
    });
    const n = tb ? sb[sb.length - 2] : sb[sb.length - 1];
    const activation = ["linear", "relu", "sigmoid"][i % 3];
    await expectSame(`fused matMul ${activation} ${sa} x ${sb} tA=${ta} tB=${tb}`, "_FusedMatMul", {
      a,
      b,
      bias: { shape: [n], values: random([n], 1101 + i) },
    }, { transposeA: ta, transposeB: tb, activation });
  }
});

test("MaxPoolGrad matches the cpu backend (tiling, overlapping and padded windows, ReLU ties)", async () => {
  const cases = [
    { shape: [2, 8, 8, 3], f: 2, s: 2, pad: "valid" },
    { shape: [1, 9, 7, 4], f: 2, s: 2, pad: "valid" },
    { shape: [3, 9, 7, 2], f: 2, s: 2, pad: "same" },
    { shape: [2, 9, 9, 3], f: 3, s: 2, pad: "valid" },
    { shape: [1, 8, 10, 2], f: 3, s: 2, pad: "same" },
    { shape: [2, 7, 7, 2], f: 3, s: 1, pad: "same" },
  ] as const;
  for (const [i, c] of cases.entries()) {
    const shape = [...c.shape];
    const variants: [string, Float32Array][] = [
      ["random", random(shape, 1201 + i)],
      // After a ReLU most windows tie at 0: the gradient goes to the first one, as on cpu.
      ["relu ties", random(shape, 1301 + i).map((v) => Math.max(0, v))],
    ];
    for (const [what, values] of variants) {
      await tf.setBackend("cpu");
      const output = tf.tidy(() => tf.maxPool(tf.tensor4d(values, shape as Shape4), c.f, c.s, c.pad));
      const yShape = output.shape, yValues = output.dataSync() as Float32Array;
      output.dispose();
      await expectSame(`maxPoolGrad ${what} ${JSON.stringify(c)}`, "MaxPoolGrad", {
        dy: { shape: yShape, values: random(yShape, 1401 + i) },
        input: { shape, values },
        output: { shape: yShape, values: yValues },
      }, { filterSize: c.f, strides: c.s, pad: c.pad });
    }
  }
});

test("MaxPool matches the cpu backend (tiling, overlapping and padded windows)", async () => {
  const cases = [
    { shape: [2, 8, 8, 3], f: 2, s: 2, pad: "valid" },
    { shape: [1, 9, 7, 4], f: 2, s: 2, pad: "valid" },
    { shape: [3, 9, 7, 2], f: 2, s: 2, pad: "same" },
    { shape: [2, 9, 9, 3], f: 3, s: 2, pad: "valid" },
    { shape: [2, 7, 7, 2], f: 3, s: 1, pad: "same" },
  ] as const;
  for (const [i, c] of cases.entries()) {
    const shape = [...c.shape];
    await expectSame(`maxPool ${JSON.stringify(c)}`, "MaxPool", { x: { shape, values: random(shape, 1801 + i) } }, {
      filterSize: c.f,
      strides: c.s,
      pad: c.pad,
    });
  }
});

test("ReLU's gradient is one oneDNN pass on wasm and equals the cpu backend's, zeros and ties included", async () => {
  const shape = [3, 11, 13, 7];
  const values = random(shape, 1901).map((v, i) => (i % 5 === 0 ? 0 : v));
  const dy = random(shape, 1902);
  const grad = async (backend: string) => {
    await tf.setBackend(backend);
    const g = tf.tidy(() =>
      tf.grad((x: tf.Tensor) => tf.relu(x).mul(tf.tensor(dy, shape)).sum())(tf.tensor(values, shape))
    );
    const out = await g.data();
    g.dispose();
    return out;
  };
  const cpu = await grad("cpu");
  const before = nativeCalls("Ch5ReluGrad");
  const wasm = await grad("wasm");
  assert.equal(nativeCalls("Ch5ReluGrad"), before + 1);
  assert.ok(relativeError(cpu, wasm) <= TOLERANCE);
});

test("Add, Multiply, Sub, Relu, Square and Sqrt on large tensors match the cpu backend (same shape, bias row, scalar)", async () => {
  const big = [4, 33, 31, 5]; // 20460 values: above the size where oneDNN takes over
  const cases: [string, number[], number[]][] = [
    ["Add", big, big],
    ["Add", big, [5]],
    ["Add", [], big],
    ["Multiply", big, big],
    ["Multiply", big, []],
    ["Multiply", [1, 5], big],
    ["Sub", big, big],
    ["Sub", big, [5]],
    ["Sub", big, []],
  ];
  for (const [i, [kernel, sa, sb]] of cases.entries()) {
    await expectSame(`${kernel} ${sa} ${sb}`, kernel, {
      a: { shape: sa, values: random(sa, 1501 + i) },
      b: { shape: sb, values: random(sb, 1601 + i) },
    }, {});
  }
  await expectSame("Relu", "Relu", { x: { shape: big, values: random(big, 1701) } }, {});
  await expectSame("Square", "Square", { x: { shape: big, values: random(big, 1702) } }, {});
  const positive = random(big, 1703).map((v) => Math.abs(v) + 1e-3);
  await expectSame("Sqrt", "Sqrt", { x: { shape: big, values: positive } }, {});
});

/** {@link sharedTrainOnBoth}, and the step ran oneDNN's convolution gradients. */
async function trainOnBoth(...args: Parameters<typeof sharedTrainOnBoth>): Promise<void> {
  const before = nativeCalls("Conv2DBackpropFilter");
  await sharedTrainOnBoth(...args);
  assert.ok(nativeCalls("Conv2DBackpropFilter") > before, "the step ran oneDNN's convolution gradients");
}

test("one gradient step of the book's small convnet (48×48) gives the same loss and weights as cpu", async () => {
  await trainOnBoth(() => smallConvnet({ size: 48 }), "binaryCrossentropy", [2, 48, 48, 3], [1, 0], [2, 1]);
});

test("one gradient step of the MNIST convnet gives the same loss and weights as cpu", async () => {
  const labels = [3, 1, 4];
  const oneHot = labels.flatMap((l) => Array.from({ length: 10 }, (_, k) => (k === l ? 1 : 0)));
  await trainOnBoth(mnistConvnet, "categoricalCrossentropy", [3, 28, 28, 1], oneHot, [3, 10]);
});

test("one gradient step of a VGG16 block (3×3 same convs, ReLU, max-pool) gives the same weights as cpu", async () => {
  const block = () =>
    tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: "same", activation: "relu", inputShape: [20, 20, 3] }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: "same", activation: "relu" }),
        tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: "same", activation: "relu" }),
        tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: "same", activation: "relu" }),
        tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 1, activation: "sigmoid" }),
      ],
    });
  await trainOnBoth(block, "binaryCrossentropy", [3, 20, 20, 3], [1, 0, 1], [3, 1]);
});

test("training leaks nothing: tensors, wasm buffers, wasm heap and native memory flat from step 100 to 400", async () => {
  await tf.setBackend("wasm");
  const model = smallConvnet({ size: 48, dropout: true });
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy" });
  const xs = tf.tensor(random([4, 48, 48, 3], 5), [4, 48, 48, 3]), ys = tf.tensor([[1], [0], [1], [0]]);
  const backend = tf.backend() as unknown as { numDataIds(): number; wasm: { HEAPU8: Uint8Array } };
  const counts = () => ({ tensors: tf.memory().numTensors, wasmData: backend.numDataIds() });
  // RSS outside V8's own heap (whose garbage comes and goes): the wasm heap, oneDNN's buffers, malloc.
  const nativeBytes = () => {
    const m = Deno.memoryUsage();
    return m.rss - m.heapTotal;
  };
  for (let i = 0; i < 100; i++) await model.trainOnBatch(xs, ys);
  const after100 = counts(), heap100 = backend.wasm.HEAPU8.buffer.byteLength, native100 = nativeBytes();
  const calls = nativeCalls("Conv2D");
  for (let i = 100; i < 400; i++) await model.trainOnBatch(xs, ys);
  assert.equal(nativeCalls("Conv2D"), calls + 300 * 4, "every step ran the four convolutions in oneDNN");
  assert.deepEqual(counts(), after100, "tensors and wasm buffers");
  // The allocator may grow once more as its free blocks fragment (seen: 3.9 MiB once, after the other tests'
  // large tensors; 0 over 2,000 steps in a fresh process); a leak of the smallest activation (1 MiB) per step
  // would be 300 MiB.
  const heapGrown = (backend.wasm.HEAPU8.buffer.byteLength - heap100) / 2 ** 20;
  assert.ok(heapGrown <= 16, `the wasm heap grew ${heapGrown.toFixed(1)} MiB over 300 steps`);
  const grown = (nativeBytes() - native100) / 2 ** 20;
  assert.ok(grown < 16, `native memory grew ${grown.toFixed(1)} MiB over 300 steps`);
  tf.dispose([xs, ys]);
  model.dispose();
});

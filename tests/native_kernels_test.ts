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

const TOLERANCE = 1e-4;

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

/** max |a - b| / max |a|: the error relative to the reference's scale. */
function relativeError(reference: ArrayLike<number>, actual: ArrayLike<number>): number {
  assert.equal(actual.length, reference.length, "sizes differ");
  let diff = 0, scale = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs(reference[i] - actual[i]));
    scale = Math.max(scale, Math.abs(reference[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** A seeded uniform sample in [-1, 1). */
function random(shape: number[], seed: number): Float32Array {
  let s = seed * 2654435761 % 4294967296 || 1;
  return Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => {
    s = (s * 1664525 + 1013904223) % 4294967296;
    return s / 2147483648 - 1;
  });
}

/** Calls that `kernel` sent to oneDNN so far. */
const nativeCalls = (kernel: string) => nativeKernelCounts()[kernel]?.native ?? 0;

/**
 * Run `kernel` with the same inputs on cpu and on wasm; asserts the same shape,
 * an error within {@link TOLERANCE}, and that oneDNN (not a fallback) ran it.
 */
async function expectSame(
  what: string,
  kernel: string,
  inputs: Record<string, { shape: number[]; values: Float32Array }>,
  attrs: Record<string, unknown>,
): Promise<void> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => {
      const named: Record<string, tf.Tensor> = {};
      for (const [name, { shape, values }] of Object.entries(inputs)) named[name] = tf.tensor(values, shape);
      return tf.engine().runKernel(kernel, named, attrs as tf.NamedAttrMap) as tf.Tensor;
    });
    const result = { shape: out.shape, values: await out.data() as Float32Array };
    out.dispose();
    return result;
  };
  const cpu = await run("cpu");
  const before = nativeCalls(kernel);
  const wasm = await run("wasm");
  assert.equal(nativeCalls(kernel), before + 1, `${what}: oneDNN ran ${kernel} (no fallback)`);
  assert.deepEqual(wasm.shape, cpu.shape, `${what}: shape`);
  const error = relativeError(cpu.values, wasm.values);
  assert.ok(error <= TOLERANCE, `${what}: relative error ${error.toExponential(2)} > ${TOLERANCE}`);
}

type Shape4 = [number, number, number, number];

/** valid/same, strides 1 and 2, odd sizes, batch 1 and N, channels 1, 3 and odd. */
const CONV_CASES = (() => {
  const cases: { batch: number; h: number; w: number; inC: number; outC: number; f: [number, number] }[] = [
    { batch: 1, h: 7, w: 7, inC: 1, outC: 2, f: [3, 3] },
    { batch: 3, h: 9, w: 6, inC: 3, outC: 4, f: [3, 3] },
    { batch: 2, h: 10, w: 11, inC: 5, outC: 3, f: [2, 3] },
    { batch: 4, h: 8, w: 8, inC: 2, outC: 6, f: [1, 1] },
    { batch: 2, h: 13, w: 12, inC: 4, outC: 4, f: [5, 5] },
    { batch: 1, h: 15, w: 17, inC: 32, outC: 16, f: [3, 3] },
  ];
  return cases.flatMap((c) =>
    ([1, 2] as const).flatMap((stride) => (["valid", "same"] as const).map((pad) => ({ ...c, stride, pad })))
  );
})();

function convOutShape(x: Shape4, filter: Shape4, stride: number, pad: "valid" | "same"): number[] {
  return tf.backend_util.computeConv2DInfo(x, filter, stride, 1, pad).outShape;
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

/**
 * Build `build()` on cpu and on wasm with the same weights, take one step of
 * plain gradient descent (learning rate 1: the step is the gradient) on each,
 * compare the loss and each weight's step.
 */
async function trainOnBoth(
  build: () => tf.LayersModel,
  loss: string,
  xShape: number[],
  yValues: number[],
  yShape: number[],
): Promise<void> {
  await tf.setBackend("cpu");
  const reference = build();
  const initial = reference.getWeights().map((w) => ({ shape: w.shape, values: w.dataSync().slice() }));
  const x = random(xShape, 99);
  const step = async (model: tf.LayersModel) => {
    model.compile({ optimizer: tf.train.sgd(1), loss });
    const xs = tf.tensor(x, xShape), ys = tf.tensor(yValues, yShape);
    const before = await model.evaluate(xs, ys) as tf.Scalar;
    const lossBefore = (await before.data())[0];
    await model.trainOnBatch(xs, ys);
    const after = model.getWeights().map((w) => w.dataSync().slice());
    tf.dispose([xs, ys, before]);
    return { lossBefore, after };
  };
  const cpu = await step(reference);
  await tf.setBackend("wasm");
  const model = build();
  model.setWeights(initial.map((w) => tf.tensor(w.values, w.shape)));
  const convCalls = nativeCalls("Conv2DBackpropFilter");
  const wasm = await step(model);
  assert.ok(nativeCalls("Conv2DBackpropFilter") > convCalls, "the step ran oneDNN's convolution gradients");
  assert.ok(Math.abs(cpu.lossBefore - wasm.lossBefore) <= 1e-4 * Math.max(1, Math.abs(cpu.lossBefore)), "loss");
  for (const [i, w] of cpu.after.entries()) {
    const moved = w.map((v, k) => v - initial[i].values[k]);
    const movedWasm = wasm.after[i].map((v, k) => v - initial[i].values[k]);
    const error = relativeError(moved, movedWasm);
    assert.ok(
      error <= TOLERANCE,
      `weights ${i} (${initial[i].shape}): relative error of the step ${error.toExponential(2)}`,
    );
  }
  reference.dispose();
  model.dispose();
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

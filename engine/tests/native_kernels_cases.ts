/**
 * The oneDNN kernels of the wasm-native backend (native_kernels.ts,
 * onednn.ts) compute what the cpu backend computes (relative error
 * ≤ 1e-4; NaN and ±∞ where the cpu backend has them), on hand-picked shapes,
 * the shapes of oneDNN#6035 and a seeded sweep of random geometries; they
 * train the chapter's models the same, and leak nothing.
 *
 * `tests/native_kernels_test.ts` runs this file once per instruction set the
 * CPU has (`ONEDNN_MAX_CPU_ISA`) and thread count (`CH5_WASM_THREADS`), each
 * in its own process; `deno test -A tests/native_kernels_cases.ts` runs it
 * once, as the machine is.
 *
 * Skipped, with one line saying so, only where no oneDNN 2.x library exists
 * (`apt install libdnnl2`); CI installs it, so there they run.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import { registerWasmTrainingKernels } from "../wasm_training.ts";
import { loadOneDnn, type OneDnn, OneDnnError } from "../onednn.ts";
import { nativeKernelCounts, registerNativeKernels } from "../native_kernels.ts";
import {
  convCases,
  convOutShape,
  expectSame as sameOnBoth,
  type KernelInputs,
  mismatches,
  mnistConvnet,
  POOL_CASES,
  random,
  relativeError,
  type Shape4,
  smallConvnet,
  TOLERANCE,
  trainOnBoth as sharedTrainOnBoth,
} from "./helpers.ts";

/** The shared cases, plus one with 32 input channels (oneDNN picks blocked kernels there). */
const CONV_CASES = convCases([{ batch: 1, h: 15, w: 17, inC: 32, outC: 16, f: [3, 3] }]);

let dnnl: OneDnn | undefined;
try {
  dnnl = loadOneDnn({
    threads: Number(Deno.env.get("CH5_WASM_THREADS") ?? Math.min(2, navigator.hardwareConcurrency)),
  });
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

/** How many calls each native kernel sent to oneDNN and to its fallback. */
const nativeCounts = () => nativeKernelCounts();

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
  // Read by tests/native_kernels_test.ts, which checks that the cap it set took effect.
  console.log(`ONEDNN_ISA=${dnnl!.isa} THREADS=${dnnl!.threads}`);
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
  for (const [i, c] of POOL_CASES.entries()) {
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
  for (const [i, c] of POOL_CASES.entries()) {
    const shape = [...c.shape];
    await expectSame(`maxPool ${JSON.stringify(c)}`, "MaxPool", { x: { shape, values: random(shape, 1801 + i) } }, {
      filterSize: c.f,
      strides: c.s,
      pad: c.pad,
    });
  }
});

test("a max pooling run for a gradient keeps its workspace for MaxPoolGrad, and frees it with its output", async () => {
  const shape: Shape4 = [3, 10, 9, 4];
  const x = random(shape, 1950), dyValues = random([3, 5, 4, 4], 1951);
  const grad = async (backend: string) => {
    await tf.setBackend(backend);
    const g = tf.tidy(() =>
      tf.grad((t: tf.Tensor) =>
        tf.maxPool(t as tf.Tensor4D, 2, 2, "valid").mul(tf.tensor(dyValues, [3, 5, 4, 4])).sum()
      )(
        tf.tensor(x, shape),
      )
    );
    const out = await g.data();
    g.dispose();
    return out;
  };
  const cpu = await grad("cpu");
  await tf.setBackend("wasm");
  const buffers = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
  const [pools, grads] = [nativeCalls("MaxPool"), nativeCalls("MaxPoolGrad")];
  const wasm = await grad("wasm");
  assert.ok(relativeError(cpu, wasm) <= TOLERANCE, mismatches(cpu, wasm));
  assert.deepEqual([nativeCalls("MaxPool"), nativeCalls("MaxPoolGrad")], [pools + 1, grads + 1]);
  assert.equal((tf.backend() as unknown as { numDataIds(): number }).numDataIds(), buffers, "workspace freed");
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

test("Add, Multiply, Sub, Relu, Square, Sqrt and leading-axes Sum on large tensors match the cpu backend (same shape, bias row, scalar)", async () => {
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
  for (const [axis, keepDims] of [[[0, 1, 2], false], [[0, 1], true], [[0], false]] as const) {
    await expectSame(`Sum over ${axis}`, "Sum", { x: { shape: big, values: random(big, 1704) } }, { axis, keepDims });
  }
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

test("a training step runs each Conv2D layer's convolution, bias and ReLU as one fused oneDNN kernel", async () => {
  await tf.setBackend("wasm");
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: "relu", inputShape: [12, 12, 3] }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 1, activation: "sigmoid" }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: "meanSquaredError" }); // (binary cross-entropy has a ReLU of its own)
  const xs = tf.tensor(random([2, 12, 12, 3], 70), [2, 12, 12, 3]), ys = tf.tensor([[1], [0]]);
  const before = { fused: nativeCalls("FusedConv2D"), conv: nativeCalls("Conv2D"), relu: nativeCounts().Relu };
  await model.trainOnBatch(xs, ys);
  assert.equal(nativeCalls("FusedConv2D"), before.fused + 1, "one fused kernel");
  assert.equal(nativeCalls("Conv2D"), before.conv, "no separate convolution");
  assert.deepEqual(nativeCounts().Relu, before.relu, "no separate ReLU");
  tf.dispose([xs, ys]);
  model.dispose();
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
  const convolutions = () => nativeCalls("Conv2D") + nativeCalls("FusedConv2D");
  const calls = convolutions();
  for (let i = 100; i < 400; i++) await model.trainOnBatch(xs, ys);
  assert.equal(convolutions(), calls + 300 * 4, "every step ran the four convolutions in oneDNN");
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

test('dimRoundingMode "ceil": max pooling, its gradient and convolutions reach past the input as on cpu', async () => {
  for (const [shape, f, stride] of [[[2, 5, 5, 3], 2, 2], [[1, 7, 6, 2], 3, 2], [[1, 9, 9, 4], 2, 3]] as const) {
    const x = { shape: [...shape], values: random([...shape], 60) };
    const attrs = { filterSize: f, strides: stride, pad: 0, dimRoundingMode: "ceil" };
    // 9×9 by 2/3 has a last window wholly past the input (−∞ on cpu): that case runs the exact path.
    const check = shape[1] === 9 ? sameOnBoth : expectSame;
    await check(`maxPool ceil ${shape} ${f}/${stride}`, "MaxPool", { x }, attrs);
    const yShape = tf.backend_util.computePool2DInfo(shape as unknown as Shape4, f, stride, 1, 0, "ceil").outShape;
    await check(`maxPoolGrad ceil ${shape} ${f}/${stride}`, "MaxPoolGrad", {
      dy: { shape: yShape, values: random(yShape, 61) },
      input: x,
      output: { shape: yShape, values: new Float32Array(tf.util.sizeFromShape(yShape)) },
    }, attrs);
    const filterShape: Shape4 = [f, f, shape[3], 4];
    await expectSame(`conv2d ceil ${shape} ${f}/${stride}`, "Conv2D", {
      x,
      filter: { shape: filterShape, values: random(filterShape, 62) },
    }, { strides: stride, pad: 0, dimRoundingMode: "ceil", dataFormat: "NHWC", dilations: 1 });
  }
});

test("Conv2DBackpropFilter is right on the shapes of oneDNN#6035 (1×1, strides 2 and (1,2), 1–7 input channels)", async () => {
  for (const inC of [1, 2, 3, 4, 5, 6, 7]) {
    for (const batch of [1, 32]) {
      for (const stride of [[2, 2], [1, 2]] as [number, number][]) {
        for (const pad of ["valid", "same"] as const) {
          const outC = 8 - (inC % 3); // 6, 7 and 8 output channels
          const h = batch === 1 ? 9 : 12, w = batch === 1 ? 8 : 12;
          const xShape: Shape4 = [batch, h, w, inC], filterShape: Shape4 = [1, 1, inC, outC];
          const yShape = tf.backend_util.computeConv2DInfo(xShape, filterShape, stride, 1, pad).outShape;
          const seed = 7000 + inC * 10 + batch;
          await expectSame(
            `conv2DBackpropFilter #6035 ${JSON.stringify({ batch, h, w, inC, outC, stride, pad })}`,
            "Conv2DBackpropFilter",
            {
              x: { shape: xShape, values: random(xShape, seed) },
              dy: { shape: yShape, values: random(yShape, seed + 1) },
            },
            { strides: stride, pad, dataFormat: "NHWC", filterShape },
          );
        }
      }
    }
  }
  // The weight update of one SGD step through the public API, as the issue measured it.
  await sharedTrainOnBoth(
    () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 8, kernelSize: 1, strides: 2, inputShape: [32, 32, 3] }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 1, activation: "sigmoid" }),
        ],
      }),
    "binaryCrossentropy",
    [4, 32, 32, 3],
    [1, 0, 1, 0],
    [4, 1],
  );
});

/** A seeded random integer in [lo, hi]. */
function randint(next: () => number, lo: number, hi: number): number {
  return lo + Math.floor(next() * (hi - lo + 1));
}

/** mulberry32: the sweep's seeded generator. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many random geometries the sweep tries per kind of kernel. */
const SWEEP = Number(Deno.env.get("CH5_KERNEL_SWEEP") ?? 300);

test(`a seeded sweep of ${SWEEP} random convolution geometries: all four convolution kernels match cpu`, async () => {
  const next = generator(20261205);
  for (let i = 0; i < SWEEP; i++) {
    const pad = next() < 0.5 ? "valid" : "same";
    const f: [number, number] = [randint(next, 1, 5), randint(next, 1, 5)];
    const stride: [number, number] = [randint(next, 1, 3), randint(next, 1, 3)];
    const batch = randint(next, 1, 4), inC = randint(next, 1, 20), outC = randint(next, 1, 20);
    const h = randint(next, pad === "valid" ? f[0] : 1, 14), w = randint(next, pad === "valid" ? f[1] : 1, 14);
    const xShape: Shape4 = [batch, h, w, inC], filterShape: Shape4 = [f[0], f[1], inC, outC];
    const yShape = tf.backend_util.computeConv2DInfo(xShape, filterShape, stride, 1, pad).outShape;
    const what = JSON.stringify({ i, batch, h, w, inC, outC, f, stride, pad });
    const attrs = { strides: stride, pad, dataFormat: "NHWC", dilations: 1 };
    const x = { shape: xShape, values: random(xShape, 3 * i + 1) };
    const filter = { shape: filterShape, values: random(filterShape, 3 * i + 2) };
    const dy = { shape: yShape, values: random(yShape, 3 * i + 3) };
    await expectSame(`conv2d ${what}`, "Conv2D", { x, filter }, attrs);
    const activation = ["linear", "relu", "sigmoid"][i % 3];
    await expectSame(`fusedConv2d ${activation} ${what}`, "FusedConv2D", {
      x,
      filter,
      bias: { shape: [outC], values: random([outC], 3 * i + 4) },
    }, { ...attrs, activation });
    await expectSame(`conv2DBackpropInput ${what}`, "Conv2DBackpropInput", { dy, filter }, {
      ...attrs,
      inputShape: xShape,
    });
    await expectSame(`conv2DBackpropFilter ${what}`, "Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape });
  }
});

test(`a seeded sweep of ${SWEEP} random pooling and product geometries matches cpu`, async () => {
  const next = generator(5);
  for (let i = 0; i < SWEEP; i++) {
    const pad = next() < 0.5 ? "valid" : "same";
    const f: [number, number] = [randint(next, 1, 4), randint(next, 1, 4)];
    const stride: [number, number] = [randint(next, 1, 3), randint(next, 1, 3)];
    const shape = [randint(next, 1, 3), randint(next, f[0], 13), randint(next, f[1], 13), randint(next, 1, 9)];
    const values = random(shape, 9000 + i);
    const what = JSON.stringify({ i, shape, f, stride, pad });
    const attrs = { filterSize: f, strides: stride, pad };
    await expectSame(`maxPool ${what}`, "MaxPool", { x: { shape, values } }, attrs);
    const yShape = tf.backend_util.computePool2DInfo(shape as Shape4, f, stride, 1, pad).outShape;
    await expectSame(`maxPoolGrad ${what}`, "MaxPoolGrad", {
      dy: { shape: yShape, values: random(yShape, 9500 + i) },
      input: { shape, values },
      output: { shape: yShape, values: new Float32Array(tf.util.sizeFromShape(yShape)) },
    }, attrs);

    const [m, k, n] = [randint(next, 1, 70), randint(next, 1, 70), randint(next, 1, 70)];
    const [ta, tb] = [next() < 0.5, next() < 0.5];
    const batch = randint(next, 1, 3);
    const sa = [batch, ta ? k : m, ta ? m : k], sb = [next() < 0.3 ? 1 : batch, tb ? n : k, tb ? k : n];
    const a = { shape: sa, values: random(sa, 10000 + i) }, b = { shape: sb, values: random(sb, 11000 + i) };
    const product = `${sa} x ${sb} tA=${ta} tB=${tb}`;
    await expectSame(`matMul ${product}`, "BatchMatMul", { a, b }, { transposeA: ta, transposeB: tb });
    const activation = ["linear", "relu", "sigmoid"][i % 3];
    await expectSame(`fused matMul ${activation} ${product}`, "_FusedMatMul", {
      a,
      b,
      bias: { shape: [n], values: random([n], 12000 + i) },
    }, { transposeA: ta, transposeB: tb, activation });
  }
});

/** `values` with NaN, +∞ and −∞ written at seeded places (about one value in `every`). */
function withSpecials(values: Float32Array, seed: number, every = 9): Float32Array {
  const next = generator(seed), out = values.slice();
  const specials = [NaN, Infinity, -Infinity];
  for (let i = 0; i < out.length; i++) if (next() * every < 1) out[i] = specials[randint(next, 0, 2)];
  return out;
}

test("NaN and ±∞ come out of every native kernel where they come out of the cpu backend", async () => {
  // Small and large tensors: the large ones run in oneDNN, the small ones on the JavaScript/wasm side.
  for (const shape of [[3, 5, 7, 2], [4, 33, 31, 5]]) {
    const x = withSpecials(random(shape, 1), 2), dy = withSpecials(random(shape, 3), 4);
    for (const kernel of ["Relu", "Square", "Sqrt", "Sigmoid"]) {
      await sameOnBoth(`${kernel} ${shape}`, kernel, { x: { shape, values: x } }, {});
    }
    await sameOnBoth(`Sum ${shape}`, "Sum", { x: { shape, values: x } }, { axis: [0, 1, 2], keepDims: false });
    for (const kernel of ["Add", "Multiply", "Sub"]) {
      const c = shape[3];
      await sameOnBoth(`${kernel} ${shape}`, kernel, { a: { shape, values: x }, b: { shape, values: dy } }, {});
      const row = withSpecials(random([c], 5), 6, 2);
      await sameOnBoth(`${kernel} ${shape} by a row`, kernel, {
        a: { shape, values: x },
        b: { shape: [c], values: row },
      }, {});
      await sameOnBoth(`${kernel} ${shape} by NaN`, kernel, {
        a: { shape, values: random(shape, 7) },
        b: { shape: [], values: new Float32Array([NaN]) },
      }, {});
    }
    // ReLU's gradient: dy · step(x), with step(NaN) = NaN.
    const grad = async (backend: string) => {
      await tf.setBackend(backend);
      const g = tf.tidy(() =>
        tf.grad((t: tf.Tensor) => tf.relu(t).mul(tf.tensor(dy, shape)).sum())(tf.tensor(x, shape))
      );
      const out = await g.data();
      g.dispose();
      return out;
    };
    const cpu = await grad("cpu"), wasm = await grad("wasm");
    assert.ok(relativeError(cpu, wasm) <= TOLERANCE, `ReLU gradient ${shape}: ${mismatches(cpu, wasm)}`);
  }
  // Convolutions and products, with NaN and ±∞ in each input in turn.
  const xShape: Shape4 = [2, 9, 8, 3], filterShape: Shape4 = [3, 3, 3, 5];
  for (const pad of ["valid", "same"] as const) {
    const attrs = { strides: 1, pad, dataFormat: "NHWC", dilations: 1 };
    const yShape = convOutShape(xShape, filterShape, 1, pad);
    for (const poisoned of ["x", "filter", "bias"]) {
      const x = { shape: xShape, values: random(xShape, 20) };
      const filter = { shape: filterShape, values: random(filterShape, 21) };
      const bias = { shape: [5], values: random([5], 22) };
      const target = { x, filter, bias }[poisoned]!;
      target.values = withSpecials(target.values, 23, poisoned === "bias" ? 2 : 25);
      for (const activation of ["linear", "relu", "sigmoid"]) {
        await sameOnBoth(`fusedConv2d ${activation} ${pad}, specials in ${poisoned}`, "FusedConv2D", {
          x,
          filter,
          bias,
        }, { ...attrs, activation });
      }
      if (poisoned === "bias") continue;
      await sameOnBoth(`conv2d ${pad}, specials in ${poisoned}`, "Conv2D", { x, filter }, attrs);
      const dy = {
        shape: yShape,
        values: poisoned === "x" ? withSpecials(random(yShape, 24), 25, 25) : random(yShape, 24),
      };
      await sameOnBoth(`conv2DBackpropInput ${pad}, specials`, "Conv2DBackpropInput", { dy, filter }, {
        ...attrs,
        inputShape: xShape,
      });
      await sameOnBoth(`conv2DBackpropFilter ${pad}, specials`, "Conv2DBackpropFilter", { x, dy }, {
        ...attrs,
        filterShape,
      });
    }
  }
  for (const poisoned of ["a", "b", "bias"]) {
    const a = { shape: [1, 20, 30], values: random([20, 30], 30) };
    const b = { shape: [1, 30, 8], values: random([30, 8], 31) };
    const bias = { shape: [8], values: random([8], 32) };
    const target = { a, b, bias }[poisoned]!;
    target.values = withSpecials(target.values, 33, poisoned === "bias" ? 2 : 40);
    await sameOnBoth(`matMul, specials in ${poisoned}`, "BatchMatMul", { a, b }, {});
    for (const activation of ["linear", "relu", "sigmoid"]) {
      await sameOnBoth(`fused matMul ${activation}, specials in ${poisoned}`, "_FusedMatMul", { a, b, bias }, {
        activation,
      });
    }
  }
  // Max pooling: windows holding one NaN, only NaN, ±∞, and NaN beside ∞.
  const shape = [2, 8, 8, 3];
  const windows = random(shape, 40);
  for (let i = 0; i < windows.length; i += 5) windows[i] = [NaN, Infinity, -Infinity][(i / 5) % 3];
  for (
    const [what, values] of [["scattered", windows], ["all NaN", new Float32Array(windows.length).fill(NaN)]] as const
  ) {
    for (const [f, s, pad] of [[2, 2, "valid"], [3, 2, "same"], [3, 1, "same"]] as const) {
      const attrs = { filterSize: f, strides: s, pad };
      await sameOnBoth(`maxPool ${what} ${f}/${s} ${pad}`, "MaxPool", { x: { shape, values } }, attrs);
      const yShape = tf.backend_util.computePool2DInfo(shape as Shape4, f, s, 1, pad).outShape;
      await sameOnBoth(`maxPoolGrad ${what} ${f}/${s} ${pad}`, "MaxPoolGrad", {
        dy: { shape: yShape, values: random(yShape, 41) },
        input: { shape, values },
        output: { shape: yShape, values: new Float32Array(tf.util.sizeFromShape(yShape)) },
      }, attrs);
    }
  }
});

test("a model with NaN in one kernel reports a NaN loss on wasm-native, as on cpu", async () => {
  for (const backend of ["cpu", "wasm"]) {
    await tf.setBackend(backend);
    const model = smallConvnet({ size: 48 });
    model.compile({ optimizer: "rmsprop", loss: "binaryCrossentropy" });
    const [kernel, ...rest] = model.layers[2].getWeights();
    const values = kernel.dataSync().slice();
    values[7] = NaN;
    model.layers[2].setWeights([tf.tensor(values, kernel.shape), ...rest]);
    const xs = tf.tensor(random([4, 48, 48, 3], 50), [4, 48, 48, 3]), ys = tf.tensor([[1], [0], [1], [0]]);
    const loss = await (model.evaluate(xs, ys, { batchSize: 4 }) as tf.Scalar).data();
    assert.ok(Number.isNaN(loss[0]), `${backend}: loss ${loss[0]}`);
    const history = await model.fit(xs, ys, { epochs: 1, batchSize: 4, verbose: 0 });
    assert.ok(Number.isNaN(history.history.loss[0] as number), `${backend}: training loss ${history.history.loss[0]}`);
    tf.dispose([xs, ys]);
    model.dispose();
  }
});

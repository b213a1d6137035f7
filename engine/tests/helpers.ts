/**
 * What the kernel tests of the wasm and wasm-native backends share: seeded
 * inputs, the relative error against the cpu backend, the convolution cases,
 * and one training step compared on both backends.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";

/** The largest relative error a kernel may have against the cpu backend. */
export const TOLERANCE = 1e-4;

/**
 * max |a - b| / max |a| over the finite values: the error relative to the
 * reference's scale. A value that is not finite on either side must be the
 * same on both (NaN for NaN, ∞ of the same sign), or the error is ∞.
 */
export function relativeError(reference: ArrayLike<number>, actual: ArrayLike<number>): number {
  assert.equal(actual.length, reference.length, "sizes differ");
  let diff = 0, scale = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i], a = actual[i];
    if (!Number.isFinite(r) || !Number.isFinite(a)) {
      if (!(r === a || (Number.isNaN(r) && Number.isNaN(a)))) return Infinity;
      continue;
    }
    diff = Math.max(diff, Math.abs(r - a));
    scale = Math.max(scale, Math.abs(r));
  }
  return scale === 0 ? diff : diff / scale;
}

/** The first few places where `actual` differs from `reference` beyond {@link TOLERANCE}, for a message. */
export function mismatches(reference: ArrayLike<number>, actual: ArrayLike<number>, most = 4): string {
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    if (Number.isFinite(reference[i])) scale = Math.max(scale, Math.abs(reference[i]));
  }
  const out: string[] = [];
  for (let i = 0; i < reference.length && out.length < most; i++) {
    const r = reference[i], a = actual[i];
    const same = Number.isFinite(r) && Number.isFinite(a)
      ? Math.abs(r - a) <= TOLERANCE * (scale || 1)
      : r === a || (Number.isNaN(r) && Number.isNaN(a));
    if (!same) out.push(`[${i}] ${r} vs ${a}`);
  }
  return out.join(", ");
}

/** A seeded uniform sample in [-1, 1). */
export function random(shape: number[], seed: number): Float32Array {
  let s = seed * 2654435761 % 4294967296 || 1;
  return Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => {
    s = (s * 1664525 + 1013904223) % 4294967296;
    return s / 2147483648 - 1;
  });
}

/** Named kernel inputs as plain values. */
export type KernelInputs = Record<string, { shape: number[]; values: Float32Array }>;

/**
 * Run `kernel` with the same inputs on cpu, then on wasm; asserts the same
 * shape and an error within {@link TOLERANCE}.
 */
export async function expectSame(
  what: string,
  kernel: string,
  inputs: KernelInputs,
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
  const wasm = await run("wasm");
  assert.deepEqual(wasm.shape, cpu.shape, `${what}: shape`);
  const error = relativeError(cpu.values, wasm.values);
  assert.ok(
    error <= TOLERANCE,
    `${what}: relative error ${error.toExponential(2)} > ${TOLERANCE} (cpu vs wasm: ${
      mismatches(cpu.values, wasm.values)
    })`,
  );
}

/** An NHWC or HWIO shape. */
export type Shape4 = [number, number, number, number];

/** The output shape of a 2-D convolution. */
export function convOutShape(x: Shape4, filter: Shape4, stride: number, pad: "valid" | "same"): number[] {
  return tf.backend_util.computeConv2DInfo(x, filter, stride, 1, pad).outShape;
}

/** One convolution case: input, filter and output channels, stride and padding. */
export interface ConvCase {
  batch: number;
  h: number;
  w: number;
  inC: number;
  outC: number;
  f: [number, number];
  stride: 1 | 2;
  pad: "valid" | "same";
}

/** valid/same, strides 1 and 2, odd sizes, batch 1 and N, channels 1, 3 and odd; `more` adds shapes. */
export function convCases(more: Omit<ConvCase, "stride" | "pad">[] = []): ConvCase[] {
  const cases: Omit<ConvCase, "stride" | "pad">[] = [
    { batch: 1, h: 7, w: 7, inC: 1, outC: 2, f: [3, 3] },
    { batch: 3, h: 9, w: 6, inC: 3, outC: 4, f: [3, 3] },
    { batch: 2, h: 10, w: 11, inC: 5, outC: 3, f: [2, 3] },
    { batch: 4, h: 8, w: 8, inC: 2, outC: 6, f: [1, 1] },
    { batch: 2, h: 13, w: 12, inC: 4, outC: 4, f: [5, 5] },
    ...more,
  ];
  return cases.flatMap((c) =>
    ([1, 2] as const).flatMap((stride) => (["valid", "same"] as const).map((pad) => ({ ...c, stride, pad })))
  );
}

/** Max-pooling cases: tiling, uneven and overlapping windows, valid and same padding. */
export const POOL_CASES = [
  { shape: [2, 8, 8, 3], f: 2, s: 2, pad: "valid" },
  { shape: [1, 9, 7, 4], f: 2, s: 2, pad: "valid" },
  { shape: [3, 9, 7, 2], f: 2, s: 2, pad: "same" },
  { shape: [2, 9, 9, 3], f: 3, s: 2, pad: "valid" },
  { shape: [1, 8, 10, 2], f: 3, s: 2, pad: "same" },
  { shape: [2, 7, 7, 2], f: 3, s: 1, pad: "same" },
] as const;

/**
 * Build `build()` on cpu and on wasm with the same weights, take one step of
 * plain gradient descent on each, compare the loss and each weight's step.
 * With a learning rate of 1 the step is the gradient itself; an adaptive
 * optimizer would blur the comparison (RMSprop's first step moves every weight
 * by about ±lr·√10 whatever its gradient, so a gradient within rounding of 0
 * can take the full step either way on the two backends).
 */
export async function trainOnBoth(
  build: () => tf.LayersModel,
  loss: string,
  xShape: number[],
  yValues: number[],
  yShape: number[],
): Promise<void> {
  await tf.setBackend("cpu");
  const reference = build();
  // Seeded weights (Glorot's uniform bound, biases within ±0.1), not the layers' unseeded ones: a pre-activation
  // within rounding of 0, or two within rounding of each other in a pooling window, sends the gradient another way
  // on each backend, and a random start meets one now and then. A fixed start is checked once on every ISA.
  const initial = reference.getWeights().map((w, i) => {
    const receptive = w.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const bound = w.rank < 2 ? 0.1 : Math.sqrt(6 / (receptive * (w.shape.at(-2)! + w.shape.at(-1)!)));
    return { shape: w.shape, values: random(w.shape, 7001 + i).map((v) => v * bound) };
  });
  const start = (model: tf.LayersModel) => {
    const tensors = initial.map((w) => tf.tensor(w.values, w.shape));
    model.setWeights(tensors);
    tf.dispose(tensors);
  };
  start(reference);
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
  start(model);
  const wasm = await step(model);
  assert.ok(Math.abs(cpu.lossBefore - wasm.lossBefore) <= TOLERANCE * Math.max(1, Math.abs(cpu.lossBefore)), "loss");
  const steps = cpu.after.map((w, i) => w.map((v, k) => v - initial[i].values[k]));
  // A weight's step is a sum over the batch; where its terms cancel (a bias whose two pictures pull opposite ways
  // from a random start), float32 keeps its absolute error, not its relative one: measure each tensor's error
  // against at least a hundredth of the model's largest step.
  const largest = (values: ArrayLike<number>) => {
    let m = 0;
    for (let k = 0; k < values.length; k++) m = Math.max(m, Math.abs(values[k]));
    return m;
  };
  const floor = 0.01 * steps.reduce((m, d) => Math.max(m, largest(d)), 0);
  for (const [i, moved] of steps.entries()) {
    const movedWasm = wasm.after[i].map((v, k) => v - initial[i].values[k]);
    const scale = Math.max(floor, largest(moved));
    const error = largest(moved.map((v, k) => v - movedWasm[k])) / scale;
    assert.ok(
      error <= TOLERANCE,
      `weights ${i} (${initial[i].shape}): error of the step ${error.toExponential(2)} of its scale ${
        scale.toExponential(2)
      }`,
    );
  }
  reference.dispose();
  model.dispose();
}

/**
 * The layer stack of the book's cats-vs-dogs convnet (listing 5.5; four 3×3
 * ReLU convolutions, each followed by 2×2 max pooling, then dense 512 and a
 * sigmoid), at `size`×`size` pixels, optionally with listing 5.13's dropout.
 */
export function smallConvnet({ size = 150, dropout = false } = {}): tf.Sequential {
  const model = tf.sequential();
  for (const [i, filters] of [32, 64, 128, 128].entries()) {
    const input = i === 0 ? { inputShape: [size, size, 3] } : {};
    model.add(tf.layers.conv2d({ filters, kernelSize: 3, activation: "relu", ...input }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  model.add(tf.layers.flatten());
  if (dropout) model.add(tf.layers.dropout({ rate: 0.5 }));
  model.add(tf.layers.dense({ units: 512, activation: "relu" }));
  model.add(tf.layers.dense({ units: 1, activation: "sigmoid" }));
  return model;
}

/** The layer stack of the book's MNIST convnet (listings 5.1–5.2). */
export function mnistConvnet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: "relu" }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: "relu" }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: "relu" }),
      tf.layers.dense({ units: 10, activation: "softmax" }),
    ],
  });
}

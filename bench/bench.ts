/**
 * `deno task bench`: how fast this machine trains and runs the chapter's
 * models, decodes its JPEGs, and how that compares with the pure-JavaScript
 * cpu backend. Prints a table and writes `data/results/bench.json`.
 *
 * Each measurement runs in its own process (`--step NAME`), so that each
 * starts its backend fresh: the chosen one (`@ch5/engine`'s chain, or
 * `CH5_BACKEND`) for the models, `cpu` for the baseline, and plain `wasm` for
 * the engine without native kernels (when the chosen one is another). Inputs
 * are random tensors: speed does not depend on the pixels. `CH5_BENCH_SECONDS`
 * (default 10) is the time each timed loop runs for, after one warm-up call.
 *
 * The peer: where a python3 (Debian's `/usr/bin/python3` first, then the one
 * on PATH) imports torch, `bench/torch_peer.py` runs the same models in
 * PyTorch with the same threads, in NCHW and channels_last, in the same run;
 * the record gets `peer.torch` and the ratios `trainRatioOverTorch` /
 * `inferRatioOverTorch` (over PyTorch's best layout). Without torch the bench
 * says so and leaves the peer out.
 *
 * The input pipeline: `inputPipeline` times `flowFromDirectory` with model 2's
 * augmentation (batch 32) alone, and training model 2 fed by it against the
 * same training on one fixed batch.
 *
 * @example
 * ```sh
 * deno task bench                      # the backend the chain picks
 * CH5_BACKEND=wasm deno task bench     # force one
 * deno run -A bench/bench.ts --step mnistConvnet   # one step, as JSON
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BackendReport, initBackend } from "@ch5/engine";
import { mnistConvnet, smallConvnet } from "../lib/models/convnets.ts";
import { vgg16 } from "../lib/models/vgg16.ts";
import { loadImg } from "../lib/preprocessing/image.ts";
import { dataPath, saveResults } from "../lib/io/profile.ts";

/**
 * The measurements, each run in its own process.
 *
 * @example
 * ```ts
 * import { STEPS } from "./bench.ts";
 * console.log(STEPS.join(", ")); // smallConvnet150, smallConvnet150Cpu, ...
 * ```
 */
export const STEPS = [
  "smallConvnet150",
  "smallConvnet150Cpu",
  "vgg16Base150",
  "mnistConvnet",
  "wasmSmallConvnet150",
  "wasmVgg16Base150",
  "jpegDecodeResize",
  "inputPipeline",
] as const;

/**
 * One name of {@link STEPS}.
 *
 * @example
 * ```ts
 * import type { StepName } from "./bench.ts";
 * const step: StepName = "mnistConvnet";
 * ```
 */
export type StepName = typeof STEPS[number];

/**
 * What a step reports: numbers by name, plus the backend it ran on.
 *
 * @example
 * ```ts
 * import type { StepResult } from "./bench.ts";
 * const r: StepResult = { step: "mnistConvnet", backend: "wasm", trainImagesPerSec: 350 };
 * ```
 */
export interface StepResult {
  step: StepName;
  backend?: string;
  threads?: number;
  backendLine?: string;
  [key: string]: unknown;
}

const SECONDS = Number(Deno.env.get("CH5_BENCH_SECONDS") ?? 10);
const SMALL_BATCH = 20;
const MNIST_BATCH = 64;
const VGG_BATCH = 10;
/** The cpu backend's Conv2DBackpropFilter needs minutes per 20 images at 150×150; its cost is linear in the batch. */
const CPU_BATCH = 1;
const MARK = "BENCH_RESULT ";

/**
 * Floating-point operations of one forward pass of one image through the
 * model's Conv2D and Dense layers (a multiply-add counts 2).
 *
 * @example
 * ```ts
 * import { mnistConvnet } from "../lib/models/convnets.ts";
 * forwardFlops(mnistConvnet()); // ≈ 1.2e7
 * ```
 */
export function forwardFlops(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== "Conv2D" && cls !== "Dense") continue;
    const kernel = layer.getWeights()[0]?.shape ?? (layer as unknown as { kernel: { shape: number[] } }).kernel.shape;
    const fanIn = kernel.slice(0, -1).reduce((p, q) => p * q, 1);
    const out = (layer.outputShape as (number | null)[]).slice(1) as number[];
    flops += 2 * fanIn * out.reduce((p, q) => p * q, 1);
  }
  return flops;
}

/** Calls `fn` once to warm up, then for about {@link SECONDS} (at least `minCalls`); returns seconds per call. */
async function timePerCall(
  fn: () => Promise<void>,
  minCalls = 2,
  warmUp = true,
): Promise<{ seconds: number; calls: number }> {
  if (warmUp) await fn();
  let calls = 0;
  const start = performance.now();
  while (calls < minCalls || performance.now() - start < SECONDS * 1000) {
    await fn();
    calls++;
  }
  return { seconds: (performance.now() - start) / 1000 / calls, calls };
}

function startBackend(forced?: "cpu" | "wasm"): Promise<BackendReport> {
  return initBackend(forced ? { backend: forced } : {});
}

function backendFields(report: BackendReport) {
  return { backend: report.name, threads: report.threads, backendLine: report.line };
}

async function trainImagesPerSec(
  model: tf.LayersModel,
  loss: string,
  batch: number,
  labels: () => tf.Tensor,
  warmUp = true,
  minCalls = 2,
) {
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss });
  const [, h, w, c] = model.inputs[0].shape as number[];
  const xs = tf.randomNormal([batch, h, w, c]), ys = labels();
  const { seconds, calls } = await timePerCall(
    async () => {
      await model.trainOnBatch(xs, ys);
    },
    minCalls,
    warmUp,
  );
  tf.dispose([xs, ys]);
  return { imagesPerSec: batch / seconds, steps: calls, secondsPerStep: seconds };
}

async function inferImagesPerSec(model: tf.LayersModel, batch: number) {
  const [, h, w, c] = model.inputs[0].shape as number[];
  const xs = tf.randomNormal([batch, h, w, c]);
  const { seconds, calls } = await timePerCall(async () => {
    const out = model.predict(xs) as tf.Tensor;
    await out.data();
    out.dispose();
  });
  xs.dispose();
  return { imagesPerSec: batch / seconds, batches: calls };
}

const binaryLabels = (n: number) => () => tf.tensor2d(Array.from({ length: n }, (_, i) => [i % 2]));

/** Training and inference speed of `model` on random batches, with the GFLOP/s they mean (a training step ≈ 3 forward passes). */
async function trainAndInfer(model: tf.LayersModel, loss: string, batch: number, labels: () => tf.Tensor) {
  const flops = forwardFlops(model);
  const train = await trainImagesPerSec(model, loss, batch, labels);
  const infer = await inferImagesPerSec(model, batch);
  return {
    trainImagesPerSec: train.imagesPerSec,
    trainSteps: train.steps,
    inferImagesPerSec: infer.imagesPerSec,
    forwardGflopsPerImage: flops / 1e9,
    trainGflops: (3 * flops * train.imagesPerSec) / 1e9,
    inferGflops: (flops * infer.imagesPerSec) / 1e9,
  };
}

/** Runs one step in this process. */
async function runStep(step: StepName): Promise<StepResult> {
  switch (step) {
    case "smallConvnet150": {
      const report = await startBackend();
      const model = smallConvnet();
      const speeds = await trainAndInfer(model, "binaryCrossentropy", SMALL_BATCH, binaryLabels(SMALL_BATCH));
      return { step, ...backendFields(report), ...speeds, numTensorsAfter: tf.memory().numTensors };
    }
    case "smallConvnet150Cpu": {
      const report = await startBackend("cpu");
      const model = smallConvnet();
      // One step, no warm-up: a step takes about a minute per image here.
      const train = await trainImagesPerSec(model, "binaryCrossentropy", CPU_BATCH, binaryLabels(CPU_BATCH), false, 1);
      return {
        step,
        ...backendFields(report),
        cpuTrainImagesPerSec: train.imagesPerSec,
        cpuBatch: CPU_BATCH,
        cpuSecondsPerStep: train.secondsPerStep,
      };
    }
    case "vgg16Base150": {
      const report = await startBackend();
      const model = await vgg16({ weights: null, includeTop: false, inputShape: [150, 150, 3] });
      const flops = forwardFlops(model);
      const infer = await inferImagesPerSec(model, VGG_BATCH);
      return {
        step,
        ...backendFields(report),
        inferImagesPerSec: infer.imagesPerSec,
        forwardGflopsPerImage: flops / 1e9,
        inferGflops: (flops * infer.imagesPerSec) / 1e9,
      };
    }
    case "mnistConvnet": {
      const report = await startBackend();
      const labels = () => tf.oneHot(tf.tensor1d(Array.from({ length: MNIST_BATCH }, (_, i) => i % 10), "int32"), 10);
      const speeds = await trainAndInfer(mnistConvnet(), "categoricalCrossentropy", MNIST_BATCH, labels);
      return { step, ...backendFields(report), ...speeds };
    }
    case "wasmSmallConvnet150": {
      const report = await startBackend("wasm");
      const speeds = await trainAndInfer(
        smallConvnet(),
        "binaryCrossentropy",
        SMALL_BATCH,
        binaryLabels(SMALL_BATCH),
      );
      return { step, ...backendFields(report), ...speeds };
    }
    case "wasmVgg16Base150": {
      const report = await startBackend("wasm");
      const model = await vgg16({ weights: null, includeTop: false, inputShape: [150, 150, 3] });
      const infer = await inferImagesPerSec(model, VGG_BATCH);
      return { step, ...backendFields(report), inferImagesPerSec: infer.imagesPerSec };
    }
    case "jpegDecodeResize":
      return { step, ...(await jpegDecodeResize()) };
    case "inputPipeline":
      return { step, ...(await inputPipeline()) };
  }
}

/** Model 2's augmentation (listing 5.11) and batch size. */
const AUGMENTATION = {
  rescale: 1 / 255,
  rotationRange: 40,
  widthShiftRange: 0.2,
  heightShiftRange: 0.2,
  shearRange: 0.2,
  zoomRange: 0.2,
  horizontalFlip: true,
};
const PIPELINE_BATCH = 32;

/**
 * Images/s of `flowFromDirectory` with model 2's augmentation alone; then of
 * model 2 training on its batches (decoding of batch k + 1 overlaps step k)
 * against model 2 training on one fixed batch.
 */
async function inputPipeline(): Promise<Record<string, unknown>> {
  const cats = await catsFolder();
  if (!cats) return { skipped: "no cats_and_dogs_small/train/cats folder (run `deno task data`)" };
  const trainDir = dirname(cats);
  const report = await startBackend();
  const { imageDataGenerator } = await import("../lib/preprocessing/image_data_generator.ts");
  const flow = () =>
    imageDataGenerator(AUGMENTATION).flowFromDirectory(trainDir, {
      targetSize: [150, 150],
      batchSize: PIPELINE_BATCH,
      classMode: "binary",
      seed: 1,
    });
  const quiet = console.log;
  console.log = () => {}; // "Found 2000 images belonging to 2 classes."
  const alone = await flow();
  console.log = quiet;
  const nextBatch = async (it: typeof alone) => {
    const { xs, ys } = await it.next();
    return { xs, ys: ys! };
  };
  const first = await nextBatch(alone);
  tf.dispose([first.xs, first.ys]);
  const aloneTime = await timePerCall(
    async () => {
      const { xs, ys } = await nextBatch(alone);
      tf.dispose([xs, ys]);
    },
    3,
    false,
  );
  const model = smallConvnet({ dropout: true });
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy" });
  const fixed = await nextBatch(alone);
  const trainOnly = await timePerCall(async () => {
    await model.trainOnBatch(fixed.xs, fixed.ys);
  }, 3);
  tf.dispose([fixed.xs, fixed.ys]);
  console.log = () => {};
  const fed = await flow();
  console.log = quiet;
  const fedTime = await timePerCall(async () => {
    const { xs, ys } = await nextBatch(fed);
    await model.trainOnBatch(xs, ys);
    tf.dispose([xs, ys]);
  }, 3);
  return {
    ...backendFields(report),
    batch: PIPELINE_BATCH,
    aloneImagesPerSec: PIPELINE_BATCH / aloneTime.seconds,
    trainFixedBatchImagesPerSec: PIPELINE_BATCH / trainOnly.seconds,
    trainFedImagesPerSec: PIPELINE_BATCH / fedTime.seconds,
    folder: trainDir,
  };
}

/** A python3 that imports torch: Debian's `/usr/bin/python3` first, then the one on PATH. */
async function torchPython(): Promise<string | undefined> {
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const { code } = await new Deno.Command(python, { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
        .output();
      if (code === 0) return python;
    } catch { /* not installed */ }
  }
  return undefined;
}

/** Run bench/torch_peer.py with `threads`; undefined with the reason when torch is absent or the run fails. */
async function torchPeer(threads: number): Promise<{ result?: Record<string, any>; why?: string }> {
  const python = await torchPython();
  if (!python) return { why: "no python3 here imports torch (Debian: apt install python3-torch)" };
  const script = join(dirname(fileURLToPath(import.meta.url)), "torch_peer.py");
  const { code, stdout, stderr } = await new Deno.Command(python, {
    args: [script, "--threads", String(threads), "--seconds", String(SECONDS)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) return { why: `torch_peer.py failed: ${new TextDecoder().decode(stderr).trim().slice(-300)}` };
  const result = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
  return { result: { ...result, python } };
}

/** The faster layout of a peer measurement for `key`. */
function bestLayout(m: Record<string, Record<string, number>> | undefined, key: string) {
  if (!m) return undefined;
  const [layout, v] = Object.entries(m).sort((a, b) => (b[1][key] ?? 0) - (a[1][key] ?? 0))[0];
  return { value: v[key], layout };
}

/** Where the cats JPEGs are: the workbook's own split, else the shared copy. */
async function catsFolder(): Promise<string | undefined> {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    dataPath("cats_and_dogs_small", "train", "cats"),
    join(here, "..", "..", "shared", "datasets", "cats_and_dogs_small", "train", "cats"),
  ];
  for (const dir of candidates) {
    if (await Deno.stat(dir).then((s) => s.isDirectory, () => false)) return dir;
  }
  return undefined;
}

async function jpegDecodeResize(): Promise<Record<string, unknown>> {
  const dir = await catsFolder();
  if (!dir) return { skipped: "no cats_and_dogs_small/train/cats folder (run `deno task data`)" };
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && /\.jpe?g$/i.test(e.name)) files.push(join(dir, e.name));
  files.sort();
  const sample = files.slice(0, 200);
  // As the training pipeline reads a picture: decode, RGB, PIL-exact nearest resize.
  const decode = (f: string) => loadImg(f, { targetSize: [150, 150] });
  await decode(sample[0]);
  let start = performance.now();
  for (const f of sample) await decode(f);
  const sequential = sample.length / ((performance.now() - start) / 1000);
  // As a prefetching pipeline decodes: a few at a time, on libvips' threads.
  const parallel = navigator.hardwareConcurrency;
  start = performance.now();
  for (let i = 0; i < sample.length; i += parallel) await Promise.all(sample.slice(i, i + parallel).map(decode));
  const concurrent = sample.length / ((performance.now() - start) / 1000);
  return {
    imagesPerSec: concurrent,
    sequentialImagesPerSec: sequential,
    images: sample.length,
    concurrency: parallel,
    folder: dir,
  };
}

async function machine(): Promise<Record<string, unknown>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? "unknown";
  const load = await Deno.readTextFile("/proc/loadavg").then(
    (t) => t.split(" ").slice(0, 3).join(" "),
    () => "unknown",
  );
  return {
    cpuModel: model,
    logicalCores: navigator.hardwareConcurrency,
    loadAverageAtStart: load,
    os: Deno.build.target,
  };
}

async function versions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
  };
  for (const [k, v] of Object.entries(tf.version)) out[k] = v;
  try {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    out["tfjs-backend-wasm"] = wasm.version_wasm;
  } catch { /* not installed */ }
  try {
    const { default: sharp } = await import("sharp");
    out.sharp = sharp.versions.sharp ?? "";
    out.libvips = sharp.versions.vips;
  } catch { /* not installed */ }
  return out;
}

async function runChild(step: StepName): Promise<StepResult> {
  const script = fileURLToPath(import.meta.url);
  const started = performance.now();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--step", step],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  const line = text.split("\n").find((l) => l.startsWith(MARK));
  if (code !== 0 || !line) {
    const err = new TextDecoder().decode(stderr).trim().split("\n").slice(-5).join("\n");
    return { step, error: `exit ${code}: ${err || text.slice(-500)}` };
  }
  const result = JSON.parse(line.slice(MARK.length)) as StepResult;
  result.wallSeconds = (performance.now() - started) / 1000;
  return result;
}

function fmt(v: unknown, digits = 1): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : v === undefined ? "—" : String(v);
}

async function main(): Promise<void> {
  const stepArg = Deno.args.indexOf("--step");
  if (stepArg >= 0) {
    const step = Deno.args[stepArg + 1] as StepName;
    if (!STEPS.includes(step)) {
      throw new Error(`--step ${JSON.stringify(step)} is not a bench step; use one of ${STEPS.join(", ")}.`);
    }
    console.log(MARK + JSON.stringify(await runStep(step)));
    return;
  }
  const info = await machine();
  console.log(`bench: ${info.cpuModel}, ${info.logicalCores} logical cores, load ${info.loadAverageAtStart}`);
  const results: Partial<Record<StepName, StepResult>> = {};
  for (const step of STEPS) {
    console.log(`  ${step} ...`);
    results[step] = await runChild(step);
    if (results[step]!.error) console.log(`    failed: ${results[step]!.error}`);
  }
  const small = results.smallConvnet150 ?? {} as StepResult;
  const cpu = results.smallConvnet150Cpu ?? {} as StepResult;
  const vgg = results.vgg16Base150 ?? {} as StepResult;
  const mnist = results.mnistConvnet ?? {} as StepResult;
  const jpeg = results.jpegDecodeResize ?? {} as StepResult;
  const wasmSmall = results.wasmSmallConvnet150 ?? {} as StepResult;
  const wasmVgg = results.wasmVgg16Base150 ?? {} as StepResult;
  const pipeline = results.inputPipeline ?? {} as StepResult;
  const threads = (small.threads ?? vgg.threads ?? navigator.hardwareConcurrency) as number;
  console.log(`  torch peer (${threads} threads) ...`);
  const peer = await torchPeer(threads);
  if (!peer.result) console.log(`    peer left out: ${peer.why}`);
  const torch = peer.result;
  const torchTrain = bestLayout(torch?.smallConvnet150, "trainImagesPerSec");
  const torchInfer = bestLayout(torch?.smallConvnet150, "inferImagesPerSec");
  const torchVgg = bestLayout(torch?.vgg16Base150, "inferImagesPerSec");
  const ratio = (a: unknown, b: number | undefined) => typeof a === "number" && b ? a / b : undefined;
  const loadAtEnd = await Deno.readTextFile("/proc/loadavg").then((t) => t.split(" ").slice(0, 3).join(" "), () => "");
  const speedup = typeof small.trainImagesPerSec === "number" && typeof cpu.cpuTrainImagesPerSec === "number"
    ? small.trainImagesPerSec / cpu.cpuTrainImagesPerSec
    : undefined;
  const record = {
    backend: small.backend ?? vgg.backend ?? mnist.backend,
    threads: small.threads ?? vgg.threads ?? mnist.threads,
    backendLine: small.backendLine,
    versions: await versions(),
    machine: info,
    secondsPerLoop: SECONDS,
    smallConvnet150: {
      batch: SMALL_BATCH,
      trainImagesPerSec: small.trainImagesPerSec,
      inferImagesPerSec: small.inferImagesPerSec,
      cpuTrainImagesPerSec: cpu.cpuTrainImagesPerSec,
      cpuBatch: cpu.cpuBatch,
      trainSpeedupOverCpu: speedup,
      trainRatioOverTorch: ratio(small.trainImagesPerSec, torchTrain?.value),
      inferRatioOverTorch: ratio(small.inferImagesPerSec, torchInfer?.value),
      trainGflops: small.trainGflops,
      inferGflops: small.inferGflops,
      forwardGflopsPerImage: small.forwardGflopsPerImage,
      error: small.error ?? cpu.error,
    },
    vgg16Base150: {
      batch: VGG_BATCH,
      inferImagesPerSec: vgg.inferImagesPerSec,
      inferRatioOverTorch: ratio(vgg.inferImagesPerSec, torchVgg?.value),
      inferGflops: vgg.inferGflops,
      forwardGflopsPerImage: vgg.forwardGflopsPerImage,
      error: vgg.error,
    },
    mnistConvnet: {
      batch: MNIST_BATCH,
      trainImagesPerSec: mnist.trainImagesPerSec,
      inferImagesPerSec: mnist.inferImagesPerSec,
      trainGflops: mnist.trainGflops,
      inferGflops: mnist.inferGflops,
      error: mnist.error,
    },
    jpegDecodeResize: {
      imagesPerSec: jpeg.imagesPerSec,
      sequentialImagesPerSec: jpeg.sequentialImagesPerSec,
      error: jpeg.error ?? jpeg.skipped,
    },
    inputPipeline: {
      batch: pipeline.batch,
      aloneImagesPerSec: pipeline.aloneImagesPerSec,
      trainFixedBatchImagesPerSec: pipeline.trainFixedBatchImagesPerSec,
      trainFedImagesPerSec: pipeline.trainFedImagesPerSec,
      error: pipeline.error ?? pipeline.skipped,
    },
    engines: {
      wasm: {
        smallConvnet150: {
          trainImagesPerSec: wasmSmall.trainImagesPerSec,
          inferImagesPerSec: wasmSmall.inferImagesPerSec,
        },
        vgg16Base150: { inferImagesPerSec: wasmVgg.inferImagesPerSec },
        error: wasmSmall.error ?? wasmVgg.error,
      },
    },
    peer: torch
      ? {
        torch: {
          version: torch.torch,
          python: torch.python,
          threads: torch.threads,
          smallConvnet150: {
            trainImagesPerSec: torchTrain?.value,
            trainLayout: torchTrain?.layout,
            inferImagesPerSec: torchInfer?.value,
            inferLayout: torchInfer?.layout,
            ...torch.smallConvnet150,
          },
          vgg16Base150: {
            inferImagesPerSec: torchVgg?.value,
            inferLayout: torchVgg?.layout,
            ...torch.vgg16Base150,
          },
        },
      }
      : { left: peer.why },
    loadAverageAtEnd: loadAtEnd,
  };
  const rows: [string, string, string, string][] = [
    ["measurement", "images/s", "GFLOP/s", "note"],
    ["smallConvnet150 train (batch 20, RMSprop)", fmt(small.trainImagesPerSec), fmt(small.trainGflops), ""],
    ["smallConvnet150 inference (batch 20)", fmt(small.inferImagesPerSec), fmt(small.inferGflops), ""],
    [`smallConvnet150 train on cpu (batch ${CPU_BATCH})`, fmt(cpu.cpuTrainImagesPerSec, 3), "", "baseline"],
    ["  speedup over cpu", fmt(speedup, 0) + "×", "", ""],
    ["vgg16Base150 inference (batch 10)", fmt(vgg.inferImagesPerSec, 2), fmt(vgg.inferGflops), ""],
    ["mnistConvnet train (batch 64)", fmt(mnist.trainImagesPerSec, 0), fmt(mnist.trainGflops), ""],
    ["mnistConvnet inference (batch 64)", fmt(mnist.inferImagesPerSec, 0), fmt(mnist.inferGflops), ""],
    ["wasm without native kernels: smallConvnet150 train", fmt(wasmSmall.trainImagesPerSec), "", "engine before"],
    ["wasm without native kernels: vgg16Base150 inference", fmt(wasmVgg.inferImagesPerSec, 2), "", "engine before"],
    [
      `PyTorch ${torch?.torch ?? "—"}: smallConvnet150 train`,
      fmt(torchTrain?.value),
      "",
      `${torchTrain?.layout ?? "peer left out"}; ours ${fmt(ratio(small.trainImagesPerSec, torchTrain?.value), 2)}×`,
    ],
    [
      "PyTorch: smallConvnet150 inference",
      fmt(torchInfer?.value),
      "",
      `${torchInfer?.layout ?? ""}; ours ${fmt(ratio(small.inferImagesPerSec, torchInfer?.value), 2)}×`,
    ],
    [
      "PyTorch: vgg16Base150 inference",
      fmt(torchVgg?.value, 2),
      "",
      `${torchVgg?.layout ?? ""}; ours ${fmt(ratio(vgg.inferImagesPerSec, torchVgg?.value), 2)}×`,
    ],
    [
      `input pipeline, model 2 augmentation (batch ${PIPELINE_BATCH}) alone`,
      fmt(pipeline.aloneImagesPerSec),
      "",
      `training fed by it ${fmt(pipeline.trainFedImagesPerSec)}, on a fixed batch ${
        fmt(pipeline.trainFixedBatchImagesPerSec)
      }`,
    ],
    [
      "jpeg decode + resize 150×150 (loadImg)",
      fmt(jpeg.imagesPerSec, 0),
      "",
      `sequential ${fmt(jpeg.sequentialImagesPerSec, 0)}`,
    ],
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  console.log(`\n${record.backendLine ?? `backend: ${record.backend}`}`);
  for (const r of rows) {
    console.log(`${r[0].padEnd(widths[0])}  ${r[1].padStart(widths[1])}  ${r[2].padStart(widths[2])}  ${r[3]}`);
  }
  const path = await saveResults("bench", record);
  console.log(`\nwrote ${path}`);
}

if (import.meta.main) await main();

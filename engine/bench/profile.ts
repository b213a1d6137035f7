/**
 * `bench.ts --profile`: milliseconds per training step of the 5.2 convnet
 * (150×150, batch 20, RMSprop), by kind of kernel, ours (`tf.profile`) and
 * PyTorch's (`torch.profiler`, channels_last, self CPU time), side by side.
 *
 * @example
 * ```sh
 * ONEDNN_MAX_CPU_ISA=AVX2 deno run -A engine/bench/bench.ts --profile
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { initBackend } from "../mod.ts";
import { smallConvnet } from "./workloads.ts";

/** The kinds of work in a training step: a label, our kernels, PyTorch's operators. */
const KINDS: [string, RegExp, RegExp][] = [
  [
    "convolution forward (with bias and ReLU where fused)",
    /^(Conv2D|FusedConv2D|Ch5ConvBiasRelu)$/,
    /convolution(?!_backward)|conv2d/,
  ],
  [
    "convolution backward (data, weights; PyTorch's with the bias)",
    /^Conv2DBackprop(Input|Filter)$/,
    /convolution_backward/,
  ],
  ["bias gradient (Sum)", /^Sum$/, /^$/],
  ["ReLU and its gradient", /Relu/, /relu|threshold|clamp_min/],
  ["max pooling and its gradient", /^MaxPool/, /max_pool/],
  ["dense layers", /MatMul/, /addmm|^aten::mm$|linear/],
  ["optimizer, bias adds, loss, rest", /./, /./],
];

/** Our kernels' milliseconds per step, by kernel name, over `steps` steps (after 3 warm-ups). */
async function oursByKernel(steps: number): Promise<{ ops: Record<string, number>; msPerStep: number }> {
  await initBackend();
  const model = smallConvnet();
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy" });
  const xs = tf.randomNormal([20, 150, 150, 3]), ys = tf.tensor2d(Array.from({ length: 20 }, (_, i) => [i % 2]));
  for (let i = 0; i < 3; i++) await model.trainOnBatch(xs, ys);
  const ops: Record<string, number> = {};
  let wall = 0;
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const info = await tf.profile(async () => void await model.trainOnBatch(xs, ys));
    wall += performance.now() - start;
    for (const k of info.kernels) ops[k.name] = (ops[k.name] ?? 0) + (await k.kernelTimeMs as number) / steps;
  }
  return { ops, msPerStep: wall / steps };
}

async function torchByOperator(steps: number): Promise<{ ops: Record<string, number>; msPerStep: number } | string> {
  const script = join(dirname(fileURLToPath(import.meta.url)), "torch_peer.py");
  const threads = String(Deno.env.get("CH5_WASM_THREADS") ?? navigator.hardwareConcurrency);
  for (const python of ["/usr/bin/python3", "python3"]) {
    const out = await new Deno.Command(python, {
      args: [script, "--threads", threads, "--profile", String(steps)],
      stdout: "piped",
      stderr: "piped",
    }).output().catch(() => undefined);
    if (out?.success) return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  }
  return "no python3 here imports torch (Debian: apt install python3-torch)";
}

/** Sum `ops` into {@link KINDS} (each operator counts in the first kind that matches it). */
function byKind(ops: Record<string, number>, which: 1 | 2): number[] {
  const totals = KINDS.map(() => 0);
  for (const [name, ms] of Object.entries(ops)) totals[KINDS.findIndex((k) => k[which].test(name))] += ms;
  return totals;
}

/** Print the side-by-side profile. */
export async function profileTraining(steps = 5): Promise<void> {
  const ours = await oursByKernel(steps);
  const torch = await torchByOperator(steps);
  const a = byKind(ours.ops, 1), b = typeof torch === "string" ? undefined : byKind(torch.ops, 2);
  const rows = [["ms per training step (batch 20)", "ours", "PyTorch"]];
  KINDS.forEach(([label], i) => rows.push([label, a[i].toFixed(1), b ? b[i].toFixed(1) : "—"]));
  rows.push(["all kernels", a.reduce((p, q) => p + q).toFixed(1), b ? b.reduce((p, q) => p + q).toFixed(1) : "—"]);
  rows.push([
    "wall time of a step",
    ours.msPerStep.toFixed(1),
    typeof torch === "string" ? "—" : torch.msPerStep.toFixed(1),
  ]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}`);
  if (typeof torch === "string") console.log(`PyTorch left out: ${torch}`);
  const top = (ops: Record<string, number>) =>
    Object.entries(ops).sort((p, q) => q[1] - p[1]).slice(0, 12).map(([k, v]) => `${v.toFixed(1).padStart(7)}  ${k}`);
  console.log("\nours, by kernel:\n" + top(ours.ops).join("\n"));
  if (typeof torch !== "string") console.log("\nPyTorch, by operator:\n" + top(torch.ops).join("\n"));
}

/**
 * The engine's benchmark, against PyTorch on the same cores:
 *
 * - training the 5.2 convnet (150×150, batch 20, RMSprop, binary
 *   cross-entropy), its inference (batch 20), and VGG16's conv base at
 *   150×150 (inference, batch 10): see `workloads.ts`;
 * - PyTorch (`torch_peer.py`, Debian's `python3-torch`) runs the same models
 *   with the same threads, in NCHW and channels_last; its better layout counts;
 * - the two are **interleaved**: ours, PyTorch, ours, PyTorch, … for
 *   `--rounds` rounds (default 3), each in a fresh process, so a change in the
 *   machine's load hits both. The table gives the median of each figure and of
 *   the per-round ratios, with their min–max;
 * - the ISA oneDNN runs (`avx2`, `avx512_core`, …; `ONEDNN_MAX_CPU_ISA` caps
 *   it, for PyTorch too), the load average before and after each process, and
 *   the CPU time other programs took during each (from `/proc/stat`, minus
 *   the process's own). The run is `noisy` when the load average passed one
 *   per core before its first process (the measured processes themselves
 *   load every core), or when other programs took more than a tenth of the
 *   cores during any process.
 *
 * `--profile` prints instead, side by side, the milliseconds per training
 * step of each kind of kernel, ours (`tf.profile`) and PyTorch's
 * (`torch.profiler`, channels_last).
 *
 * @example
 * ```sh
 * deno run -A engine/bench/bench.ts                         # 3 interleaved rounds
 * deno run -A engine/bench/bench.ts --rounds 5 --seconds 10 --out data/results/bench.json
 * ONEDNN_MAX_CPU_ISA=AVX2 deno run -A engine/bench/bench.ts --profile
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import process from "node:process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { initBackend } from "../mod.ts";
import { forwardFlops, smallConvnet, vgg16Base } from "./workloads.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const MARK = "BENCH_RESULT ";

/** Command-line options. */
interface Options {
  rounds: number;
  seconds: number;
  profile: boolean;
  out?: string;
  child: boolean;
}

function options(args: string[]): Options {
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const number = (name: string, fallback: number, min: number) => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new RangeError(`${name} ${v}: give a number of at least ${min}`);
    return n;
  };
  return {
    rounds: Math.floor(number("--rounds", 3, 1)),
    seconds: number("--seconds", 8, 0.5),
    profile: args.includes("--profile"),
    out: value("--out"),
    child: args.includes("--child"),
  };
}

/** Seconds per call of `fn`, after `warmUp` calls, over about `seconds` (at least 3 calls). */
async function perCall(fn: () => Promise<void>, seconds: number, warmUp = 2): Promise<number> {
  for (let i = 0; i < warmUp; i++) await fn();
  let calls = 0;
  const start = performance.now();
  while (calls < 3 || performance.now() - start < seconds * 1000) {
    await fn();
    calls++;
  }
  return (performance.now() - start) / 1000 / calls;
}

function trainingStep(model: tf.LayersModel, batch: number) {
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy" });
  const xs = tf.randomNormal([batch, 150, 150, 3]), ys = tf.tensor2d(Array.from({ length: batch }, (_, i) => [i % 2]));
  return async () => void await model.trainOnBatch(xs, ys);
}

function inference(model: tf.LayersModel, batch: number) {
  const xs = tf.randomNormal([batch, 150, 150, 3]);
  return async () => {
    const out = model.predict(xs) as tf.Tensor;
    await out.data();
    out.dispose();
  };
}

/** The ISA oneDNN runs, where the backend uses it. */
async function oneDnnIsa(backend: string): Promise<string | undefined> {
  if (backend !== "wasm-native") return undefined;
  const { loadOneDnn } = await import("../onednn.ts");
  return loadOneDnn().isa;
}

/** One process's measurements of our engine (`--child`). */
async function measureOurs(seconds: number): Promise<Record<string, unknown>> {
  const cpu = process.cpuUsage(), wall = performance.now();
  const report = await initBackend();
  const small = smallConvnet(), vgg = vgg16Base();
  const train = 20 / await perCall(trainingStep(small, 20), seconds);
  const infer = 20 / await perCall(inference(small, 20), seconds);
  const vggInfer = 10 / await perCall(inference(vgg, 10), seconds);
  const used = process.cpuUsage(cpu);
  return {
    backend: report.name,
    threads: report.threads,
    isa: await oneDnnIsa(report.name),
    line: report.line,
    trainImagesPerSec: train,
    inferImagesPerSec: infer,
    vggImagesPerSec: vggInfer,
    trainGflops: 3 * forwardFlops(small) * train / 1e9,
    vggGflops: forwardFlops(vgg) * vggInfer / 1e9,
    cpuSeconds: (used.user + used.system) / 1e6,
    wallSeconds: (performance.now() - wall) / 1000,
  };
}

/** A python3 that imports torch: Debian's `/usr/bin/python3` first, then the one on PATH. */
async function torchPython(): Promise<string | undefined> {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const ok = await new Deno.Command(python, { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
      .output().then((o) => o.success, () => false);
    if (ok) return python;
  }
  return undefined;
}

/** Busy and total jiffies of all CPUs (`/proc/stat`), or undefined off Linux. */
async function cpuJiffies(): Promise<{ busy: number; total: number } | undefined> {
  const text = await Deno.readTextFile("/proc/stat").catch(() => undefined);
  const fields = text?.split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  if (!fields) return undefined;
  const total = fields.reduce((a, b) => a + b, 0), idle = fields[3] + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

async function loadAverage(): Promise<number | undefined> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => undefined);
  return text ? Number(text.split(" ")[0]) : undefined;
}

/** What ran around one measuring process: the load before and after, and the cores other programs used. */
interface Conditions {
  loadBefore?: number;
  loadAfter?: number;
  otherCores?: number;
}

/** Run `command`, which prints one JSON line after {@link MARK} (or as its last line); with the conditions around it. */
async function measured(
  command: string,
  args: string[],
  marked: boolean,
): Promise<{ result?: Record<string, unknown>; error?: string; conditions: Conditions }> {
  const loadBefore = await loadAverage(), before = await cpuJiffies();
  const out = await new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  const after = await cpuJiffies(), loadAfter = await loadAverage();
  const text = new TextDecoder().decode(out.stdout);
  const line = marked
    ? text.split("\n").find((l) => l.startsWith(MARK))?.slice(MARK.length)
    : text.trim().split("\n").at(-1);
  if (!out.success || !line) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    return { error: `exit ${out.code}: ${err || text.slice(-500)}`, conditions: { loadBefore, loadAfter } };
  }
  const result = JSON.parse(line) as Record<string, unknown>;
  let otherCores: number | undefined;
  if (before && after && typeof result.cpuSeconds === "number" && typeof result.wallSeconds === "number") {
    const hz = 100, cores = navigator.hardwareConcurrency; // USER_HZ is 100 on Linux
    const busy = (after.busy - before.busy) / hz, span = (after.total - before.total) / hz / cores;
    otherCores = Math.max(0, busy - result.cpuSeconds) / Math.max(span, result.wallSeconds);
  }
  return { result, conditions: { loadBefore, loadAfter, otherCores } };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median and range of the defined values. */
function spread(values: (number | undefined)[]) {
  const v = values.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length } : undefined;
}

/** PyTorch's better layout for `key`. */
function best(m: Layouts | undefined, key: string): number | undefined {
  return m ? Math.max(...Object.values(m).map((v) => v[key] ?? 0)) : undefined;
}

type Layouts = Record<string, Record<string, number>>;

/** One round: our measurements, PyTorch's (by model, by layout), the conditions around both. */
interface Round {
  ours: Record<string, number | string>;
  torch?: Record<string, Layouts>;
  torchError?: string;
  conditions: Conditions[];
  noisy: boolean;
}

/** The interleaved rounds: ours, then PyTorch's, `rounds` times. */
async function compare(o: Options): Promise<{ rounds: Round[]; python: string | null }> {
  const script = fileURLToPath(import.meta.url), python = await torchPython();
  const threads = Number(Deno.env.get("CH5_WASM_THREADS") ?? navigator.hardwareConcurrency);
  const rounds: Round[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    console.log(`round ${r}/${o.rounds}: ours ...`);
    const ours = await measured(
      Deno.execPath(),
      ["run", "-A", script, "--child", "--seconds", String(o.seconds)],
      true,
    );
    if (ours.error) throw new Error(`our measurement failed: ${ours.error}`);
    const torch = python
      ? (console.log(`round ${r}/${o.rounds}: PyTorch ...`),
        await measured(python, [
          join(HERE, "torch_peer.py"),
          "--threads",
          String(threads),
          "--seconds",
          String(o.seconds),
        ], false))
      : undefined;
    const cores = navigator.hardwareConcurrency;
    const all = [ours.conditions, torch?.conditions].filter((c): c is Conditions => !!c);
    const noisy = (r === 1 && (ours.conditions.loadBefore ?? 0) > cores) ||
      all.some((c) => (c.otherCores ?? 0) > 0.1 * cores);
    rounds.push({
      ours: ours.result as Round["ours"],
      torch: torch?.result as Round["torch"],
      torchError: torch?.error,
      conditions: all,
      noisy,
    });
  }
  return { rounds, python: python ?? null };
}

function summarize(rs: Round[]) {
  const figure = (ours: string, section: string, key: string) => {
    const o = rs.map((r) => r.ours[ours] as number);
    const t = rs.map((r) => best(r.torch?.[section], key));
    const ratio = o.map((v, i) => (t[i] ? v / t[i]! : undefined));
    return { ours: spread(o), torch: spread(t), ratio: spread(ratio) };
  };
  return {
    training: figure("trainImagesPerSec", "smallConvnet150", "trainImagesPerSec"),
    inference: figure("inferImagesPerSec", "smallConvnet150", "inferImagesPerSec"),
    vgg16Base: figure("vggImagesPerSec", "vgg16Base150", "inferImagesPerSec"),
    vggGflops: spread(rs.map((r) => r.ours.vggGflops as number)),
    trainGflops: spread(rs.map((r) => r.ours.trainGflops as number)),
    noisy: rs.some((r) => r.noisy),
  };
}

const f = (v: number | undefined, d = 1) => (v === undefined ? "—" : v.toFixed(d));
const range = (s?: { median: number; min: number; max: number }, d = 1, unit = "") =>
  s ? `${f(s.median, d)}${unit} (${f(s.min, d)}–${f(s.max, d)})` : "—";

function printTable(
  summary: ReturnType<typeof summarize>,
  first: Round["ours"],
  rounds: number,
  torchBlas?: string,
): void {
  console.log(`\n${first.line}\noneDNN ISA: ${first.isa ?? "—"}; ${rounds} interleaved rounds; median (min–max)`);
  const rows: string[][] = [["figure", "ours", "PyTorch (best layout)", "ours / PyTorch"]];
  for (
    const [name, key] of [["training, img/s", "training"], ["inference, img/s", "inference"], [
      "VGG16 base, img/s",
      "vgg16Base",
    ]] as const
  ) {
    const s = summary[key];
    rows.push([name, range(s.ours), range(s.torch), range(s.ratio, 2, "×")]);
  }
  rows.push(["VGG16 base, GFLOP/s", range(summary.vggGflops, 0), "", ""]);
  rows.push(["training, GFLOP/s", range(summary.trainGflops, 0), "", ""]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
  if (summary.noisy) console.log("noisy: other programs used the cores during at least one round (see the JSON)");
  if (torchBlas) console.log(`PyTorch's BLAS (its dense layers): ${torchBlas}`);
}

if (import.meta.main) {
  const o = options(Deno.args);
  if (o.child) {
    console.log(MARK + JSON.stringify(await measureOurs(o.seconds)));
  } else if (o.profile) {
    const { profileTraining } = await import("./profile.ts");
    await profileTraining();
  } else {
    const { rounds, python } = await compare(o);
    const summary = summarize(rounds);
    printTable(summary, rounds[0].ours, rounds.length, rounds[0].torch?.blas as unknown as string | undefined);
    const record = { date: new Date().toISOString(), seconds: o.seconds, python, summary, rounds };
    if (o.out) {
      await Deno.mkdir(dirname(o.out), { recursive: true });
      await Deno.writeTextFile(o.out, JSON.stringify(record, null, 2) + "\n");
      console.log(`wrote ${o.out}`);
    }
  }
}

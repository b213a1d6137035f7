/**
 * Start `@tensorflow/tfjs-backend-wasm` under Deno with XNNPACK on several
 * threads, and register the training kernels of `./wasm_training.ts`.
 *
 * The threads setting (`CH5_WASM_THREADS`, else the logical cores) is checked
 * by {@link parseWasmThreads}: a value that is not a whole number from 1 to the
 * limit is an error, never a silent clamp.
 *
 * How it starts threads under Deno, and what was tried and measured on the
 * way: engine/README.md, "Lab notes".
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { startWasmBackend } from "./wasm_start.ts";
 * const { threads } = await startWasmBackend();
 * console.log(tf.getBackend(), threads); // wasm 2
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import * as tfWasm from "@tensorflow/tfjs-backend-wasm";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { registerWasmTrainingKernels } from "./wasm_training.ts";
import { BACKEND, checkAllocations, type WasmBackend } from "./wasm_heap.ts";

/** The most threads the wasm backend (and oneDNN beside it) may be given: the logical cores, at least 1. */
export const MAX_WASM_THREADS: number = Math.max(1, navigator.hardwareConcurrency || 1);

/** Raised for a threads setting that is not a whole number from 1 to {@link MAX_WASM_THREADS}. */
export class WasmThreadsError extends Error {
  override name = "WasmThreadsError";
}

/**
 * Parse a thread count as `CH5_WASM_THREADS` gives it: a whole number from 1
 * to {@link MAX_WASM_THREADS} (more threads than logical cores only slow the
 * work down). Anything else is refused, naming the setting, the value and
 * what is allowed; nothing is clamped.
 *
 * @param setting the name shown in the error (default `CH5_WASM_THREADS`).
 * @throws {WasmThreadsError} for `abc`, `0`, `-1`, `1.5`, or more than the logical cores.
 */
export function parseWasmThreads(value: string, setting = "CH5_WASM_THREADS"): number {
  const text = value.trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    const why = !Number.isInteger(n)
      ? "is not a whole number"
      : n < 1
      ? "is below 1"
      : "is more than the logical cores";
    throw new WasmThreadsError(
      `${setting}=${JSON.stringify(value)} ${why}: use a whole number of threads from 1 to ${MAX_WASM_THREADS} ` +
        `(this machine's logical cores), e.g. ${MAX_WASM_THREADS}, or unset it to use all cores.`,
    );
  }
  return n;
}

/**
 * The threads setting: `CH5_WASM_THREADS` when set (checked by
 * {@link parseWasmThreads}), else the logical cores, at most 8 (the default
 * that was measured; more can be asked for).
 */
export function wasmThreadsSetting(): number {
  const env = Deno.env.get("CH5_WASM_THREADS");
  return env === undefined ? Math.min(8, MAX_WASM_THREADS) : parseWasmThreads(env);
}

/**
 * What {@link startWasmBackend} started.
 */
export interface WasmStartReport {
  /** Threads XNNPACK computes with (1: the single-threaded SIMD build). */
  threads: number;
  /** The kernels {@link registerWasmTrainingKernels} registered. */
  kernels: string[];
  /** How the threads were set up, or why the threaded build was not used. */
  detail: string;
}

const WORKER_MAIN_SCRIPT = "tfjs-main-script-already-evaluated";
const START_TIMEOUT_MS = 120_000;
const PROBE = "tfjs-pthread-worker-probe";

/** Start the adapted worker once on its own: it must load and answer before tfjs relies on it. */
async function probePthreadWorker(path: string): Promise<void> {
  const { Worker } = await import("node:worker_threads");
  const worker = new Worker(path, { workerData: PROBE });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once("message", (m) => (m === PROBE ? resolve() : reject(new Error(`unexpected message ${m}`))));
      worker.once("error", reject);
      timer = setTimeout(() => reject(new Error("the pthread worker did not answer within 30 s")), 30_000);
    });
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}

/** Raised when the threaded wasm build's workers do not start (the backend cannot be restarted in this process). */
class WasmStartStalled extends Error {
  override name = "WasmStartStalled";
  constructor() {
    super(
      `the threaded wasm backend did not start within ${START_TIMEOUT_MS / 1000} s (its pthread workers never ` +
        "reported back). Set CH5_WASM_THREADS=1 to use the single-threaded build, and restart.",
    );
  }
}

/**
 * The pthread worker of the threaded build, made to run as a Deno
 * `node:worker_threads` worker: tfjs ships it as a string for Node, where it
 * assigns globals that Deno's worker scope defines read-only, and it expects
 * the main script as a file, which tfjs passes as a Blob.
 */
function pthreadWorkerSource(packageFile: string, stockWorker: string): string {
  const distDir = dirname(packageFile);
  return `"use strict";
// Written by wasm_training.ts: tfjs-backend-wasm's pthread worker, adapted to Deno.
for (const k of ["self", "location", "postMessage", "performance", "Worker", "importScripts", "Module", "require"]) {
  try {
    Object.defineProperty(globalThis, k, { value: globalThis[k], writable: true, configurable: true, enumerable: true });
  } catch (_) { /* keep the original */ }
}
// Free variables of the bundled Emscripten factory (rollup names of its imports).
Object.assign(globalThis, {
  require$$0: require("fs"), require$$1: require("path"), require$$3: require("perf_hooks"),
  require$$4: require("os"), commonjsGlobal: globalThis, __dirname: ${JSON.stringify(distDir + "/")},
});
const workerThreads = require("node:worker_threads");
const listen = workerThreads.parentPort.on.bind(workerThreads.parentPort);
let queue = Promise.resolve();
workerThreads.parentPort.on = (event, handler) => {
  if (event !== "message") return listen(event, handler);
  return listen("message", (data) => {
    // Messages are handled in order; the first one may wait for the main script's text.
    queue = queue.then(async () => {
      if (data && data.cmd === "load" && data.urlOrBlob && typeof data.urlOrBlob !== "string") {
        (0, eval)(await data.urlOrBlob.text());
        data.urlOrBlob = ${JSON.stringify(WORKER_MAIN_SCRIPT)};
      }
      handler(data);
    });
  });
};
${stockWorker}
{
  const importScripts = globalThis.importScripts;
  globalThis.importScripts = (f) => (f === ${JSON.stringify(WORKER_MAIN_SCRIPT)} ? undefined : importScripts(f));
}
if (workerThreads.workerData === ${JSON.stringify(PROBE)}) workerThreads.parentPort.postMessage(${
    JSON.stringify(PROBE)
  });
`;
}

/** Write the adapted pthread worker next to the OS temp files; returns its path. */
async function writePthreadWorker(): Promise<string> {
  const packageFile = fileURLToPath(import.meta.resolve("@tensorflow/tfjs-backend-wasm"));
  const bundle = await Deno.readTextFile(packageFile);
  const match = bundle.match(/var wasmWorkerContents = ("(?:[^"\\]|\\.)*");/);
  if (!match) throw new Error(`no pthread worker source found in ${packageFile}`);
  // As tfjs does before making its Blob: keep "\n" escapes inside the worker's strings.
  const stockWorker = (JSON.parse(match[1]) as string).replace(/\n/g, "\\n");
  const source = pthreadWorkerSource(packageFile, stockWorker);
  const dir = join(os.tmpdir(), `tfjs-wasm-threads-${tf.version.tfjs}`);
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, "tfjs-backend-wasm-threaded-simd.worker.cjs");
  const current = await Deno.readTextFile(path).catch(() => "");
  if (current !== source) {
    const tmp = `${path}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, source);
    await Deno.rename(tmp, path);
  }
  return path;
}

/**
 * Start the `wasm` backend, with XNNPACK on `threads` threads where the
 * threaded SIMD build starts under Deno, and register
 * {@link registerWasmTrainingKernels}. Falls back to the single-threaded
 * build, and says why, when threads cannot start.
 *
 * tfjs turns threads off when it sees Node APIs (Deno has them), starts its
 * pthread workers from a Blob URL (Node workers need a file), and caps the
 * pool at half the logical cores (one thread on a 2-vCPU machine); this
 * function works around all three for the duration of the start.
 *
 * @param options.threads threads to compute with (default: {@link wasmThreadsSetting}).
 */
export async function startWasmBackend(options: { threads?: number } = {}): Promise<WasmStartReport> {
  const wanted = options.threads === undefined
    ? wasmThreadsSetting()
    : parseWasmThreads(String(options.threads), "startWasmBackend({threads})");
  let detail = "single-threaded SIMD build";
  // (Not tf.findBackend: it would start the backend without threads.)
  if ((tf.engine() as unknown as { registry: Record<string, unknown> }).registry[BACKEND]) {
    // Already started in this process: threads are fixed at start.
    if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
    return started("already started");
  }
  if (wanted > 1) {
    let worker: string | undefined;
    try {
      worker = await writePthreadWorker();
      await probePthreadWorker(worker);
    } catch (err) {
      worker = undefined;
      detail = `threads off: ${(err as Error).message}`;
    }
    if (worker) {
      const createObjectURL = URL.createObjectURL;
      const cpus = os.cpus;
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
      tfWasm.setThreadsCount(wanted);
      URL.createObjectURL = (obj: Blob) =>
        obj instanceof Blob && obj.type === "application/javascript" ? worker! : createObjectURL(obj);
      // tfjs' C++ allows at most (logical cores / 2) threads.
      (os as { cpus: typeof os.cpus }).cpus = () => Array.from({ length: 2 * wanted }, () => cpus()[0]);
      let ok = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      // Workers that never report back would leave tf.setBackend pending for ever.
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new WasmStartStalled()), START_TIMEOUT_MS);
      });
      try {
        ok = await Promise.race([tf.setBackend("wasm"), stalled]);
      } catch (err) {
        if (err instanceof WasmStartStalled) throw err;
        detail = `threads off: ${(err as Error).message}`;
      } finally {
        clearTimeout(timer);
        URL.createObjectURL = createObjectURL;
        (os as { cpus: typeof os.cpus }).cpus = cpus;
      }
      if (ok) {
        // Emscripten keeps a running pthread's worker referenced (Node would too, one
        // reason tfjs turns threads off there); XNNPACK's pool threads never return,
        // so without this the process would not exit when its work is done.
        const pthreads = (tf.backend() as unknown as { wasm?: { PThread?: { runningWorkers?: { unref?(): void }[] } } })
          .wasm?.PThread;
        for (const w of pthreads?.runningWorkers ?? []) w.unref?.();
        return started("threaded SIMD build");
      }
      if (detail === "single-threaded SIMD build") detail = "threads off: the threaded build did not start";
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    }
  }
  tfWasm.setThreadsCount(1);
  if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
  return started(detail);
}

/** The report of a started backend, whose allocations are now checked and whose training kernels are registered. */
function started(detail: string): WasmStartReport {
  checkAllocations(tf.backend() as unknown as WasmBackend);
  return { threads: tfWasm.getThreadsCount(), kernels: registerWasmTrainingKernels(), detail };
}

/**
 * Pick the fastest TensorFlow.js backend this machine can run, and say why.
 *
 * The chain, best first (see the README):
 *
 * 1. `node-gpu`: `@tensorflow/tfjs-node-gpu` (native TensorFlow with CUDA);
 * 2. `node`: `@tensorflow/tfjs-node` (native TensorFlow on the CPU);
 * 3. `webgpu`: `@tensorflow/tfjs-backend-webgpu`, when `navigator.gpu` offers
 *    a real (not a software fallback) adapter;
 * 4. `wasm-native`: `@tensorflow/tfjs-backend-wasm` with its convolutions
 *    and dense products run by oneDNN 2.x (`libdnnl`, through `Deno.dlopen`;
 *    `native_kernels.ts`), everything else on wasm;
 * 5. `wasm`: `@tensorflow/tfjs-backend-wasm` plus the training kernels of
 *    `wasm_training.ts`;
 * 6. `cpu`: the pure-JavaScript backend, the last resort.
 *
 * `CH5_BACKEND=<name>` forces one of these names; a forced backend that does
 * not load is an error rather than a silent fall-through.
 *
 * @example
 * ```ts
 * import { initBackend } from "./chain.ts";
 * const report = await initBackend();
 * console.log(report.line); // backend: wasm (...); skipped: node-gpu (...), ...
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The backends of the chain, best first. */
export const BACKEND_CHAIN = ["node-gpu", "node", "webgpu", "wasm-native", "wasm", "cpu"] as const;

/** One name of {@link BACKEND_CHAIN}. */
export type BackendName = typeof BACKEND_CHAIN[number];

/** What {@link initBackend} chose, and why the better ones were skipped. */
export interface BackendReport {
  /** The backend that runs from now on. */
  name: BackendName;
  /** The tfjs backend name (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  tfBackend: string;
  /** How the choice was made: by the chain (`auto`) or forced (`CH5_BACKEND` or the option). */
  chosenBy: "auto" | "forced";
  /** Threads the backend computes with, where known. */
  threads?: number;
  /** Extra facts about the chosen backend (kernels added, adapter name). */
  detail: string;
  /** Each better backend that was tried and why it did not load. */
  skipped: { name: BackendName; reason: string }[];
  /** One line that says all of the above; notebooks print it first. */
  line: string;
}

/** Raised when `CH5_BACKEND` names no backend or a forced backend fails. */
export class BackendError extends Error {
  override name = "BackendError";
}

interface Attempt {
  tfBackend: string;
  detail: string;
  threads?: number;
}

/** The first line of an error's message, in full. */
function message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0];
}

/** Run `load` with tfjs' "kernel … is already registered" warnings muted: both native packages register the same kernels. */
async function quietly<T>(load: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/is already registered/.test(String(args[0]))) warn(...args);
  };
  try {
    return await load();
  } finally {
    console.warn = warn;
  }
}

async function tryNative(pkg: "node-gpu" | "node"): Promise<Attempt> {
  try {
    await quietly(() => pkg === "node-gpu" ? import("@tensorflow/tfjs-node-gpu") : import("@tensorflow/tfjs-node"));
  } catch (err) {
    const text = message(err);
    const hint = /Cannot find module|tfjs_binding|\.node|libtensorflow/i.test(text)
      ? "native binding not installed (its install script downloads libtensorflow; " +
        "run `deno task setup:native` on a machine with internet)"
      : text;
    throw new Error(hint);
  }
  if (!(await tf.setBackend("tensorflow"))) {
    throw new Error("package loaded but the `tensorflow` backend did not initialise");
  }
  return {
    tfBackend: "tensorflow",
    detail: pkg === "node-gpu" ? "native TensorFlow, CUDA" : "native TensorFlow, CPU",
  };
}

async function tryWebgpu(): Promise<Attempt> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) throw new Error("navigator.gpu is absent");
  // On Linux, no GPU device node means only software adapters, which the chain skips anyway. Asking for one
  // would load the drivers' window-system probes, which print "XDG_RUNTIME_DIR is invalid" on headless machines.
  if (Deno.build.os === "linux") {
    const devices = (dir: string, prefix: string) => {
      try {
        return [...Deno.readDirSync(dir)].some((e) => e.name.startsWith(prefix));
      } catch (error) {
        return !(error instanceof Deno.errors.NotFound); // unreadable (no permission): ask the adapter as before
      }
    };
    if (!devices("/dev/dri", "renderD") && !devices("/dev", "nvidia")) {
      throw new Error("no GPU device (/dev/dri/renderD*, /dev/nvidia*): no hardware adapter");
    }
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter (no GPU or no driver)");
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const fallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ||
    (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter;
  if (fallback) throw new Error("only a software fallback adapter");
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) {
    throw new Error("the webgpu backend did not initialise");
  }
  const name = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ");
  return { tfBackend: "webgpu", detail: name || "WebGPU adapter" };
}

async function tryWasm(): Promise<Attempt> {
  const { startWasmBackend } = await import("./wasm_start.ts");
  const { threads, kernels, detail } = await startWasmBackend();
  return { tfBackend: "wasm", detail: `XNNPACK, ${detail}, +${kernels.length} training kernels`, threads };
}

async function tryWasmNative(): Promise<Attempt> {
  const { startWasmBackend, wasmThreadsSetting } = await import("./wasm_start.ts");
  const { loadOneDnn } = await import("./onednn.ts");
  // oneDNN first: without it the wasm rung below starts the backend on its own.
  const dnnl = loadOneDnn({ threads: wasmThreadsSetting() });
  const { threads, kernels, detail } = await startWasmBackend();
  const { registerNativeKernels } = await import("./native_kernels.ts");
  const native = registerNativeKernels(dnnl);
  return {
    tfBackend: "wasm",
    detail:
      `oneDNN ${dnnl.version} for ${native.length} kernels, XNNPACK ${detail}, +${kernels.length} training kernels`,
    threads,
  };
}

async function tryCpu(): Promise<Attempt> {
  await import("@tensorflow/tfjs-backend-cpu");
  if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend did not initialise");
  // The backend line already says why native TensorFlow is not used: mute tfjs' "install tfjs-node" banner.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return { tfBackend: "cpu", detail: "pure JavaScript", threads: 1 };
}

const ATTEMPTS: Record<BackendName, () => Promise<Attempt>> = {
  "node-gpu": () => tryNative("node-gpu"),
  node: () => tryNative("node"),
  webgpu: tryWebgpu,
  "wasm-native": tryWasmNative,
  wasm: tryWasm,
  cpu: tryCpu,
};

let current: Promise<BackendReport> | undefined;
let started: BackendReport | undefined;

/**
 * The chain's name of the backend that {@link initBackend} started in this
 * process (`wasm-native`, say, where `tf.getBackend()` says `wasm`), or
 * undefined when the chain has not started one.
 *
 * @example
 * ```ts
 * import { startedBackend } from "./chain.ts";
 * console.log(startedBackend() ?? "no backend started by the chain");
 * ```
 */
export function startedBackend(): BackendName | undefined {
  return started?.name;
}

/**
 * Parse a backend name as `CH5_BACKEND` gives it.
 *
 * @throws {BackendError} for a name outside {@link BACKEND_CHAIN}.
 */
export function parseBackendName(value: string): BackendName {
  const name = value.trim().toLowerCase();
  if ((BACKEND_CHAIN as readonly string[]).includes(name)) return name as BackendName;
  throw new BackendError(
    `CH5_BACKEND=${JSON.stringify(value)} is not a backend this workbook knows. ` +
      `Use one of ${BACKEND_CHAIN.join(", ")}, or unset CH5_BACKEND to pick the fastest.`,
  );
}

function describe(report: Omit<BackendReport, "line">): string {
  const threads = report.threads ? `, ${report.threads} thread${report.threads > 1 ? "s" : ""}` : "";
  const how = report.chosenBy === "forced" ? ", forced" : "";
  const skipped = report.skipped.length
    ? `; skipped: ${report.skipped.map((s) => `${s.name} (${s.reason})`).join("; ")}`
    : "";
  return `backend: ${report.name} (${report.detail}${threads}${how}), tfjs ${tf.version.tfjs}${skipped}`;
}

/**
 * Choose and initialise the backend once per process; later calls return the
 * same report.
 *
 * @param options.backend force one backend (default: `CH5_BACKEND`, else the chain).
 * @throws {BackendError} when the forced backend is unknown or cannot load.
 */
export async function initBackend(options: { backend?: BackendName } = {}): Promise<BackendReport> {
  current ??= choose(options.backend).catch((err) => {
    current = undefined;
    throw err;
  });
  const report = await current;
  started = report;
  if (options.backend && options.backend !== report.name) {
    throw new BackendError(
      `initBackend({backend: "${options.backend}"}) was asked for after ${report.name} started; tfjs runs one ` +
        `backend per process: restart the kernel (or process) to switch.`,
    );
  }
  return report;
}

async function choose(forced?: BackendName): Promise<BackendReport> {
  const env = Deno.env.get("CH5_BACKEND");
  const wanted = forced ?? (env ? parseBackendName(env) : undefined);
  const skipped: BackendReport["skipped"] = [];
  const candidates = wanted ? [wanted] : [...BACKEND_CHAIN];
  for (const name of candidates) {
    try {
      const attempt = await ATTEMPTS[name]();
      const report = {
        name,
        tfBackend: attempt.tfBackend,
        chosenBy: wanted ? "forced" as const : "auto" as const,
        threads: attempt.threads,
        detail: attempt.detail,
        skipped,
      };
      return { ...report, line: describe(report) };
    } catch (err) {
      // A bad setting is the user's to fix: no backend may start around it.
      if (err instanceof Error && err.name === "WasmThreadsError") throw new BackendError(err.message);
      if (wanted) {
        const how = forced ? `initBackend({backend: "${name}"})` : `CH5_BACKEND=${name}`;
        const fix = forced ? "Leave the option out" : "Unset CH5_BACKEND";
        throw new BackendError(
          `${how} was asked for but cannot run here: ${
            message(err).replace(/\.$/, "")
          }. ${fix} to fall back to the fastest backend that works.`,
        );
      }
      skipped.push({ name, reason: message(err) });
    }
  }
  throw new BackendError(`no tfjs backend could start: ${JSON.stringify(skipped)}`);
}

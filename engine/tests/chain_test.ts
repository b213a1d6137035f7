import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { fileURLToPath } from "node:url";
import { BACKEND_CHAIN, BackendError, initBackend, parseBackendName, startedBackend } from "../chain.ts";
import { MAX_WASM_THREADS, parseWasmThreads, WasmThreadsError } from "../wasm_start.ts";

Deno.test("parseBackendName accepts every name of the chain, case-insensitively", () => {
  for (const name of BACKEND_CHAIN) assert.equal(parseBackendName(` ${name.toUpperCase()} `), name);
});

Deno.test("parseBackendName rejects an unknown CH5_BACKEND and lists the choices", () => {
  assert.throws(() => parseBackendName("gpu"), (err: Error) => {
    assert.ok(err instanceof BackendError);
    assert.match(err.message, /CH5_BACKEND="gpu" is not a backend/);
    assert.match(err.message, /node-gpu, node, webgpu, wasm-native, wasm, cpu/);
    return true;
  });
});

Deno.test("the chain follows the design's order", () => {
  assert.deepEqual([...BACKEND_CHAIN], ["node-gpu", "node", "webgpu", "wasm-native", "wasm", "cpu"]);
});

Deno.test("initBackend picks a backend, reports it in one line and why better ones were skipped", async () => {
  assert.equal(startedBackend(), undefined, "nothing started before the first call");
  const report = await initBackend();
  assert.equal(tf.getBackend(), report.tfBackend);
  assert.equal(startedBackend(), report.name, "the chain's name (wasm-native), not only tfjs' (wasm)");
  assert.ok(!report.line.includes("\n"), "one line");
  assert.match(report.line, new RegExp(`^backend: ${report.name} \\(`));
  const better = BACKEND_CHAIN.slice(0, BACKEND_CHAIN.indexOf(report.name));
  if (report.chosenBy === "auto") {
    assert.deepEqual(report.skipped.map((s) => s.name), better);
    for (const s of report.skipped) assert.ok(report.line.includes(`${s.name} (${s.reason})`));
  }
  // A second call returns the same report instead of re-initialising.
  assert.equal(await initBackend(), report);
});

Deno.test("parseWasmThreads takes a whole number from 1 to the logical cores", () => {
  assert.equal(parseWasmThreads("1"), 1);
  assert.equal(parseWasmThreads(` ${MAX_WASM_THREADS} `), MAX_WASM_THREADS);
});

Deno.test("parseWasmThreads refuses abc, 0, -1, 1.5 and more than the cores, naming the setting, value and range", () => {
  for (const value of ["abc", "0", "-1", "1.5", "", String(MAX_WASM_THREADS + 1), "64"]) {
    if (value === "64" && MAX_WASM_THREADS >= 64) continue;
    assert.throws(() => parseWasmThreads(value), (err: Error) => {
      assert.ok(err instanceof WasmThreadsError, `${value}: ${err}`);
      assert.ok(err.message.startsWith(`CH5_WASM_THREADS=${JSON.stringify(value)} `), err.message);
      assert.match(err.message, new RegExp(`from 1 to ${MAX_WASM_THREADS}`));
      return true;
    });
  }
});

/** Start the chain in a child process (a backend starts once per process) with `env`; returns its report or error. */
async function chainInChild(env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const script = `import { initBackend } from "./chain.ts";
const report = await initBackend();
console.log(JSON.stringify({ name: report.name, line: report.line, skipped: report.skipped }));`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test("a bad CH5_WASM_THREADS stops the chain with its error instead of falling through to cpu", async () => {
  for (const value of ["abc", "0", "-1", "64"]) {
    if (value === "64" && MAX_WASM_THREADS >= 64) continue;
    const { code, out, err } = await chainInChild({ CH5_WASM_THREADS: value, CH5_BACKEND: "" });
    assert.notEqual(code, 0, `CH5_WASM_THREADS=${value} started: ${out}`);
    assert.match(err, new RegExp(`CH5_WASM_THREADS=${JSON.stringify(value).replace(/[-]/g, "\\$&")}`));
    assert.match(err, /whole number of threads from 1 to/);
  }
});

const oneDnnHere = await import("../onednn.ts").then((m) => {
  try {
    m.loadOneDnn({ paths: m.oneDnnCandidates() });
    return true;
  } catch {
    return false;
  }
});

Deno.test({
  name: "with oneDNN installed the chain picks wasm-native and names oneDNN's version",
  ignore: !oneDnnHere,
  fn: async () => {
    const { code, out, err } = await chainInChild({ CH5_BACKEND: "" });
    assert.equal(code, 0, err);
    const report = JSON.parse(out.trim().split("\n").at(-1)!);
    if (report.skipped.some((s: { name: string }) => ["node-gpu", "node", "webgpu"].includes(s.name))) {
      assert.equal(report.name, "wasm-native", report.line);
      assert.match(report.line, /oneDNN 2\.\d+\.\d+/);
    }
  },
});

Deno.test("a CH5_ONEDNN_PATH that does not exist skips wasm-native with that reason, and wasm runs", async () => {
  const { code, out, err } = await chainInChild({ CH5_BACKEND: "", CH5_ONEDNN_PATH: "/nonexistent/libdnnl.so.2" });
  assert.equal(code, 0, err);
  const report = JSON.parse(out.trim().split("\n").at(-1)!);
  const skipped = report.skipped.find((s: { name: string }) => s.name === "wasm-native");
  assert.ok(skipped, report.line);
  assert.match(skipped.reason, /^CH5_ONEDNN_PATH=\/nonexistent\/libdnnl\.so\.2 does not exist\. Point it at/);
  assert.equal(report.name, "wasm", report.line);
});

Deno.test("CH5_BACKEND=wasm-native with a CH5_ONEDNN_PATH that is no library: the whole reason, no fall-through", async () => {
  const { code, err } = await chainInChild({ CH5_BACKEND: "wasm-native", CH5_ONEDNN_PATH: "/etc/passwd" });
  assert.notEqual(code, 0);
  assert.match(
    err,
    /CH5_BACKEND=wasm-native was asked for but cannot run here: CH5_ONEDNN_PATH=\/etc\/passwd is not a shared library that can be loaded \(dlopen: [^)]*\/etc\/passwd[^)]*\)\. Point it at oneDNN 2\.x's library file .* or unset it to look in the usual places\. Unset CH5_BACKEND/,
  );
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { BACKEND_CHAIN, BackendError, initBackend, parseBackendName } from "../lib/backend/chain.ts";

Deno.test("parseBackendName accepts every name of the chain, case-insensitively", () => {
  for (const name of BACKEND_CHAIN) assert.equal(parseBackendName(` ${name.toUpperCase()} `), name);
});

Deno.test("parseBackendName rejects an unknown CH5_BACKEND and lists the choices", () => {
  assert.throws(() => parseBackendName("gpu"), (err: Error) => {
    assert.ok(err instanceof BackendError);
    assert.match(err.message, /CH5_BACKEND="gpu" is not a backend/);
    assert.match(err.message, /node-gpu, node, webgpu, wasm, cpu/);
    return true;
  });
});

Deno.test("the chain follows the design's order", () => {
  assert.deepEqual([...BACKEND_CHAIN], ["node-gpu", "node", "webgpu", "wasm", "cpu"]);
});

Deno.test("initBackend picks a backend, reports it in one line and why better ones were skipped", async () => {
  const report = await initBackend();
  assert.equal(tf.getBackend(), report.tfBackend);
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

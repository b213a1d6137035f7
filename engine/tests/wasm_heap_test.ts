/**
 * A full wasm heap gives a clear error and leaves the backend working: near
 * wasm32's 4 GiB the wasm `malloc` traps or answers 0, and tfjs then wrote the
 * new tensor over the heap's first bytes (the next kernel hung).
 */
import assert from "node:assert/strict";

const CHILD = `
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./mod.ts";
await initBackend();
const kept = [];
let error;
try {
  for (let i = 0; i < 8; i++) kept.push(tf.zeros([256 * 1024 * 1024]));
} catch (err) {
  error = { name: err.name, message: err.message };
}
const product = await tf.matMul(tf.ones([300, 300]), tf.ones([300, 300])).data();
tf.dispose(kept);
const after = await tf.add(tf.ones([1 << 24]), tf.ones([1 << 24])).data();
console.log(JSON.stringify({ error, product: product[0], after: after[0], tensors: kept.length }));
`;

Deno.test("a full wasm heap is a WasmHeapError naming the sizes, and the backend still computes afterwards", async () => {
  const engine = new URL("..", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", CHILD],
    cwd: engine,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr).slice(-2000));
  const result = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
  assert.equal(result.error?.name, "WasmHeapError", JSON.stringify(result));
  assert.match(result.error.message, /no room for a tensor of 1024\.0 MiB .*the heap holds \d+ MiB of wasm's 4096 MiB/);
  assert.match(result.error.message, /tf\.dispose, tf\.tidy/);
  assert.equal(result.product, 300, "matMul after the error");
  assert.equal(result.after, 2, "add after the tensors were freed");
  assert.ok(result.tensors >= 3, `${result.tensors} tensors of 1 GiB fitted before the error`);
});

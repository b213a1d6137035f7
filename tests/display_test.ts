import assert from "node:assert/strict";
import { formatTable, inJupyter, settleMs, settleWaitMs, tableHtml } from "../lib/notebook/display.ts";

Deno.test("outside a kernel, inJupyter is false (Deno.jupyter's getter throws there)", () => {
  assert.equal(inJupyter(), false);
});

Deno.test("tables align in text and escape HTML", () => {
  const rows = [{ name: "a<b", acc: 0.912345 }, { name: "long name", acc: 1 }];
  assert.equal(
    formatTable(rows),
    ["name       acc", "---------  ------", "a<b        0.9123", "long name  1"].join("\n"),
  );
  assert.match(tableHtml(rows), /<td>a&lt;b<\/td><td>0\.9123<\/td>/);
});

Deno.test("a displayed bundle waits 50 ms plus 300 ms a megabyte, stretched by the load per core (1–8×)", () => {
  assert.equal(settleMs({ "text/plain": "" }), 50);
  assert.equal(settleMs({ "text/html": "x".repeat(1_000_000), "text/plain": undefined }), 350);
  assert.equal(settleWaitMs({ "text/plain": "" }, 0.5, 2), 50);
  assert.equal(settleWaitMs({ "text/plain": "" }, 9, 2), 225);
  assert.equal(settleWaitMs({ "text/plain": "" }, 100, 2), 400);
  assert.ok(settleWaitMs({ "text/plain": "" }) >= 50);
});

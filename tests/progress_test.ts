import assert from "node:assert/strict";
import { formatMetrics, formatProgress, Progress } from "../lib/notebook/progress.ts";

Deno.test("a running line shows step/total, the bar, the ETA and the running metrics", () => {
  const line = formatProgress(25, 100, 5000, { loss: 0.5, acc: 0.75 }, { label: "Epoch 1/3" });
  assert.equal(line, "Epoch 1/3  25/100 [======>.......................] - ETA: 15s - loss: 0.5000 - acc: 0.7500");
});

Deno.test("a finished line shows total time and time per step, like Keras verbose=1", () => {
  const line = formatProgress(100, 100, 125_000, { loss: 0.1 }, { done: true });
  assert.equal(line, "100/100 [==============================] - 2:05 1250ms/step - loss: 0.1000");
});

Deno.test("times round once, so 119.6 s is 2:00 and 3599.6 s is 1:00h", () => {
  assert.match(formatProgress(1, 1, 119_600, {}, { done: true }), / - 2:00 /);
  assert.match(formatProgress(1, 1, 3_599_600, {}, { done: true }), / - 1:00h /);
});

Deno.test("tiny values keep their digits", () => {
  assert.equal(formatMetrics({ loss: 0.00001234 }), " - loss: 1.234e-5");
});

Deno.test("in a log, a loop prints only its final line, once", async () => {
  const printed: string[] = [];
  const [log, isTerminal] = [console.log, Deno.stdout.isTerminal];
  console.log = (...args: unknown[]) => printed.push(args.join(" "));
  Deno.stdout.isTerminal = () => false; // a log, even when the test runs in a terminal
  try {
    const bar = await Progress.start({ total: 50, label: "extract" });
    for (let i = 1; i <= 50; i++) await bar.update(i, { n: i });
    const text = await bar.done({ n: 50 });
    assert.deepEqual(printed, [text]);
    assert.match(text, /^extract 50\/50 \[=+\] - \d+s \d+ms\/step - n: 50\.0000$/);
    await assert.rejects(bar.done(), /already done/);
  } finally {
    [console.log, Deno.stdout.isTerminal] = [log, isTerminal];
  }
});

Deno.test("a negative total is refused", async () => {
  await assert.rejects(Progress.start({ total: -1 }), RangeError);
});

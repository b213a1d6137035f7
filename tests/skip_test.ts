import assert from "node:assert/strict";
import { reportSkipped, SKIP_MIME, skipsIn } from "../lib/notebook/skip.ts";

Deno.test("a skip notice prints its message outside a kernel and refuses empty fields", async () => {
  const lines: unknown[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await reportSkipped({ what: "weights", reason: "download", message: "no network: the next cells are skipped" });
  } finally {
    console.log = log;
  }
  assert.deepEqual(lines, ["Skipped: no network: the next cells are skipped"]);
  await assert.rejects(reportSkipped({ what: "", reason: "download", message: "x" }), TypeError);
  await assert.rejects(
    reportSkipped({ what: "w", reason: "offline" as "download", message: "x" }),
    /reason "offline" is not "download" or "other"/,
  );
});

Deno.test("the runner finds each notice, its reason and its cell in an executed notebook", () => {
  const notebook = {
    cells: [
      { outputs: [{ output_type: "stream" }] },
      {},
      {
        outputs: [
          { output_type: "display_data", data: { "text/plain": "x" } },
          {
            output_type: "display_data",
            data: { [SKIP_MIME]: { what: "VGG16 ImageNet weights", reason: "download", message: "m" } },
          },
          { output_type: "display_data", data: { [SKIP_MIME]: { what: "elephant", reason: "bogus", message: "n" } } },
        ],
      },
    ],
  };
  assert.deepEqual(skipsIn(notebook), [
    { what: "VGG16 ImageNet weights", reason: "download", message: "m", cell: 2 },
    { what: "elephant", reason: "other", message: "n", cell: 2 },
  ]);
});

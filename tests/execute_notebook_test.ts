import assert from "node:assert/strict";
import { CommandError, executeNotebook } from "../tools/execute.ts";

Deno.test("CH5_PYTHON naming a program that is no Jupyter Python is an error naming CH5_PYTHON and what it ran", async () => {
  const before = Deno.env.get("CH5_PYTHON");
  const out = await Deno.makeTempDir();
  Deno.env.set("CH5_PYTHON", "/bin/false");
  try {
    await assert.rejects(executeNotebook("notebooks/5.1-introduction-to-convnets.ipynb", out), (err: Error) => {
      assert.ok(err instanceof CommandError, String(err));
      assert.ok(err.message.startsWith("CH5_PYTHON=/bin/false: running the notebook with it failed"), err.message);
      assert.match(err.message, /must name a Python 3 that has Jupyter's nbclient/);
      assert.match(err.message, /\/bin\/false .*execute_notebook\.py .* failed \(exit 1\), printing nothing on stderr/);
      return true;
    });
  } finally {
    if (before === undefined) Deno.env.delete("CH5_PYTHON");
    else Deno.env.set("CH5_PYTHON", before);
    await Deno.remove(out, { recursive: true });
  }
});

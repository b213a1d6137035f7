import assert from "node:assert/strict";
import { CommandError, executeNotebook } from "../tools/execute.ts";
import { withEnv } from "./env_helpers.ts";

Deno.test("CH5_PYTHON naming a program that is no Jupyter Python is an error naming CH5_PYTHON and what it ran", async () => {
  const out = await Deno.makeTempDir();
  try {
    await withEnv(
      "CH5_PYTHON",
      "/bin/false",
      () =>
        assert.rejects(executeNotebook("notebooks/5.1-introduction-to-convnets.ipynb", out), (err: Error) => {
          assert.ok(err instanceof CommandError, String(err));
          assert.ok(err.message.startsWith("CH5_PYTHON=/bin/false: running the notebook with it failed"), err.message);
          assert.match(err.message, /must name a Python 3 that has Jupyter's nbclient/);
          assert.match(
            err.message,
            /\/bin\/false .*execute_notebook\.py .* failed \(exit 1\), printing nothing on stderr/,
          );
          return true;
        }),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

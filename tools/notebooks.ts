/**
 * `deno task notebooks [NAME...]`: execute the notebooks headlessly on the
 * Deno kernel and keep the executed copies in `build/notebooks/` (git
 * ignores it; the committed notebooks stay without outputs).
 *
 * Fails with a message that says what to install when Jupyter or the Deno
 * kernel is missing.
 *
 * @module
 */
import { basename } from "node:path";
import { CommandError, EXECUTED_DIR, executeNotebook, sourceNotebooks } from "./html.ts";

/** Raised when Jupyter or its Deno kernel is not installed. */
export class JupyterMissingError extends Error {
  override name = "JupyterMissingError";
}

/** Check that `jupyter` runs and knows the `deno` kernel; throw a how-to otherwise. */
export async function requireDenoKernel(): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("jupyter", {
      args: ["kernelspec", "list", "--json"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    throw new JupyterMissingError(
      "Jupyter is not installed. On Debian/Ubuntu: sudo apt-get install jupyter-nbconvert jupyter-notebook " +
        "jupyter-client python3-ipykernel (elsewhere: pip install notebook nbconvert), then run `deno task setup`.",
    );
  }
  const specs = output.success ? JSON.parse(new TextDecoder().decode(output.stdout)).kernelspecs ?? {} : {};
  if (!("deno" in specs)) {
    throw new JupyterMissingError(
      "Jupyter has no Deno kernel. Register it with `deno jupyter --install` (or `deno task setup`).",
    );
  }
}

if (import.meta.main) {
  try {
    await requireDenoKernel();
    const all = await sourceNotebooks();
    const wanted = Deno.args.length
      ? all.filter((path) => Deno.args.some((arg) => basename(path).startsWith(arg) || path.endsWith(arg)))
      : all;
    if (wanted.length === 0) throw new Error(`No notebook matches ${Deno.args.join(", ")}.`);
    const profile = Deno.env.get("CH5_PROFILE") ?? "quick";
    for (const notebook of wanted) {
      const started = performance.now();
      console.log(`executing ${basename(notebook)} (profile ${profile}) ...`);
      const executed = await executeNotebook(notebook, EXECUTED_DIR);
      console.log(`  ${executed} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  } catch (err) {
    console.error(err instanceof JupyterMissingError || err instanceof CommandError ? err.message : err);
    Deno.exit(1);
  }
}

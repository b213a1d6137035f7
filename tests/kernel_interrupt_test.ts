/**
 * Jupyter's Interrupt during a training in a REAL Deno kernel, driven through
 * jupyter_client (tests/kernel_driver.py, run by Debian's /usr/bin/python3):
 * the training stops, the kernel lives on with its variables, the model still
 * predicts and History holds the epochs that ran. Outside a training,
 * Interrupt ends the kernel as before. A restarted kernel running the same
 * cells resumes from the checkpoint. The same session checks that
 * `fit(..., { curves })` updates its figures in place (display ids).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const driver = fileURLToPath(new URL("./kernel_driver.py", import.meta.url));
const python = "/usr/bin/python3";

async function output(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
}

/** Register the Deno kernel with Jupyter when it is not (what `deno task setup` does). */
async function ensureDenoKernel(): Promise<void> {
  const list = await output(python, ["-m", "jupyter_client.kernelspecapp", "list", "--json"]);
  const specs = list.success ? JSON.parse(new TextDecoder().decode(list.stdout)).kernelspecs ?? {} : {};
  if ("deno" in specs) return;
  const install = await output(Deno.execPath(), ["jupyter", "--install", "--force"]);
  assert.ok(install.success, `deno jupyter --install failed: ${new TextDecoder().decode(install.stderr)}`);
}

let session: Promise<Record<string, any>> | undefined;

/** One kernel session for both tests (a kernel start costs seconds): what the driver saw. */
function kernelRun(): Promise<Record<string, any>> {
  session ??= (async () => {
    const check = await output(python, ["-c", "import jupyter_client"]);
    assert.ok(
      check.success,
      `${python} lacks jupyter_client: install Debian's python3-jupyter-client (apt-get install python3-jupyter-client).`,
    );
    await ensureDenoKernel();
    const run = await output(python, [driver, root]);
    const stdout = new TextDecoder().decode(run.stdout);
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    assert.ok(run.success && line, `the driver failed:\n${stdout}\n${new TextDecoder().decode(run.stderr)}`);
    return JSON.parse(line.slice("RESULT ".length));
  })();
  return session;
}

Deno.test("Interrupt stops a training in a real Deno kernel and keeps the kernel, the model and History", async () => {
  const result = await kernelRun();

  assert.equal(result.setupError, null);
  assert.equal(result.interruptSent, true, "the training reached epoch 3");
  assert.equal(result.trainingError, null, "fit returns instead of throwing");
  assert.equal(result.aliveAfterInterrupt, true, "the kernel survives Interrupt during fit");
  assert.equal(result.interruptLines.length, 1);
  // Sent once epoch 3 had begun; on a fast machine the step that ends may already be a later epoch's.
  assert.match(
    result.interruptLines[0],
    /^Interrupted at (epoch \d+\/500, step \d+\/64|the end of epoch \d+\/500)\. The model keeps its weights/,
  );

  assert.equal(result.stateError, null);
  const state = result.state;
  assert.equal(state.marker, "kept", "a variable of an earlier cell is still there");
  const { epoch, step, steps } = state.interrupted;
  assert.ok(epoch >= 3 && step >= 1 && step <= 64 && steps === 64, JSON.stringify(state.interrupted));
  const complete = step === steps ? epoch : epoch - 1;
  assert.deepEqual(state.epochs, [...Array(complete).keys()], "History holds the complete epochs, 0-based");
  assert.equal(state.lossValues, complete);
  assert.equal(state.prediction.length, 3);
  assert.ok(state.prediction.every((p: number) => p > 0 && p < 1), "the model still predicts");

  assert.equal(result.aliveAfterPlainInterrupt, false, "outside fit, Interrupt ends the kernel as before");
});

Deno.test("in a new kernel the same cells resume the interrupted training from its checkpoint", async () => {
  const { state, resumed, resumeLines, resumeError, checkpointsLeft } = await kernelRun();
  const complete = state.epochs.length;
  assert.equal(resumeError, null);
  assert.equal(resumeLines.length, 1);
  assert.match(
    resumeLines[0],
    new RegExp(
      `^Resuming "kernel-test" from its checkpoint: ${complete} epochs? done .*training continues at epoch ${
        complete + 1
      }/${complete + 2}\\.`,
    ),
  );
  assert.equal(resumed.resumedFrom, complete);
  assert.deepEqual(resumed.epochs, [...Array(complete + 2).keys()]);
  // The restored epochs are the interrupted run's, to the last digit.
  assert.deepEqual(resumed.loss.slice(0, complete), state.loss);
  assert.deepEqual(checkpointsLeft, [], "a finished training removes its checkpoint");
});

Deno.test("fit(..., { curves }) in a kernel holds two places above the progress lines and fills them in place each epoch", async () => {
  const { curves } = await kernelRun();
  assert.equal(curves.error, null);
  assert.equal(curves.loader, 1, "plotly.js travels once, in an output of its own (updates replace a whole output)");
  // Loader and the two placeholders come before the first progress line: the figures stay above the log.
  assert.deepEqual(curves.order.slice(0, 4), ["loader", "placeholder", "placeholder", "progress"]);
  assert.equal(curves.placeholders.length, 2);
  assert.deepEqual(curves.shown, [], "figures only ever replace the placeholders");
  const titles = ["Live: training and validation accuracy", "Live: training and validation loss"];
  // After epochs 1, 2 and 3 the same two outputs (same display ids) are replaced: the notebook keeps the final state.
  assert.deepEqual(curves.updated.map((f: { id: string }) => f.id), [
    ...curves.placeholders,
    ...curves.placeholders,
    ...curves.placeholders,
  ]);
  assert.deepEqual(curves.updated.map((f: { title: string }) => f.title), [...titles, ...titles, ...titles]);
  assert.deepEqual(curves.updated.map((f: { points: number[] }) => f.points), [[1, 1], [1, 1], [2, 2], [2, 2], [
    3,
    3,
  ], [3, 3]]);
});

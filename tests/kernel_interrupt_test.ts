/**
 * Jupyter's Interrupt in a REAL Deno kernel, driven through jupyter_client
 * (tests/kernel_driver.py, run by Debian's /usr/bin/python3), as Python's
 * KeyboardInterrupt: a fit on tensors, on a picture iterator (in its last
 * epoch) and on a tf.data dataset, and a notebook loop over `steps()`, each
 * stop within a step, say where, and end their cell in an error; the kernel
 * lives on with its variables, the model still predicts and `model.history`
 * holds the complete epochs. Outside a loop, Interrupt ends the kernel as
 * before. A restarted kernel running the same cells resumes from the
 * checkpoint. The same session checks that `fit(..., { curves })` updates its
 * figures in place (display ids).
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

/** What the driver saw of one interrupted cell. */
interface Interrupted {
  sent: boolean;
  error: { ename: string; evalue: string } | null;
  lines: string[];
  progress: string[];
  alive: boolean;
  nextLineRan: boolean;
  queued: { texts: string[]; error: { ename: string; evalue: string } | null } | null;
}

// deno-lint-ignore no-explicit-any -- JSON the kernel driver printed
let session: Promise<Record<string, any>> | undefined;

/** One kernel session for both tests (a kernel start costs seconds): what the driver saw. */
// deno-lint-ignore no-explicit-any -- JSON the kernel driver printed
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

Deno.test("Interrupt stops a fit on tensors within a step: KeyboardInterrupt, kernel, model and model.history kept", async () => {
  const result = await kernelRun();
  assert.equal(result.setupError, null);
  const tensors: Interrupted = result.tensors;
  assert.ok(tensors.sent, "the training reached epoch 3");
  assert.equal(tensors.error?.ename, "KeyboardInterrupt", "the cell ends in an error: Run All stops there");
  assert.match(tensors.error!.evalue, /^Interrupted at (epoch \d+\/500, step \d+\/64|the end of epoch \d+\/500)$/);
  assert.equal(tensors.lines.length, 1);
  assert.match(
    tensors.lines[0],
    /^Interrupted at .*\. The model keeps its weights .*; model\.history holds the \d+ complete epochs? /,
  );
  assert.ok(tensors.alive, "the kernel survives Interrupt during fit");

  assert.equal(result.stateError, null);
  const state = result.state;
  assert.equal(state.marker, "kept", "a variable of an earlier cell is still there");
  const { epoch, step, steps } = state.interrupted;
  assert.ok(epoch >= 3 && step >= 1 && step <= 64 && steps === 64, JSON.stringify(state.interrupted));
  const complete = step === steps ? epoch : epoch - 1;
  assert.deepEqual(state.epochs, [...Array(complete).keys()], "model.history holds the complete epochs, 0-based");
  assert.equal(state.lossValues, complete);
  assert.equal(state.prediction.length, 3);
  assert.ok(state.prediction.every((p: number) => p > 0 && p < 1), "the model still predicts");

  assert.equal(result.aliveAfterPlainInterrupt, false, "outside a loop, Interrupt ends the kernel as before");
});

Deno.test("Interrupt in the LAST epoch of a picture-iterator fit stops within a step; the next line does not run", async () => {
  const result = await kernelRun();
  assert.equal(result.iteratorSetupError, null);
  const iterator: Interrupted = result.iterator;
  assert.ok(iterator.sent, "the training reached its last epoch");
  assert.equal(iterator.error?.ename, "KeyboardInterrupt");
  // Sent 0.5 s into epoch 3 of 3 (12 steps): it stops within the epoch, never silently at its end.
  assert.match(iterator.error!.evalue, /^Interrupted at epoch 3\/3, step \d+\/12$/);
  const step = Number(/step (\d+)\//.exec(iterator.error!.evalue)![1]);
  assert.ok(step < 12, `stopped at step ${step} of 12`);
  assert.match(
    iterator.lines[0],
    /The model keeps its weights as of that step; model\.history holds the 2 complete epochs\.$/,
  );
  assert.match(iterator.progress[0], new RegExp(`^Epoch 3/3 +${step}/12 `), "the progress line ends where it stopped");
  assert.equal(iterator.nextLineRan, false, "the cell's next line did not run");
  // A cell queued behind it (Run All) stops at its first output: Deno's kernel itself would run it.
  assert.deepEqual(iterator.queued?.texts, [], "the queued cell printed nothing");
  assert.equal(iterator.queued?.error?.ename, "KeyboardInterrupt");
  assert.match(iterator.queued!.error!.evalue, /^not run: Run All stopped at the interrupted cell above/);
  assert.ok(iterator.alive);
});

Deno.test("Interrupt stops a tf.data fit and a notebook loop whose steps never wait on I/O", async () => {
  const { dataset, loop, state, aliveAfterInterrupt } = await kernelRun();
  assert.ok((dataset as Interrupted).sent && (loop as Interrupted).sent);
  assert.equal(dataset.error?.ename, "KeyboardInterrupt");
  assert.match(dataset.error.evalue, /^Interrupted at (epoch 2\/3, step \d+\/200|the end of epoch 2\/3)$/);
  assert.equal(loop.error?.ename, "KeyboardInterrupt");
  assert.match(loop.error.evalue, /^Interrupted after step \d+\/100000 of a notebook loop$/);
  const step = Number(/step (\d+)\//.exec(loop.error.evalue)![1]);
  assert.equal(state.stepsDone, step, "the loop ran exactly the steps it names");
  assert.ok(step < 1000, `a 20 ms loop stopped at step ${step}, soon after Interrupt`);
  assert.ok(aliveAfterInterrupt);
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

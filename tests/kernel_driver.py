"""Drive a real Deno Jupyter kernel through jupyter_client, as JupyterLab does (tests/kernel_interrupt_test.ts).

Usage: /usr/bin/python3 tests/kernel_driver.py REPO_ROOT
Prints one line `RESULT {json}` with what each step saw; the Deno test asserts on it.

Steps: define variables in one cell; train 3 epochs with live curves and record the figure outputs; start a long training (lib/training/fit.ts) in another; once epoch 3 has
begun, send Interrupt (KernelManager.interrupt_kernel: SIGINT to the kernel process); then check the kernel is alive,
the earlier variables and the model are still there, and History holds the epochs that ran; restart the kernel and
run the same cells: the training resumes from its checkpoint (fit's `checkpoint`). Finally, Interrupt a
plain sleep outside any training: with no listener, the kernel process ends as it did before (behaviour unchanged).
"""
import json
import os
import sys
import tempfile
import time

from jupyter_client.manager import KernelManager

root = sys.argv[1]
result = {}


def messages(msg_id, timeout=120):
    """The iopub messages (kind, content) of the cell `msg_id` until the kernel is idle again."""
    deadline = time.time() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(1, deadline - time.time()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            return
        yield kind, content


def text_of(kind, content):
    """The text an output message shows (stream text, or a display's text/plain); None for other messages."""
    if kind in ("stream", "display_data", "update_display_data", "execute_result"):
        return content.get("text") or content.get("data", {}).get("text/plain", "")
    return None


def run(code, timeout=120):
    """Execute `code`, return (outputs as text lines, error or None) once the kernel is idle again."""
    texts, error = [], None
    for kind, content in messages(kc.execute(code), timeout):
        text = text_of(kind, content)
        if text is not None:
            texts.append(text)
        elif kind == "error":
            error = f"{content['ename']}: {content['evalue']}"
    return texts, error


data_dir = tempfile.mkdtemp(prefix="ch5-kernel-test-")  # where the training's checkpoint goes
km = KernelManager(kernel_name="deno")
km.start_kernel(cwd=root, env={**os.environ, "CH5_DATA_DIR": data_dir, "CH5_PROFILE": "quick"})
kc = km.client()
kc.start_channels()
try:
    kc.wait_for_ready(timeout=120)
    setup = """
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "@ch5/engine";
import { fit } from "./lib/training/fit.ts";
await initBackend({ backend: "cpu" });
const marker = "kept";
const x = tf.randomUniform([1024, 16], -1, 1, "float32", 1);
const y = x.sum(1, true).greater(0).toFloat();
const model = tf.sequential({ layers: [
  tf.layers.dense({ units: 32, inputShape: [16], activation: "relu" }),
  tf.layers.dense({ units: 1, activation: "sigmoid" }),
] });
model.compile({ optimizer: "rmsprop", loss: "binaryCrossentropy", metrics: ["accuracy"] });
"""
    _, err = run(setup)
    result["setupError"] = err

    # Live curves: fit(..., { curves: true }) shows two figures, then updates them in place after each epoch.
    msg_id = kc.execute("""
const curvesModel = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [16], activation: "sigmoid" })] });
curvesModel.compile({ optimizer: "sgd", loss: "binaryCrossentropy", metrics: ["accuracy"] });
const validationData = { x: x.slice(0, 256), y: y.slice(0, 256) };
await fit(curvesModel, { x: x.slice(256), y: y.slice(256) }, { epochs: 3, batchSize: 256, validationData, curves: { title: "Live" } });
""")
    curves = {"placeholders": [], "shown": [], "updated": [], "loader": 0, "error": None, "order": []}
    for kind, content in messages(msg_id):
        if kind in ("display_data", "update_display_data"):
            data = content.get("data", {})
            fig = data.get("application/vnd.plotly.v1+json")
            display_id = content.get("transient", {}).get("display_id")
            if fig is None:
                if "data-ch5-plotly-loader" in data.get("text/html", ""):
                    curves["loader"] += 1
                    curves["order"].append("loader")
                elif kind == "display_data" and display_id and display_id.startswith("ch5-curves-"):
                    curves["placeholders"].append(display_id)
                    curves["order"].append("placeholder")
                elif data.get("text/plain", "").startswith("Epoch "):
                    if kind == "display_data":
                        curves["order"].append("progress")
                continue
            entry = {
                "id": content.get("transient", {}).get("display_id"),
                "title": fig["layout"]["title"]["text"],
                "points": [len(t["y"]) for t in fig["data"]],
            }
            curves["shown" if kind == "display_data" else "updated"].append(entry)
        elif kind == "error":
            curves["error"] = f"{content['ename']}: {content['evalue']}"
    result["curves"] = curves

    def interrupted(code, trigger, delay=0.0, timeout=300, queued=None):
        """Run `code` (and queue `queued` behind it, as Run All does); once an output starts with `trigger` (and
        `delay` s more), send Interrupt. What the cell (and the queued one) did."""
        msg_id = kc.execute(code)
        queued_id = kc.execute(queued) if queued else None
        texts, error, sent = [], None, None
        for kind, content in messages(msg_id, timeout):
            text = text_of(kind, content)
            if text is not None:
                texts.append(text)
                if sent is None and text.startswith(trigger):
                    time.sleep(delay)
                    km.interrupt_kernel()
                    sent = time.time()
            elif kind == "error":
                error = {"ename": content["ename"], "evalue": content["evalue"]}
        queued_result = None
        if queued_id:
            texts_q, error_q = [], None
            for kind, content in messages(queued_id):
                text = text_of(kind, content)
                if text is not None:
                    texts_q.append(text)
                elif kind == "error":
                    error_q = {"ename": content["ename"], "evalue": content["evalue"]}
            queued_result = {"texts": texts_q, "error": error_q}
        time.sleep(1.5)  # a cell run a second later is the learner's, not Run All's queue
        return {
            "queued": queued_result,
            "sent": sent is not None,
            "error": error,
            "lines": [t for t in texts if t.startswith("Interrupted")],
            "progress": [t for t in texts if t.startswith(trigger)][-1:],
            "alive": km.is_alive(),
            "nextLineRan": any("NEXT LINE RAN" in t for t in texts),
        }

    # A fit on tensors, with a checkpoint: Interrupt once epoch 3 has begun.
    result["tensors"] = interrupted(
        'const history = await fit(model, { x, y }, { epochs: 500, batchSize: 16, checkpoint: "kernel-test" });',
        "Epoch 3/",
    )
    # A fit on a picture iterator, as 5.2 trains: Interrupt 0.5 s into its last epoch.
    _, err = run("""
import sharp from "sharp";
import { imageDataGenerator } from "./lib/preprocessing/image_data_generator.ts";
import { steps } from "./lib/notebook/interrupt.ts";
import { print } from "./lib/notebook/display.ts";
const pictures = Deno.env.get("CH5_DATA_DIR") + "/pictures";
for (const [label, tint] of [["cats", 40], ["dogs", 200]] as const) {
  await Deno.mkdir(`${pictures}/${label}`, { recursive: true });
  for (let i = 0; i < 20; i++) {
    const pixels = Uint8Array.from({ length: 32 * 32 * 3 }, (_, k) => (tint + k * (i + 3)) % 256);
    await sharp(pixels, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(`${pictures}/${label}/${i}.png`);
  }
}
const small = tf.sequential({ layers: [
  tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: "relu", inputShape: [32, 32, 3] }),
  tf.layers.maxPooling2d({ poolSize: 4 }), tf.layers.flatten(), tf.layers.dense({ units: 1, activation: "sigmoid" }),
] });
small.compile({ optimizer: "rmsprop", loss: "binaryCrossentropy", metrics: ["acc"] });
const pictureFlow = await imageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory(pictures, {
  targetSize: [32, 32], batchSize: 10, classMode: "binary",
});
""")
    result["iteratorSetupError"] = err
    result["iterator"] = interrupted(
        "const h2 = await fit(small, pictureFlow, { epochs: 3, stepsPerEpoch: 12 });\nconsole.log('NEXT LINE RAN');",
        "Epoch 3/3",
        delay=0.5,
        queued='await print("the queued cell ran");',
    )
    # A fit on a tf.data dataset of tensors.
    result["dataset"] = interrupted(
        """const batches = tf.data.zip({ xs: tf.data.array(x.unstack()), ys: tf.data.array(y.unstack()) }).batch(64).repeat();
await fit(curvesModel, batches, { epochs: 3, stepsPerEpoch: 200 });""",
        "Epoch 2/3",
        delay=0.3,
    )
    # A notebook's own loop (5.3's feature extraction, 5.4's gradient ascent): synchronous steps, no I/O.
    result["loop"] = interrupted(
        """let stepsDone = 0;
for await (const _ of steps(100000, "a notebook loop")) {
  if (stepsDone++ === 0) console.log("LOOP STARTED");
  const t = performance.now();
  while (performance.now() - t < 20); // 20 ms of work that never gives the event loop a turn
}""",
        "LOOP STARTED",
        delay=0.5,
    )
    result["aliveAfterInterrupt"] = km.is_alive()

    texts, err = run("""
const p = model.predict(x.slice(0, 3)) as tf.Tensor;
const kept = model.history as unknown as { epoch: number[]; history: Record<string, number[]>; interrupted: unknown };
console.log("STATE " + JSON.stringify({
  marker,
  stepsDone,
  epochs: kept.epoch,
  lossValues: kept.history.loss.length,
  loss: kept.history.loss,
  interrupted: kept.interrupted,
  prediction: Array.from(p.dataSync()),
}));
await new Promise((resolve) => setTimeout(resolve, 200)); // a console.log at a cell's very end can be lost
""")
    result["stateError"] = err
    state = [t for t in "\n".join(texts).splitlines() if t.startswith("STATE ")]
    result["state"] = json.loads(state[0][len("STATE "):]) if state else None

    # A new kernel (as after a crash or on another day): the same cells resume from the checkpoint.
    km.restart_kernel(now=True)
    kc.wait_for_ready(timeout=120)
    _, err = run(setup)
    complete = len(result["state"]["epochs"]) if result["state"] else 0
    texts, err2 = run(f"""
const again = await fit(model, {{ x, y }}, {{ epochs: {complete + 2}, batchSize: 16, checkpoint: "kernel-test" }});
console.log("AGAIN " + JSON.stringify({{ epochs: again.epoch, resumedFrom: again.resumedFrom, loss: again.history.loss }}));
await new Promise((resolve) => setTimeout(resolve, 200)); // a console.log at a cell's very end can be lost
""")
    result["resumeError"] = err or err2
    result["resumeLines"] = [t for t in texts if t.startswith("Resuming")]
    again = [t for t in "\n".join(texts).splitlines() if t.startswith("AGAIN ")]
    result["resumed"] = json.loads(again[0][len("AGAIN "):]) if again else None
    result["checkpointsLeft"] = sorted(os.listdir(os.path.join(data_dir, "checkpoints", "quick")))

    # Outside fit, no listener: Interrupt ends the kernel process as before.
    kc.execute("await new Promise((resolve) => setTimeout(resolve, 20000));")
    time.sleep(1.0)
    km.interrupt_kernel()
    for _ in range(50):
        if not km.is_alive():
            break
        time.sleep(0.2)
    result["aliveAfterPlainInterrupt"] = km.is_alive()
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    import shutil

    shutil.rmtree(data_dir, ignore_errors=True)
print("RESULT " + json.dumps(result))

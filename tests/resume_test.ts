/**
 * Resumable training (Keras' BackupAndRestore): a training process is killed
 * (SIGKILL, mid-epoch) and started again; it resumes from its last complete
 * epoch, and on the cpu backend with fixed seeds it ends with exactly the
 * weights and history of a run that was never stopped.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";

const script = fromFileUrl(new URL("./fixtures/resumable_training.ts", import.meta.url));
const config = fromFileUrl(new URL("../deno.json", import.meta.url));

interface Result {
  history: { epoch: number[]; history: Record<string, number[]>; seconds: number[]; resumedFrom?: number };
  weights: number[][];
}

function start(dataDir: string, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", config, script, ...args],
    env: { CH5_DATA_DIR: dataDir, CH5_PROFILE: "quick" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function run(dataDir: string, args: string[]): Promise<{ lines: string[]; result: Result }> {
  const output = await start(dataDir, args).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.ok(output.success, `training failed: ${new TextDecoder().decode(output.stderr)}`);
  const lines = text.trim().split("\n");
  const last = lines.find((l) => l.startsWith("RESULT "));
  assert.ok(last, `no RESULT line in ${text}`);
  return { lines, result: JSON.parse(last.slice("RESULT ".length)) };
}

/** Run until the child prints `paused` (epoch 4, step 3), then kill it hard; returns what it printed. */
async function runAndKill(dataDir: string): Promise<string[]> {
  const child = start(dataDir, ["6", "4:3"]);
  const lines: string[] = [];
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    buffer += decoder.decode(chunk, { stream: true });
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    lines.push(...parts);
    if (lines.includes("paused")) break;
  }
  child.kill("SIGKILL");
  const status = await child.status;
  await child.stderr.cancel();
  assert.equal(status.signal, "SIGKILL");
  return lines;
}

Deno.test("a training killed mid-epoch resumes from its last complete epoch and ends as an uninterrupted run", async () => {
  const killedDir = await Deno.makeTempDir({ prefix: "ch5-resume-" });
  const cleanDir = await Deno.makeTempDir({ prefix: "ch5-resume-clean-" });
  try {
    const before = await runAndKill(killedDir);
    assert.deepEqual(before, ["epoch 1 done", "epoch 2 done", "epoch 3 done", "paused"]);

    const resumed = await run(killedDir, ["6"]);
    // Epochs 1–3 come from the checkpoint; the killed epoch 4 runs again from its start.
    assert.deepEqual(resumed.lines.filter((l) => l.startsWith("epoch")), [
      "epoch 4 done",
      "epoch 5 done",
      "epoch 6 done",
    ]);
    assert.equal(resumed.result.history.resumedFrom, 3);
    assert.deepEqual(resumed.result.history.epoch, [0, 1, 2, 3, 4, 5]);

    const clean = await run(cleanDir, ["6"]);
    assert.equal(clean.result.history.resumedFrom, undefined);
    // Same data order (the dataset's random state was restored), same optimizer state: the same numbers, exactly.
    assert.deepEqual(resumed.result.history.history, clean.result.history.history);
    assert.deepEqual(resumed.result.weights, clean.result.weights);

    // A finished training removes its checkpoint (as Keras' BackupAndRestore): running it again starts over.
    const checkpoints = `${killedDir}/checkpoints/quick`;
    assert.deepEqual([...Deno.readDirSync(checkpoints)], []);
    const again = await run(killedDir, ["6"]);
    assert.equal(again.result.history.resumedFrom, undefined);
    assert.equal(again.lines.filter((l) => l.startsWith("epoch")).length, 6);
    assert.deepEqual(again.result.weights, clean.result.weights);
  } finally {
    await Deno.remove(killedDir, { recursive: true });
    await Deno.remove(cleanDir, { recursive: true });
  }
});

Deno.test("resuming with the real picture iterator (augmentation, shuffles, prefetch) gives an uninterrupted run's weights", async () => {
  const tf = await import("@tensorflow/tfjs");
  const sharp = (await import("sharp")).default;
  const { initBackend } = await import("@ch5/engine");
  const { imageDataGenerator } = await import("../lib/preprocessing/image_data_generator.ts");
  const { fit } = await import("../lib/training/fit.ts");
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir({ prefix: "ch5-resume-pictures-" });
  const previous = Deno.env.get("CH5_DATA_DIR");
  Deno.env.set("CH5_DATA_DIR", dir);
  try {
    for (const [label, tint] of [["cats", 40], ["dogs", 200]] as const) {
      await Deno.mkdir(`${dir}/pictures/${label}`, { recursive: true });
      for (let i = 0; i < 10; i++) {
        const pixels = Uint8Array.from({ length: 20 * 20 * 3 }, (_, k) => (tint + k * (i + 3)) % 256);
        await sharp(pixels, { raw: { width: 20, height: 20, channels: 3 } }).png()
          .toFile(`${dir}/pictures/${label}/${label}.${i}.png`);
      }
    }
    const iterator = () =>
      imageDataGenerator({ rescale: 1 / 255, rotationRange: 30, zoomRange: 0.2, horizontalFlip: true, seed: 5 })
        .flowFromDirectory(`${dir}/pictures`, {
          targetSize: [16, 16],
          batchSize: 6,
          classMode: "binary",
          seed: 9,
          log: () => {},
        });
    const model = () => {
      const init = (seed: number) => tf.initializers.glorotUniform({ seed });
      const m = tf.sequential({
        layers: [
          tf.layers.conv2d({
            filters: 4,
            kernelSize: 3,
            activation: "relu",
            inputShape: [16, 16, 3],
            kernelInitializer: init(1),
          }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 1, activation: "sigmoid", kernelInitializer: init(2) }),
        ],
      });
      m.compile({ optimizer: tf.train.rmsprop(0.01), loss: "binaryCrossentropy", metrics: ["accuracy"] });
      return m;
    };
    // 20 pictures, batches of 6: 4 steps a pass, so epochs of 3 steps cut passes at different places.
    const options = { stepsPerEpoch: 3, verbose: 0 as const };

    const straight = model();
    await fit(straight, await iterator(), { ...options, epochs: 4 });

    const first = model();
    const { requestInterrupt } = await import("../lib/notebook/interrupt.ts");
    // Cut short in epoch 3, after its first step (Interrupt pressed as its batch is read, with a batch prefetched):
    // the checkpoint holds epochs 1–2.
    const it = await iterator();
    const pressing = {
      toDataset: () => {
        const dataset = it.toDataset();
        let read = 0;
        const mapped = dataset.map((batch) => (++read === 2 * 3 + 1 && requestInterrupt(), batch));
        return Object.assign(mapped, { getState: () => dataset.getState(), setState: dataset.setState.bind(dataset) });
      },
    };
    const cut = await fit(first, pressing, { ...options, epochs: 4, checkpoint: "pictures" })
      .catch((e: { history: { epoch: number[] } }) => e.history);
    assert.deepEqual(cut.epoch, [0, 1]);
    const second = model(); // a new kernel: fresh model and iterator, restored from the checkpoint
    const resumed = await fit(second, await iterator(), { ...options, epochs: 4, checkpoint: "pictures" });
    assert.equal(resumed.resumedFrom, 2);

    const a = straight.getWeights().map((w) => Array.from(w.dataSync()));
    const b = second.getWeights().map((w) => Array.from(w.dataSync()));
    assert.deepEqual(b, a);
  } finally {
    if (previous === undefined) Deno.env.delete("CH5_DATA_DIR");
    else Deno.env.set("CH5_DATA_DIR", previous);
    await Deno.remove(dir, { recursive: true });
  }
});

import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { initBackend } from "@ch5/engine";
import { CheckpointError, DataError } from "../lib/io/errors.ts";
import { bytesRecord } from "../lib/io/integrity.ts";
import { requestInterrupt } from "../lib/notebook/interrupt.ts";
import { imageDataGenerator } from "../lib/preprocessing/image_data_generator.ts";
import { checkpointPath, loadCheckpoint, saveCheckpoint } from "../lib/training/checkpoint.ts";
import { fit, TrainingInterrupted } from "../lib/training/fit.ts";
import { withTempDataDir } from "./env_helpers.ts";

await initBackend({ backend: "cpu" });

const STATE = { epochsDone: 1, epochs: 3, history: { epoch: [0], history: { loss: [0.5] }, seconds: [1] } };

/** Two dense layers of the same shape, the first frozen unless said otherwise; compiled with RMSprop. */
function net(frozen = 0, seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 4, inputShape: [4], kernelInitializer: init(seed) }),
      tf.layers.dense({ units: 4, kernelInitializer: init(seed + 1) }),
      tf.layers.dense({ units: 1, kernelInitializer: init(seed + 2) }),
    ],
  });
  model.layers[frozen].trainable = false;
  model.compile({ optimizer: tf.train.rmsprop(0.01), loss: "meanSquaredError" });
  return model;
}

async function trained(frozen = 0): Promise<tf.LayersModel> {
  const model = net(frozen);
  await model.fit(tf.ones([8, 4]), tf.ones([8, 1]), { epochs: 1, verbose: 0 });
  return model;
}

const values = (model: tf.LayersModel) => model.getWeights().map((w) => Array.from(w.dataSync()));

const inDataDir = (fn: (dir: string) => Promise<void>) => withTempDataDir("ch5-ckpt-", fn);

/** The checkpoint's header line, changed by `edit`, with a fresh integrity record (as a careful forger would write it). */
async function forge(path: string, edit: (header: Record<string, unknown>) => unknown): Promise<void> {
  const bytes = await Deno.readFile(path);
  const first = bytes.indexOf(10), second = bytes.indexOf(10, first + 1), third = bytes.indexOf(10, second + 1);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(second + 1, third)));
  const json = new TextEncoder().encode(JSON.stringify(edit(header)) + "\n");
  const rest = new Uint8Array([...json, ...bytes.subarray(third + 1)]);
  const head = new TextEncoder().encode(`CH5CKPT2\n${JSON.stringify(bytesRecord(rest))}\n`);
  await Deno.writeFile(path, new Uint8Array([...head, ...rest]));
}

Deno.test("checkpoint: weights and RMSprop state round-trip exactly through tf.io.encodeWeights", async () => {
  await inDataDir(async () => {
    const model = await trained();
    const path = await saveCheckpoint("round", model, STATE);
    const again = net(0, 7);
    const state = await loadCheckpoint("round", again);
    assert.equal(state?.path, path);
    assert.deepEqual(state?.history, STATE.history);
    assert.deepEqual(values(again), values(model));
    const slots = async (m: tf.LayersModel) =>
      (await m.optimizer.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())]);
    assert.deepEqual(await slots(again), await slots(model));
  });
});

Deno.test("checkpoint: one flipped bit, a cut file or a forged header is a CheckpointError naming the file; nothing is applied", async () => {
  await inDataDir(async () => {
    const path = await saveCheckpoint("damaged", await trained(), STATE);
    const good = await Deno.readFile(path);
    const fresh = net(0, 9);
    const before = values(fresh);
    const refused = async (why: RegExp) => {
      await assert.rejects(loadCheckpoint("damaged", fresh), (err: Error) => {
        assert.ok(err instanceof CheckpointError, String(err));
        assert.ok(err.message.startsWith(`${path} is not a readable checkpoint`), err.message);
        assert.match(err.message, why);
        assert.match(err.message, /delete it to train from scratch/);
        return true;
      });
      assert.deepEqual(values(fresh), before, "no weight changed");
    };
    // A bit of the last tensor's bytes (a kernel value), then the file cut short.
    const flipped = good.slice();
    flipped[flipped.length - 3] ^= 0x40;
    await Deno.writeFile(path, flipped);
    await refused(/damaged: other content: SHA-256/);
    await Deno.writeFile(path, good.subarray(0, good.length - 100));
    await refused(/damaged: \d+ bytes, expected \d+/);
    // Headers that pass the hash but describe what the file cannot hold.
    await Deno.writeFile(path, good);
    await forge(
      path,
      (h) => ({ ...h, specs: [{ ...(h.specs as object[])[0], shape: [3, 1] }, ...(h.specs as object[]).slice(1)] }),
    );
    await refused(/its header describes \d+ bytes of tensors, the file holds \d+/);
    await Deno.writeFile(path, good);
    await forge(path, () => null);
    await refused(/its header is not a checkpoint header/);
    await Deno.writeFile(path, good);
    await forge(path, (h) => ({ ...h, specs: "nope" }));
    await refused(/its header lists other tensors than it holds/);
    await Deno.writeFile(path, new TextEncoder().encode("CH5CKPT1\n\u0010\0\0\0{}"));
    await refused(/written by an older version/);
  });
});

Deno.test("checkpoint: resuming with another layer frozen (same shapes) is refused, naming the layer", async () => {
  await inDataDir(async () => {
    await saveCheckpoint("frozen", await trained(0), STATE);
    const other = net(1);
    await assert.rejects(loadCheckpoint("frozen", other), (err: Error) => {
      assert.ok(err instanceof CheckpointError, String(err));
      assert.match(
        err.message,
        new RegExp(`with layer "${other.layers[0].name}" \\(Dense\\) frozen, and it is trainable now`),
      );
      assert.match(err.message, /Freeze the same layers as when it was written/);
      return true;
    });
    assert.ok(await loadCheckpoint("frozen", net(0)), "the same layers frozen: resumed");
  });
});

Deno.test("checkpoint: a full disk, or a file where the checkpoints folder goes, is a CheckpointError naming the path and the fix", async () => {
  await inDataDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "checkpoints"), "a file in the way");
    await assert.rejects(saveCheckpoint("blocked", await trained(), STATE), (err: Error) => {
      assert.ok(err instanceof CheckpointError, String(err));
      assert.ok(err.message.startsWith(`cannot write checkpoint ${checkpointPath("blocked")}: `), err.message);
      assert.match(err.message, /a part of this path is a file, not a folder/);
      assert.match(err.message, /set CH5_DATA_DIR to another folder/);
      return true;
    });
    await Deno.remove(join(dir, "checkpoints"));
    const folder = join(dir, "checkpoints");
    await Deno.mkdir(folder);
    const mount = (...args: string[]) =>
      new Deno.Command("mount", { args, stdout: "null", stderr: "null" }).output().then((o) => o.success, () => false);
    if (!(await mount("-t", "tmpfs", "-o", "size=16k", "tmpfs", folder))) return; // needs root and Linux
    try {
      const big = tf.sequential({ layers: [tf.layers.dense({ units: 64, inputShape: [64] })] });
      big.compile({ optimizer: "sgd", loss: "meanSquaredError" });
      await assert.rejects(saveCheckpoint("full", big, STATE), (err: Error) => {
        assert.ok(err instanceof CheckpointError, String(err));
        assert.match(err.message, /no space left on the disk holding/);
        return true;
      });
      const left = [...Deno.readDirSync(join(folder, "quick"))].map((e) => e.name);
      assert.deepEqual(left, [], "no temporary file left on the full disk");
    } finally {
      await new Deno.Command("umount", { args: [folder] }).output();
    }
  });
});

Deno.test("checkpoint: what a writer killed mid-write left (.name.ckpt.tmp-<pid>-…) is removed at the next write", async () => {
  await inDataDir(async () => {
    const path = checkpointPath("killed");
    const folder = join(path, "..");
    await Deno.mkdir(folder, { recursive: true });
    const child = new Deno.Command("true").spawn();
    await child.status;
    const stale = join(folder, `.killed.ckpt.tmp-${child.pid}-0badf00d`);
    const live = join(folder, `.other.ckpt.tmp-${Deno.pid}-12345678`);
    await Deno.writeFile(stale, new Uint8Array(1000));
    await Deno.writeFile(live, new Uint8Array(10));
    await saveCheckpoint("killed", await trained(), STATE);
    assert.deepEqual(
      [...Deno.readDirSync(folder)].map((e) => e.name).sort(),
      [".other.ckpt.tmp-" + Deno.pid + "-12345678", "killed.ckpt"].sort(),
    );
    await Deno.remove(live);
  });
});

Deno.test("checkpoint: resuming with another batch size is refused, naming both sizes", async () => {
  await inDataDir(async (dir) => {
    for (const label of ["cats", "dogs"]) {
      await Deno.mkdir(join(dir, "pictures", label), { recursive: true });
      for (let i = 0; i < 6; i++) {
        await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 40 * i, g: 9, b: 9 } } }).png()
          .toFile(join(dir, "pictures", label, `${i}.png`));
      }
    }
    const flow = (batchSize: number) =>
      imageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory(join(dir, "pictures"), {
        targetSize: [8, 8],
        batchSize,
        classMode: "binary",
        seed: 3,
        log: () => {},
      });
    /** A model whose training step number `pressAt` (1-based) presses Interrupt. */
    const model = (pressAt = 0) => {
      const m = tf.sequential({
        layers: [tf.layers.flatten({ inputShape: [8, 8, 3] }), tf.layers.dense({ units: 1 })],
      });
      let step = 0;
      const loss = (yTrue: tf.Tensor, yPred: tf.Tensor) => {
        if (++step === pressAt) requestInterrupt();
        return tf.losses.meanSquaredError(yTrue, yPred);
      };
      m.compile({ optimizer: "sgd", loss });
      return m;
    };
    const options = { epochs: 3, stepsPerEpoch: 2, verbose: 0 as const, checkpoint: "batches" };
    // Step 3 is the first of the second epoch: the checkpoint holds the first.
    const cut = await fit(model(3), await flow(4), options).then(
      () => assert.fail("the training was not interrupted"),
      (err) => err,
    );
    assert.ok(cut instanceof TrainingInterrupted, String(cut));
    assert.deepEqual(cut.history.epoch, [0]);
    for (const size of [2, 8]) {
      await assert.rejects(fit(model(), await flow(size), options), (err: Error) => {
        assert.ok(err instanceof DataError, String(err));
        assert.match(
          err.message,
          new RegExp(`saved by an iterator with batchSize 4.*this iterator has batchSize ${size}`),
        );
        return true;
      });
    }
    assert.equal((await fit(model(), await flow(4), options)).resumedFrom, 1);
  });
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { evaluate, fit } from "../lib/training/fit.ts";
import { checkpointPath, deleteCheckpoint } from "../lib/training/checkpoint.ts";
import { CheckpointError } from "../lib/io/errors.ts";
import { interruptListening, requestInterrupt } from "../lib/notebook/interrupt.ts";
import { initBackend } from "@ch5/engine";

await initBackend({ backend: "cpu" });

function model() {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2], activation: "sigmoid" })] });
  m.compile({ optimizer: tf.train.sgd(0.5), loss: "binaryCrossentropy", metrics: ["accuracy"] });
  return m;
}

function data(n: number) {
  const x = tf.randomUniform([n, 2], -1, 1, "float32", 1);
  const y = x.sum(1, true).greater(0).toFloat();
  return { x, y };
}

Deno.test("fit on tensors returns a Keras-shaped History and learns", async () => {
  const m = model();
  const { x, y } = data(256);
  const history = await fit(m, { x, y }, { epochs: 5, batchSize: 32, validationSplit: 0.25, verbose: 0 });
  assert.deepEqual(history.epoch, [0, 1, 2, 3, 4]);
  assert.deepEqual(Object.keys(history.history).sort(), ["acc", "loss", "val_acc", "val_loss"]);
  assert.equal(history.seconds.length, 5);
  assert.ok(history.history.loss[4] < history.history.loss[0]);
  const scores = await evaluate(m, { x, y });
  assert.deepEqual(Object.keys(scores), ["loss", "acc"]);
  assert.ok(scores.acc > 0.85, `accuracy ${scores.acc}`);
  tf.dispose([x, y]);
});

Deno.test("fit on an endless dataset needs stepsPerEpoch, and validates with validationSteps", async () => {
  const m = model();
  const { x, y } = data(64);
  const batches = tf.data.zip({ xs: tf.data.array(x.unstack()), ys: tf.data.array(y.unstack()) }).batch(16).repeat();
  await assert.rejects(fit(m, batches, { epochs: 1 }), /stepsPerEpoch/);
  await assert.rejects(fit(m, batches, { epochs: 1, stepsPerEpoch: 4, validationData: batches }), /validationSteps/);
  const before = tf.memory().numTensors;
  const history = await fit(m, batches, {
    epochs: 2,
    stepsPerEpoch: 4,
    validationData: batches,
    validationSteps: 2,
    verbose: 0,
  });
  assert.deepEqual(Object.keys(history.history).sort(), ["acc", "loss", "val_acc", "val_loss"]);
  const scores = await evaluate(m, batches, { steps: 4 });
  assert.ok(Number.isFinite(scores.loss));
  await assert.rejects(evaluate(m, batches), /steps/);
  // Tensor count does not grow with the epochs (beyond the optimizer's slots made in epoch 1).
  const after = tf.memory().numTensors;
  await fit(m, batches, { epochs: 2, stepsPerEpoch: 4, verbose: 0 });
  assert.equal(tf.memory().numTensors, after);
  assert.ok(after - before < 20);
  tf.dispose([x, y]);
});

Deno.test("fit stops after the last epoch that ends before `until`, and says so", async () => {
  const { x, y } = data(64);
  const past = new Date(Date.now() - 1000);
  const stopped = await fit(model(), { x, y }, { epochs: 5, batchSize: 32, until: past, verbose: 0 });
  assert.deepEqual(stopped.epoch, [0]);
  assert.match(stopped.stopped ?? "", /^stopped after 1 of 5 epochs: one more would end after /);
  const later = new Date(Date.now() + 3_600_000);
  const full = await fit(model(), { x, y }, { epochs: 3, batchSize: 32, until: later, verbose: 0 });
  assert.deepEqual(full.epoch, [0, 1, 2]);
  assert.equal(full.stopped, undefined);
  // Training again after a stop runs its epochs (tfjs resets stopTraining).
  const m = model();
  await fit(m, { x, y }, { epochs: 3, batchSize: 32, until: past, verbose: 0 });
  assert.equal((await fit(m, { x, y }, { epochs: 2, batchSize: 32, verbose: 0 })).epoch.length, 2);
  tf.dispose([x, y]);
});

// The real SIGINT in a real kernel: tests/kernel_interrupt_test.ts (`deno test` itself ends on SIGINT).
Deno.test("Interrupt stops fit after the current step; the History keeps the complete epochs", async () => {
  const m = model();
  const { x, y } = data(128);
  let seen = 0;
  const history = await fit(m, { x, y }, {
    epochs: 10,
    batchSize: 16,
    verbose: 0,
    callbacks: {
      onBatchBegin: () => {
        seen++;
        // Press Interrupt during epoch 3, step 5 (of 8).
        if (seen === 2 * 8 + 5) assert.equal(requestInterrupt(), true);
      },
    },
  });
  // Outside fit, Interrupt is not caught any more (it ends the process as before).
  assert.equal(interruptListening(), false);
  assert.equal(requestInterrupt(), false);
  assert.deepEqual(history.interrupted, { epoch: 3, step: 5, steps: 8 });
  assert.deepEqual(history.epoch, [0, 1]);
  assert.equal(history.history.loss.length, 2);
  assert.equal(history.seconds.length, 2);
  assert.equal(seen, 21, "no step after the interrupted one");
  // The model keeps its weights and predicts.
  const prediction = m.predict(x.slice(0, 2)) as tf.Tensor;
  assert.deepEqual(prediction.shape, [2, 1]);
  assert.ok(Array.from(prediction.dataSync()).every(Number.isFinite));
  // Training again works as usual.
  assert.equal((await fit(m, { x, y }, { epochs: 1, batchSize: 16, verbose: 0 })).interrupted, undefined);
  tf.dispose([x, y]);
});

Deno.test("checkpoint: fit resumes after its complete epochs, removes it when done, refuses another model's", async () => {
  const dir = await Deno.makeTempDir();
  Deno.env.set("CH5_DATA_DIR", dir);
  try {
    const { x, y } = data(64);
    const first = model();
    const straight = model();
    straight.setWeights(first.getWeights().map((w) => w.clone()));
    // Cut the first run short during epoch 3: the checkpoint holds epochs 1–2.
    const cut = await fit(first, { x, y }, {
      epochs: 3,
      batchSize: 32,
      shuffle: false,
      verbose: 0,
      checkpoint: "fit-test",
      callbacks: { onEpochBegin: (epoch) => void (epoch === 2 && requestInterrupt()) },
    });
    assert.deepEqual(cut.interrupted, { epoch: 3, step: 1, steps: 2 });
    assert.ok(checkpointPath("fit-test").startsWith(dir));
    assert.ok((await Deno.stat(checkpointPath("fit-test"))).isFile);
    const second = model();
    const resumed = await fit(second, { x, y }, {
      epochs: 3,
      batchSize: 32,
      shuffle: false,
      verbose: 0,
      checkpoint: "fit-test",
    });
    assert.equal(resumed.resumedFrom, 2);
    assert.deepEqual(resumed.epoch, [0, 1, 2]);
    // Done: the checkpoint is gone, as with Keras' BackupAndRestore.
    await assert.rejects(Deno.stat(checkpointPath("fit-test")), Deno.errors.NotFound);
    // Resumed from epoch 2 = trained 3 epochs straight from the same start (plain SGD, no shuffle).
    await fit(straight, { x, y }, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0 });
    for (const [a, b] of second.getWeights().map((w, i) => [w, straight.getWeights()[i]])) {
      assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
    }

    // Another model's checkpoint is refused.
    await fit(first, { x, y }, {
      epochs: 2,
      batchSize: 32,
      verbose: 0,
      checkpoint: "fit-test",
      callbacks: { onEpochBegin: (epoch) => void (epoch === 1 && requestInterrupt()) },
    });
    const other = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [2] })] });
    other.compile({ optimizer: "sgd", loss: "meanSquaredError" });
    await assert.rejects(
      fit(other, { x, y: tf.zeros([64, 3]) }, { epochs: 1, verbose: 0, checkpoint: "fit-test" }),
      (err: Error) =>
        err instanceof CheckpointError && /written for another model/.test(err.message) &&
        err.message.includes(checkpointPath("fit-test")) && /deleteCheckpoint\("fit-test"\)/.test(err.message),
    );
    await Deno.writeFile(checkpointPath("fit-test"), new Uint8Array([1, 2, 3]));
    await assert.rejects(
      fit(model(), { x, y }, { epochs: 1, verbose: 0, checkpoint: "fit-test" }),
      /not a readable checkpoint/,
    );
    assert.equal(await deleteCheckpoint("fit-test"), true);
    assert.equal(await deleteCheckpoint("fit-test"), false);
    assert.throws(() => checkpointPath("../escape"), /not usable as a file name/);
    tf.dispose([x, y]);
  } finally {
    Deno.env.delete("CH5_DATA_DIR");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fit and evaluate take an iterator with toDataset(), as Keras' fit_generator takes a generator", async () => {
  const m = model();
  const { x, y } = data(64);
  const source = {
    calls: 0,
    toDataset() {
      this.calls++;
      return tf.data.zip({ xs: tf.data.array(x.unstack()), ys: tf.data.array(y.unstack()) }).batch(16).repeat();
    },
  };
  const history = await fit(m, source, {
    epochs: 2,
    stepsPerEpoch: 4,
    validationData: source,
    validationSteps: 2,
    verbose: 0,
  });
  assert.deepEqual(Object.keys(history.history).sort(), ["acc", "loss", "val_acc", "val_loss"]);
  assert.ok(Number.isFinite((await evaluate(m, source, { steps: 2 })).loss));
  assert.equal(source.calls, 3);
  tf.dispose([x, y]);
});

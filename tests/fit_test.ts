import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { evaluate, fit, type History, TrainingInterrupted } from "../lib/training/fit.ts";
import { checkpointPath, deleteCheckpoint } from "../lib/training/checkpoint.ts";
import { CheckpointError } from "../lib/io/errors.ts";
import { interruptListening, KeyboardInterrupt, requestInterrupt } from "../lib/notebook/interrupt.ts";
import { initBackend } from "@ch5/engine";

await initBackend({ backend: "cpu" });

/** A small model; `pressAt` presses Interrupt during its training step number `pressAt` (1-based, over all epochs). */
function model(pressAt = 0) {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2], activation: "sigmoid" })] });
  let step = 0;
  // The loss runs once per training step (and per validation step): the one place a step can press Interrupt.
  const loss = (yTrue: tf.Tensor, yPred: tf.Tensor) => {
    if (++step === pressAt) assert.equal(requestInterrupt(), true);
    return tf.metrics.binaryCrossentropy(yTrue, yPred).mean();
  };
  m.compile({ optimizer: tf.train.sgd(0.5), loss, metrics: ["accuracy"] });
  return m;
}

/** A dataset source of 16-row batches that presses Interrupt when batch number `pressAt` (1-based) is read. */
function pressing({ x, y }: { x: tf.Tensor; y: tf.Tensor }, pressAt: number) {
  return {
    toDataset: () => {
      let read = 0;
      return tf.data.zip({ xs: tf.data.array(x.unstack()), ys: tf.data.array(y.unstack()) }).batch(16).repeat()
        .map((batch) => {
          if (++read === pressAt) requestInterrupt();
          return batch;
        });
    },
  };
}

function data(n: number) {
  const x = tf.randomUniform([n, 2], -1, 1, "float32", 1);
  const y = x.sum(1, true).greater(0).toFloat();
  return { x, y };
}

Deno.test("fit on tensors returns a Keras-shaped History and learns", async () => {
  const m = model();
  const { x, y } = data(256);
  const history = await fit(m, { x: x.slice(64), y: y.slice(64) }, {
    epochs: 5,
    batchSize: 32,
    validationData: { x: x.slice(0, 64), y: y.slice(0, 64) },
    verbose: 0,
  });
  assert.equal(m.history as unknown, history, "model.history, as in Keras");
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
Deno.test("Interrupt stops fit within a step: KeyboardInterrupt, History of the complete epochs, weights kept", async () => {
  const { x, y } = data(128);
  // Press Interrupt during epoch 3, step 5 (of 8).
  const m = model(2 * 8 + 5);
  const error = await fit(m, { x, y }, { epochs: 10, batchSize: 16, verbose: 0 }).catch((e) => e);
  assert.ok(error instanceof TrainingInterrupted && error instanceof KeyboardInterrupt, String(error));
  assert.equal(error.name, "KeyboardInterrupt");
  assert.equal(error.message, "Interrupted at epoch 3/10, step 5/8");
  // Outside fit, Interrupt is not caught any more (it ends the process as before).
  assert.equal(interruptListening(), false);
  assert.equal(requestInterrupt(), false);
  const history: History = error.history;
  assert.equal(m.history as unknown, history, "the same History is model.history");
  assert.deepEqual(history.interrupted, { epoch: 3, step: 5, steps: 8 });
  assert.deepEqual(history.epoch, [0, 1]);
  assert.equal(history.history.loss.length, 2);
  assert.equal(history.seconds.length, 2);
  // The model keeps its weights and predicts; training again works as usual.
  const prediction = m.predict(x.slice(0, 2)) as tf.Tensor;
  assert.deepEqual(prediction.shape, [2, 1]);
  assert.ok(Array.from(prediction.dataSync()).every(Number.isFinite));
  assert.equal((await fit(m, { x, y }, { epochs: 1, batchSize: 16, verbose: 0 })).interrupted, undefined);
  tf.dispose([x, y]);
});

Deno.test("Interrupt in an iterator's last epoch, in validation and at an epoch's end: each stops and says where", async () => {
  const { x, y } = data(64);
  const options = { epochs: 3, stepsPerEpoch: 4, verbose: 0 as const };
  const stop = (source: ReturnType<typeof pressing>, more = {}) =>
    fit(model(), source, { ...options, ...more }).then(
      () => assert.fail("not interrupted"),
      (e: TrainingInterrupted) => e,
    );
  // The last epoch, step 2 of 4: never silently ignored.
  const last = await stop(pressing({ x, y }, 2 * 4 + 2));
  assert.equal(last.message, "Interrupted at epoch 3/3, step 2/4");
  assert.deepEqual(last.history.epoch, [0, 1]);
  // The last training step of epoch 1, with no validation: epoch 1 is complete, at its end.
  const end = await stop(pressing({ x, y }, 4));
  assert.equal(end.message, "Interrupted at the end of epoch 1/3");
  assert.deepEqual(end.history.epoch, [0]);
  // During epoch 2's validation (its 2nd batch of 3): the epoch is not complete.
  const validation = await stop(pressing({ x, y }, 99), {
    validationData: pressing({ x, y }, 3 + 2),
    validationSteps: 3,
  });
  assert.equal(validation.message, "Interrupted at epoch 2/3, validation step 2/3");
  assert.deepEqual(validation.history.epoch, [0]);
  assert.deepEqual(validation.history.interrupted, { epoch: 2, step: 4, steps: 4, validation: { step: 2, steps: 3 } });
  // evaluate() too.
  await assert.rejects(
    evaluate(model(), pressing({ x, y }, 2), { steps: 4 }),
    (e: Error) => e instanceof KeyboardInterrupt && e.message === "Interrupted after step 2/4 of evaluate()",
  );
  tf.dispose([x, y]);
});

Deno.test("checkpoint: fit resumes after its complete epochs, removes it when done, refuses another model's", async () => {
  const dir = await Deno.makeTempDir();
  Deno.env.set("CH5_DATA_DIR", dir);
  try {
    const { x, y } = data(64);
    const first = model(2 * 2 + 1);
    const straight = model();
    straight.setWeights(first.getWeights().map((w) => w.clone()));
    // Cut the first run short during epoch 3, step 1: the checkpoint holds epochs 1–2.
    const options = { epochs: 3, batchSize: 32, shuffle: false, verbose: 0 as const, checkpoint: "fit-test" };
    const cut = await fit(first, { x, y }, options).catch((e: TrainingInterrupted) => e.history);
    assert.deepEqual(cut.interrupted, { epoch: 3, step: 1, steps: 2 });
    assert.ok(checkpointPath("fit-test").startsWith(dir));
    assert.ok((await Deno.stat(checkpointPath("fit-test"))).isFile);
    const second = model();
    const resumed = await fit(second, { x, y }, options);
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
    await assert.rejects(fit(model(2 + 1), { x, y }, { ...options, epochs: 2 }), TrainingInterrupted);
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

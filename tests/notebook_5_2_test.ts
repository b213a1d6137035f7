import assert from "node:assert/strict";
import { join } from "node:path";
import { pictureSizes, runNotebook } from "./notebook_helpers.ts";
import { dataPath } from "../lib/io/profile.ts";
import { BOOK } from "../lib/data/book.ts";
import { deleteCheckpoint } from "../lib/training/checkpoint.ts";

const NOTEBOOK = "5.2-training-convnet-from-scratch.ipynb";

Deno.test({
  name:
    "notebook 5.2 executes headlessly: the split, the book's convnet, two trainings cut short by CH5_TRAIN_UNTIL, results beside the book",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    // Train from scratch (a checkpoint left by an interrupted earlier run would be resumed), and stop each training
    // after its first epoch, as a learner does with CH5_TRAIN_UNTIL: the next test resumes them.
    for (const name of ["5.2-model1", "5.2-model2"]) await deleteCheckpoint(name);
    const nb = await runNotebook(NOTEBOOK, { CH5_TRAIN_UNTIL: new Date(started).toISOString() });
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    for (const cell of nb.cells) assert.equal(cell.results, 0, `a stray Out[n] under ${cell.source.slice(0, 80)}`);
    assert.match(nb.cells[0].text, /^backend: [\w-]+ \(/m);
    assert.match(nb.cells[0].text, /^profile: quick$/m);

    // What the reader is shown: the counts, the generators, one batch, the summary, the augmented pictures.
    for (const [subset, n] of [["train", 1000], ["validation", 500], ["test", 500]] as const) {
      for (const label of ["cat", "dog"]) {
        assert.match(nb.text, new RegExp(`^total ${subset} ${label} images: ${n}$`, "m"));
      }
    }
    assert.match(nb.text, /Found 2000 images belonging to 2 classes\./);
    assert.match(nb.text, /Found 1000 images belonging to 2 classes\./);
    assert.match(nb.text, /Total params: 3,453,121/);
    assert.match(nb.text, /\(None, 7, 7, 128\)/);
    assert.match(nb.text, /^data batch shape: \[ 20, 150, 150, 3 \]$/m);
    assert.match(nb.text, /^labels batch shape: \[ 20(, 1)? \]$/m);
    const sizes = await pictureSizes(nb.path);
    const augCell = nb.cells.findIndex((c) => c.source.includes("datagen.randomTransform"));
    assert.deepEqual(sizes[augCell].map((p) => p.width), [4 * 150 + 3 * 4], "4 augmented variants in a row");
    assert.ok(nb.count("application/vnd.plotly.v1+json") >= 4, "accuracy and loss figures for both runs");

    // Both models saved where 5.4 loads them.
    for (const name of ["cats_and_dogs_small_1", "cats_and_dogs_small_2"]) {
      for (const file of ["model.json", "weights.bin", `${name}.h5`]) {
        const stat = await Deno.stat(dataPath("models", name, file));
        assert.ok(stat.isFile && stat.mtime!.getTime() >= started - 1000, `${name}/${file} written by this run`);
      }
    }

    // The results file this run wrote: the first of the quick profile's 2 epochs, and why it stopped.
    const results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.2.json")));
    assert.ok(Date.parse(results.savedAt) >= started - 1000, "written by this run");
    assert.equal(results.profile, "quick");
    assert.deepEqual(results.split, {
      train: { cats: 1000, dogs: 1000 },
      validation: { cats: 500, dogs: 500 },
      test: {
        cats: 500,
        dogs: 500,
      },
    });
    assert.equal(results.testPictures, 100);
    for (const key of ["model1", "model2"] as const) {
      const run = results[key];
      assert.equal(run.epochs, 1, `${key}: stopped after 1 of the quick profile's 2 epochs`);
      assert.match(run.stopped, /^stopped after 1 of 2 epochs/);
      for (const metric of ["loss", "acc", "val_loss", "val_acc"]) assert.equal(run.history[metric].length, 1);
      assert.equal(run.secondsPerEpoch.length, 1);
      assert.ok(!run.resumedFrom, `${key} trained from scratch`);
      assert.ok(run.testAcc >= 0 && run.testAcc <= 1, `${key}: test accuracy ${run.testAcc}`);
      assert.ok(run.valAcc >= 0 && run.valAcc <= 1);
      assert.equal(run.bestValLossEpoch, 1);
      // The reader sees this run's validation accuracy beside the book's.
      const book = BOOK["5.2"].numbers[`${key}.valAcc`];
      assert.ok(book);
      assert.match(nb.text, new RegExp(`検証精度\\(最後の5エポックの平均\\)\\s+${run.valAcc.toFixed(2)}\\s+≈`));
      // And one sentence computed from the history.
      assert.match(
        nb.text,
        new RegExp(`この実行 \\(1 エポック\\): 訓練精度は最後のエポックで ${run.trainAcc.toFixed(3)}`),
      );
    }
    console.log(
      `notebook 5.2 (quick) ran in ${((Date.now() - started) / 1000).toFixed(0)} s; ` +
        `test_acc ${results.model1.testAcc.toFixed(3)} / ${results.model2.testAcc.toFixed(3)}; ` +
        `executed copy: ${join("build", "notebooks", NOTEBOOK)}`,
    );
  },
});

Deno.test({
  name: "notebook 5.2 resumes: run again, both trainings continue from their checkpoints to the last epoch",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const first = JSON.parse(await Deno.readTextFile(dataPath("results", "5.2.json")));
    try {
      const nb = await runNotebook(NOTEBOOK);
      for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
      for (const cell of nb.cells) assert.equal(cell.results, 0, `a stray Out[n] under ${cell.source.slice(0, 80)}`);
      assert.match(nb.text, /^Resuming "5\.2-model1" from its checkpoint: 1 epoch done/m);
      assert.match(nb.text, /^Resuming "5\.2-model2" from its checkpoint: 1 epoch done/m);
      assert.match(nb.text, /^Epoch 2\/2 /m);
      assert.doesNotMatch(nb.text, /^Epoch 1\/2 /m, "the first epochs are not trained again");
    } finally {
      // A finished training removes its checkpoint; a failed run must not leave one for the next run either.
      for (const name of ["5.2-model1", "5.2-model2"]) await deleteCheckpoint(name);
    }
    const again = JSON.parse(await Deno.readTextFile(dataPath("results", "5.2.json")));
    for (const key of ["model1", "model2"] as const) {
      assert.equal(again[key].resumedFrom, 1, `${key}: the first epoch restored`);
      assert.equal(again[key].epochs, 2, `${key}: both epochs in the history`);
      assert.equal(again[key].stopped, undefined);
      for (const metric of ["loss", "acc", "val_loss", "val_acc"]) {
        assert.equal(again[key].history[metric].length, 2);
        assert.equal(again[key].history[metric][0], first[key].history[metric][0], `${key}: epoch 1 kept as it was`);
      }
    }
  },
});

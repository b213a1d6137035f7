import assert from "node:assert/strict";
import { join } from "node:path";
import { pictureSizes, runNotebook } from "./notebook_helpers.ts";
import { dataPath } from "../lib/io/profile.ts";

const NOTEBOOK = "5.2-training-convnet-from-scratch.ipynb";

Deno.test({
  name: "notebook 5.2 executes headlessly: the split, 3,453,121 params, batches, two trainings, curves, test accuracy",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    const nb = await runNotebook(NOTEBOOK);
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    assert.match(nb.cells[0].text, /^backend: (node-gpu|node|webgpu|wasm|cpu) \(/m);
    assert.match(nb.cells[0].text, /^profile: quick$/m);

    // The split: 1000/1000, 500/500, 500/500.
    assert.match(nb.text, /^train\s+1000\s+1000$/m);
    assert.match(nb.text, /^validation\s+500\s+500$/m);
    assert.match(nb.text, /^test\s+500\s+500$/m);
    assert.match(nb.text, /Found 2000 images belonging to 2 classes\./);
    assert.match(nb.text, /Found 1000 images belonging to 2 classes\./);
    assert.match(nb.text, /class indices: \{ cats: 0, dogs: 1 \}/);

    // The model (listing 5.5) and the four preprocessing steps.
    assert.match(nb.text, /Total params: 3,453,121/);
    assert.match(nb.text, /\(None, 7, 7, 128\)/);
    assert.match(nb.text, /3\. tensor: shape \[150,150,3\], float32, values 0–255/);
    assert.match(nb.text, /4\. rescaled: values 0\.000–1\.000/);

    // One batch: its shapes and a grid of 8 labelled pictures; the augmentation grid (original + 4 variants).
    assert.match(nb.text, /data batch shape: \(20, 150, 150, 3\)/);
    assert.match(nb.text, /labels batch shape: \(20, 1\)/);
    const sizes = (await pictureSizes(nb.path)).map((cell) => cell.map((p) => [p.width, p.height]));
    const batchCell = nb.cells.findIndex((c) => c.text.includes("data batch shape"));
    assert.equal(sizes[batchCell].length, 1, "the batch grid");
    assert.equal(sizes[batchCell][0][0], 4 * 150 + 3 * 4, "4 pictures of 150 px a row");
    assert.match(nb.cells[batchCell].text, /the first 8 pictures of the batch: ((cat|dog)(, )?){8}/);
    const augCell = nb.cells.findIndex((c) => c.source.includes("datagen.randomTransform"));
    assert.equal(sizes[augCell].length, 1, "the augmentation grid");
    assert.equal(sizes[augCell][0][0], 5 * 150 + 4 * 4, "the original and 4 augmented variants");

    // Two trainings: a progress line for each epoch, with validation metrics.
    const trainings = nb.cells.filter((c) => /^profile quick: \d+ epochs/m.test(c.text));
    assert.equal(trainings.length, 2, "the plain and the augmented training");
    for (const cell of trainings) {
      const epochs = Number(cell.text.match(/^profile quick: (\d+) epochs/m)![1]);
      for (let e = 1; e <= epochs; e++) {
        assert.match(
          cell.text,
          new RegExp(
            `^Epoch ${e}/${epochs} +\\d+/\\d+ \\[=+\\] - .* - acc: [\\d.]+ - val_loss: [\\d.]+ - val_acc: [\\d.]+`,
            "m",
          ),
        );
      }
      assert.match(cell.text, /s\/epoch, [\d.]+ s\/step .*would take about [\d.]+ h here/);
    }
    assert.ok(nb.count("application/vnd.plotly.v1+json") >= 4, "accuracy and loss figures for both runs");
    assert.match(
      nb.text,
      /saved .*cats_and_dogs_small_1: model\.json, weights\.bin \(13\.8 MB\), cats_and_dogs_small_1\.h5/,
    );
    assert.match(
      nb.text,
      /saved .*cats_and_dogs_small_2: model\.json, weights\.bin \(13\.8 MB\), cats_and_dogs_small_2\.h5/,
    );
    for (const name of ["cats_and_dogs_small_1", "cats_and_dogs_small_2"]) {
      for (const file of ["model.json", "weights.bin", `${name}.h5`]) {
        assert.ok((await Deno.stat(dataPath("models", name, file))).isFile, `${name}/${file}`);
      }
    }

    // Test accuracy of both models.
    const testAcc = (name: string) => {
      const m = nb.text.match(new RegExp(`${name} test_loss: [\\d.]+ test_acc: ([\\d.]+)`));
      assert.ok(m, `${name}: test accuracy printed`);
      const acc = Number(m[1]);
      assert.ok(acc >= 0 && acc <= 1, `${name}: test accuracy ${acc} in [0, 1]`);
      return acc;
    };
    const acc1 = testAcc("cats_and_dogs_small_1"), acc2 = testAcc("cats_and_dogs_small_2");

    // The results file of this run.
    const results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.2.json")));
    assert.equal(results.profile, "quick");
    assert.ok(Date.parse(results.savedAt) >= started - 1000, "written by this run");
    assert.match(results.backend, /^backend: /);
    for (const [key, acc] of [["model1", acc1], ["model2", acc2]] as const) {
      const run = results[key];
      assert.equal(run.history.acc.length, run.epochs);
      assert.equal(run.history.val_acc.length, run.epochs);
      assert.equal(run.secondsPerEpoch.length, run.epochs);
      assert.equal(run.epochsRun, run.epochs);
      assert.equal(run.stopped, undefined, "no CH5_TRAIN_UNTIL here");
      assert.equal(run.testAcc.toFixed(4), acc.toFixed(4));
    }
    // Both models' validation accuracy compared at the same epoch and over their last five epochs.
    const [val1, val2] = [results.model1.history.val_acc, results.model2.history.val_acc];
    const common = Math.min(val1.length, val2.length);
    assert.match(
      nb.text,
      new RegExp(
        `^val_acc at epoch ${common}: ${val1[common - 1].toFixed(4)} \\(plain\\) vs ${
          val2[common - 1].toFixed(4)
        } \\(augmentation \\+ dropout\\); mean of the last five epochs: `,
        "m",
      ),
    );
    assert.equal(results.book.model2.valAcc, 0.82);
    assert.equal(results.data.counts.train.cats, 1000);
    console.log(
      `notebook 5.2 (quick) ran in ${((Date.now() - started) / 1000).toFixed(0)} s; ` +
        `test_acc ${acc1.toFixed(3)} / ${acc2.toFixed(3)}; executed copy: ${join("build", "notebooks", NOTEBOOK)}`,
    );
  },
});

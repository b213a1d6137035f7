/**
 * Notebook 5.3 runs headlessly in the quick profile: once on random VGG16
 * weights (`CH5_ALLOW_RANDOM_WEIGHTS=1`: features, three trainings, the test
 * accuracy), and once as on a fresh offline machine (no weights, nothing
 * allowed): one notice, the cells that need the weights say "skipped", and the
 * notebook still ends with its results. Assertions read the results file, the
 * figures and the lines a reader is meant to read.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runNotebook } from "./notebook_helpers.ts";
import { dataPath } from "../lib/io/profile.ts";
import { VGG16_WEIGHTS, weightsDir } from "../lib/models/imagenet_weights.ts";
import { skipsIn } from "../lib/notebook/skip.ts";
import { deleteCheckpoint } from "../lib/training/checkpoint.ts";

const NOTEBOOK = "5.3-using-a-pretrained-convnet.ipynb";

const hasImagenet = await Deno.stat(join(weightsDir(), VGG16_WEIGHTS.notop.file)).then(() => true, () => false);

// deno-lint-ignore no-explicit-any -- the results JSON the notebook wrote
async function readResults(since: number): Promise<Record<string, any>> {
  const results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.3.json")));
  assert.ok(Date.parse(results.savedAt) >= since - 1000, "data/results/5.3.json written by this run");
  assert.equal(results.profile, "quick");
  return results;
}

Deno.test({
  name: "notebook 5.3 without the ImageNet weights: one notice, the cells that need them skipped, runs to the end",
  ignore: hasImagenet,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    const nb = await runNotebook(NOTEBOOK, { CH5_ALLOW_RANDOM_WEIGHTS: "" });
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    for (const cell of nb.cells) assert.equal(cell.results, 0, `a stray Out[n] under ${cell.source.slice(0, 80)}`);
    const skips = skipsIn(JSON.parse(await Deno.readTextFile(nb.path)));
    assert.equal(skips.length, 1, "one notice");
    assert.equal(skips[0].reason, "download");
    const { file, md5 } = VGG16_WEIGHTS.notop;
    assert.ok(skips[0].message.includes(join(weightsDir(), file)), "the exact path");
    assert.ok(skips[0].message.includes(`md5 ${md5}`) && skips[0].message.includes(`/${file}`), "URL and md5");
    assert.ok(skips[0].message.includes("CH5_ALLOW_RANDOM_WEIGHTS=1"), "how to run on random weights");
    const skipped = nb.cells.filter((c) => /^skipped: this cell needs the VGG16 ImageNet weights/m.test(c.text));
    assert.equal(skipped.length, 5, "features, classifier, end-to-end training, fine-tuning, test");
    // What needs no weights still runs: the summaries and Keras' counts of trainable weights.
    assert.match(nb.text, /Total params: 16,812,353/);
    assert.match(nb.text, /before freezing the conv base: 30\b[\s\S]*after freezing the conv base: 4\b/);
    assert.match(nb.text, /trainable weights for fine-tuning: 10\b/);
    const results = await readResults(started);
    assert.equal(results.weights, "missing");
    assert.equal(results.fineTuning.testAcc, undefined);
  },
});

Deno.test({
  name: "notebook 5.3 on random weights (quick): (N, 8192) features, 30 → 4 → 10 trainable weights, curves, results",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A fresh run: a checkpoint of an earlier run would resume, find every epoch done and train nothing.
    for (const part of ["augmentation", "fine-tuning"]) {
      for (const weights of ["random", "imagenet"]) await deleteCheckpoint(`5.3-${part}-${weights}`);
    }
    const started = Date.now();
    const nb = await runNotebook(NOTEBOOK, { CH5_ALLOW_RANDOM_WEIGHTS: "1" });
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    for (const cell of nb.cells) assert.equal(cell.results, 0, `a stray Out[n] under ${cell.source.slice(0, 80)}`);
    const results = await readResults(started);
    assert.equal(results.weights, hasImagenet ? "imagenet" : "random");

    // The book's summaries and counts.
    assert.match(nb.text, /Total params: 14,714,688/);
    assert.match(nb.text, /Total params: 16,812,353/);
    assert.match(nb.text, /^train_features \[ 40, 8192 \] train_labels \[ 40 \]$/m);
    assert.match(nb.text, /before freezing the conv base: 30\b[\s\S]*after freezing the conv base: 4\b/);
    assert.match(nb.text, /trainable weights for fine-tuning: 10\b/);

    // Three trainings as the results file records them, with the quick profile's epochs; the test accuracy printed.
    assert.deepEqual(results.featureExtraction.sampleCounts, { train: 40, validation: 20, test: 20 });
    assert.equal(results.featureExtraction.epochs, 10);
    assert.equal(results.featureExtraction.history.val_acc.length, 10);
    assert.equal(results.augmentation.epochs, 2);
    assert.equal(results.fineTuning.epochs, 2);
    assert.equal(results.augmentation.resumedFrom ?? 0, 0, "trained in this run, not restored");
    for (const part of ["featureExtraction", "augmentation", "fineTuning"]) {
      assert.ok(results[part].valAcc >= 0 && results[part].valAcc <= 1, `${part} val_acc`);
    }
    const printed = nb.text.match(/^test acc: ([\d.]+)$/m);
    assert.ok(printed, "test acc printed");
    assert.equal(Number(printed[1]), results.fineTuning.testAcc);

    // Curves: accuracy and loss of feature extraction, augmentation, fine-tuning raw and smoothed (listing 5.24),
    // and the live curves of the two long trainings in their final state.
    assert.equal(nb.count("application/vnd.plotly.v1+json"), 12, "(4 plots + 2 live) × (accuracy, loss)");
    // What each training showed, in a sentence under its curves (a cell's last line can still be lost by the kernel
    // under heavy load, see requests.md: so at least one of the three).
    assert.ok(nb.cells.some((c) => /^この実行 \(\d+ エポック\): 訓練精度は/m.test(c.text)), "what this run shows");
    const smoothed = nb.cells.find((c) => c.source.includes("smoothCurve(v)"))!;
    assert.equal(smoothed.mimeTypes.filter((m) => m.includes("application/vnd.plotly.v1+json")).length, 2);
  },
});

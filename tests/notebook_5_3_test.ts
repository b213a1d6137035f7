import assert from "node:assert/strict";
import { join } from "node:path";
import { runNotebook } from "./notebook_helpers.ts";
import { dataPath } from "../lib/io/profile.ts";
import { VGG16_WEIGHTS, weightsDir } from "../lib/models/imagenet_weights.ts";

Deno.test({
  name: "notebook 5.3 executes headlessly (quick): VGG16 summaries, features (N, 4, 4, 512), 30 → 4 trainable " +
    "weights, curves, test accuracy, results",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const hasImagenet = await Deno.stat(join(weightsDir(), VGG16_WEIGHTS.notop.file)).then(() => true, () => false);
    const started = new Date();

    const nb = await runNotebook("5.3-using-a-pretrained-convnet.ipynb", { CH5_ALLOW_RANDOM_WEIGHTS: "1" });
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    assert.match(nb.cells[0].text, /^backend: (node-gpu|node|webgpu|wasm|cpu) \(/m);

    // The weights: without the ImageNet file (CI), a visible warning that the numbers mean nothing.
    if (!hasImagenet) {
      assert.match(nb.text, /WARNING: VGG16 has RANDOM weights .* every feature and accuracy below is meaningless/);
      assert.match(nb.text, /CH5_ALLOW_RANDOM_WEIGHTS is set, so the model keeps RANDOM weights/);
    } else {
      assert.match(nb.text, /weights: ImageNet \(/);
    }

    // The conv base and the end-to-end model, as the book's summaries.
    assert.match(nb.text, /Total params: 14,714,688/);
    assert.match(nb.text, /block5_pool \(MaxPooling2D\)\s+\(None, 4, 4, 512\)/);
    assert.match(nb.text, /Total params: 16,812,353/);

    // Fast feature extraction: (N, 4, 4, 512) per subset, with the speed measured.
    for (const subset of ["train", "validation", "test"]) {
      assert.match(nb.text, new RegExp(`${subset}_features \\(\\d+, 4, 4, 512\\), ${subset}_labels \\(\\d+\\)`));
    }
    assert.match(nb.text, /train_features \(\d+, 8192\)/);
    assert.match(nb.text, /feature extraction: [\d.]+ images\/s on \w+/);

    // Freezing: Keras' counts of trainable weight tensors.
    assert.match(nb.text, /trainable weights before freezing: 30\b/);
    assert.match(nb.text, /trainable weights after freezing: 4\b/);
    assert.match(nb.text, /trainable weights for fine-tuning: 10\b/);

    // Curves: accuracy and loss for each of the three trainings (plotly figures).
    assert.ok(nb.count("application/vnd.plotly.v1+json") >= 6, "6 figures");
    assert.match(nb.text, /Smoothed training acc/);

    const acc = nb.text.match(/^test acc: ([\d.]+)/m);
    assert.ok(acc, "test accuracy printed");
    assert.ok(Number(acc[1]) >= 0 && Number(acc[1]) <= 1);

    const results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.3.json")));
    assert.ok(new Date(results.savedAt) >= started, "data/results/5.3.json written by this run");
    assert.equal(results.profile, "quick");
    assert.equal(results.weights, hasImagenet ? "imagenet" : "random");
    assert.match(results.backend, /^backend: /);
    assert.ok(results.featureExtraction.imagesPerSecond > 0);
    assert.ok(results.featureExtraction.history.val_acc.length > 0);
    assert.equal(results.augmentation.history.acc.length, results.augmentation.epochs);
    assert.equal(results.fineTuning.history.acc.length, results.fineTuning.epochs);
    assert.equal(results.fineTuning.testAcc.toFixed(4), acc[1]);
    assert.deepEqual(results.book, {
      featureExtraction: { valAcc: 0.903 },
      augmentation: { valAcc: 0.951, bestValAcc: 0.979 },
      fineTuning: { testAcc: 0.968 },
    });
  },
});

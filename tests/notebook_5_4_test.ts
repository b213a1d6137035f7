/**
 * Notebook 5.4 runs headlessly in the quick profile: once on random VGG16
 * weights (`CH5_ALLOW_RANDOM_WEIGHTS=1`, every cell does its work), and once
 * as on a fresh offline machine (no weights, nothing allowed): one notice per
 * missing file, the VGG16 cells say "skipped", and the notebook still ends
 * with its results. Assertions read the results file and the pictures shown.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pictureSizes, runNotebook } from "./notebook_helpers.ts";
import { dataPath } from "../lib/io/profile.ts";
import { VGG16_WEIGHTS, weightsDir } from "../lib/models/imagenet_weights.ts";
import { skipsIn } from "../lib/notebook/skip.ts";

const NOTEBOOK = "5.4-visualizing-what-convnets-learn.ipynb";

const SHAPES: Record<string, number[]> = {
  conv2d_1: [1, 148, 148, 32],
  max_pooling2d_1: [1, 74, 74, 32],
  conv2d_2: [1, 72, 72, 64],
  max_pooling2d_2: [1, 36, 36, 64],
  conv2d_3: [1, 34, 34, 128],
  max_pooling2d_3: [1, 17, 17, 128],
  conv2d_4: [1, 15, 15, 128],
  max_pooling2d_4: [1, 7, 7, 128],
};

const hasImagenet = async () =>
  (await Promise.all(
    [VGG16_WEIGHTS.top, VGG16_WEIGHTS.notop].map((w) =>
      Deno.stat(join(weightsDir(), w.file)).then(() => true, () => false)
    ),
  )).every(Boolean);

// deno-lint-ignore no-explicit-any -- the results JSON the notebook wrote
async function readResults(since: number): Promise<Record<string, any>> {
  const results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.4.json")));
  assert.ok(Date.parse(results.savedAt) >= since - 1000, "data/results/5.4.json written by this run");
  assert.equal(results.profile, "quick");
  return results;
}

Deno.test({
  name: "notebook 5.4 without the ImageNet weights: one notice per file, VGG16 cells skipped, runs to the end",
  ignore: await hasImagenet(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    const nb = await runNotebook(NOTEBOOK, { CH5_ALLOW_RANDOM_WEIGHTS: "" });
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    for (const cell of nb.cells) assert.equal(cell.results, 0, `a stray Out[n] under ${cell.source.slice(0, 80)}`);
    const doc = JSON.parse(await Deno.readTextFile(nb.path));
    const skips = skipsIn(doc);
    assert.deepEqual(skips.map((s) => s.reason), ["download", "download"], "notop (filters) and top (Grad-CAM)");
    for (const [skip, file] of [[skips[0], VGG16_WEIGHTS.notop], [skips[1], VGG16_WEIGHTS.top]] as const) {
      assert.ok(skip.message.includes(join(weightsDir(), file.file)), "the exact path");
      assert.ok(skip.message.includes(`md5 ${file.md5}`) && skip.message.includes(`/${file.file}`), "URL and md5");
      assert.ok(skip.message.includes("CH5_ALLOW_RANDOM_WEIGHTS=1"), "how to run on random weights");
    }
    const skipped = nb.cells.filter((c) => /^skipped: this cell needs the VGG16 ImageNet weights/m.test(c.text));
    assert.equal(skipped.length, 6, "gradient ascent, pattern, grid, predictions, heatmap, overlay");
    const results = await readResults(started);
    assert.deepEqual(results.activationShapes, SHAPES, "the part on the 5.2 convnet runs");
    assert.deepEqual(results.weights, { filters: "missing", gradCam: "missing" });
    assert.equal(results.elephant, undefined);
    assert.equal(results.catDog.length, 2);
  },
});

Deno.test({
  name: "notebook 5.4 on random weights (quick): activations, filter patterns, the 547×547 grid, Grad-CAM, results",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    const nb = await runNotebook(NOTEBOOK, { CH5_ALLOW_RANDOM_WEIGHTS: "1" });
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    for (const cell of nb.cells) assert.equal(cell.results, 0, `a stray Out[n] under ${cell.source.slice(0, 80)}`);
    const sizes = await pictureSizes(nb.path);
    const cellOf = (sourcePart: string) => {
      const i = nb.cells.findIndex((c) => c.source.includes(sourcePart));
      assert.ok(i >= 0, `a cell with ${sourcePart}`);
      return i;
    };
    const shown = (sourcePart: string) => sizes[cellOf(sourcePart)].map((s) => [s.mime, s.width, s.height]);

    const results = await readResults(started);
    assert.match(results.model, /^model: (cats_and_dogs_small_2, trained by notebook 5\.2|STAND-IN for)/);
    assert.deepEqual(results.activationShapes, SHAPES, "the book's shapes of the first 8 layers");
    const imagenet = await hasImagenet();
    assert.deepEqual(
      results.weights,
      imagenet ? { filters: "imagenet", gradCam: "imagenet" } : {
        filters: "random",
        gradCam: "random",
      },
    );
    assert.ok(Number.isInteger(results.elephant.classIndex) && results.elephant.classIndex < 1000);
    assert.ok(results.elephant.probability > 0 && results.elephant.probability < 1);
    if (imagenet) assert.equal(results.elephant.classIndex, 386, "the book's African elephant");
    assert.deepEqual(results.elephant.heatmapShape, [14, 14]);
    assert.deepEqual(results.gridLayers, ["block1_conv1"]);
    assert.deepEqual(results.catDog.map((c: { heatmap: number[] }) => c.heatmap), [[15, 15], [15, 15]]);

    // The pictures a reader sees: the test cat at 2×, channels 4 and 7, one viridis grid per layer (16 channels a row),
    // the 150 px pattern at 2×, the book's 547×547 filter grid, the 14×14 heatmap, the three overlays.
    assert.deepEqual(shown("imshow(imgTensor"), [["image/png", 300, 300]]);
    assert.deepEqual(shown("firstLayerActivation.slice([0, 0, 0, 4]"), [["image/png", 296, 296]]);
    const grids = sizes[cellOf("imagesPerRow = 16")];
    assert.deepEqual(grids.map((s) => s.width), Object.values(SHAPES).map((s) => 16 * s[2]));
    assert.deepEqual(shown(`generatePattern(convBase, "block3_conv1", 0)`), [["image/png", 300, 300]]);
    assert.deepEqual(shown("filterGrid(convBase, name)"), [["image/png", 547, 547]]);
    assert.deepEqual(shown("africanElephantOutput = "), [["image/png", 224, 224]]);
    assert.deepEqual(shown("async function superimpose"), [["image/jpeg", 525, 351]]);
    assert.deepEqual(shown("const catDog = []").map((s) => s[0]), ["image/jpeg", "image/jpeg"]);
    for (const name of ["elephant_cam.jpg", "cat_cam.jpg", "my_picture_cam.jpg"]) {
      const stat = await Deno.stat(dataPath("results", name));
      assert.ok(stat.isFile && stat.mtime!.getTime() >= started - 1000, `${name} written by this run`);
    }
  },
});

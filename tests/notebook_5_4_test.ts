import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { pictureSizes, runNotebook } from "./notebook_helpers.ts";
import { dataPath } from "../lib/io/profile.ts";

const NOTEBOOK = "5.4-visualizing-what-convnets-learn.ipynb";

Deno.test({
  name: "notebook 5.4 executes headlessly: activation shapes and grids, filter patterns, Grad-CAM overlays, results",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const started = Date.now();
    const nb = await runNotebook(NOTEBOOK, { CH5_ALLOW_RANDOM_WEIGHTS: "1" });
    for (const cell of nb.cells) assert.deepEqual(cell.errors, [], cell.source.slice(0, 80));
    assert.match(nb.cells[0].text, /^backend: (node-gpu|node|webgpu|wasm|cpu) \(/m);
    assert.match(nb.cells[0].text, /^profile: quick$/m);
    const sizes = await pictureSizes(nb.path);
    const cellOf = (sourcePart: string) => {
      const i = nb.cells.findIndex((c) => c.source.includes(sourcePart));
      assert.ok(i >= 0, `a cell with ${sourcePart}`);
      return i;
    };

    // The 5.2 model (or a stand-in, said so) and the picture as a (1, 150, 150, 3) tensor, shown.
    assert.match(nb.text, /^model: (cats_and_dogs_small_2, trained by notebook 5\.2|stand-in: )/m);
    assert.match(nb.text, /Total params: 3,453,121/);
    const pictureCell = cellOf("cat.1700.jpg");
    assert.match(nb.cells[pictureCell].text, /^\(1, 150, 150, 3\)$/m);
    assert.deepEqual(sizes[pictureCell].map((s) => [s.width, s.height]), [[300, 300]]);

    // The activations of the first 8 layers: the book's shapes, channels 4 and 7, a grid per layer.
    const shapes = [
      ["conv2d_1", "1, 148, 148, 32"],
      ["max_pooling2d_1", "1, 74, 74, 32"],
      ["conv2d_2", "1, 72, 72, 64"],
      ["max_pooling2d_2", "1, 36, 36, 64"],
      ["conv2d_3", "1, 34, 34, 128"],
      ["max_pooling2d_3", "1, 17, 17, 128"],
      ["conv2d_4", "1, 15, 15, 128"],
      ["max_pooling2d_4", "1, 7, 7, 128"],
    ];
    for (const [layer, shape] of shapes) assert.match(nb.text, new RegExp(`^${layer} +\\(${shape}\\)$`, "m"));
    assert.equal(sizes[cellOf("channelPicture(firstLayerActivation, 4)")].length, 1, "channels 4 and 7");
    const grids = sizes[cellOf("activationGrid(")];
    assert.ok(grids.length >= 8, `${grids.length} activation grids`);
    assert.ok(grids.every((s) => s.mime === "image/png"));
    assert.equal(grids[0].width, 16 * 148 + 15, "16 channels of conv2d_1 a row, 1 px apart");

    // Filter patterns on VGG16 (random weights here, with the warning): one pattern, the block1_conv1 grid.
    assert.match(nb.text, /WARNING: VGG16 has RANDOM weights/);
    assert.match(nb.text, /block3_conv1 filter 0: mean activation [-\d.]+ → [-\d.]+ after 40 steps/);
    assert.deepEqual(sizes[cellOf("filterPattern(convBase")].map((s) => [s.width, s.height]), [[300, 300]]);
    const filterGrids = sizes[cellOf("filterGrid(")];
    assert.deepEqual(filterGrids.map((s) => [s.width, s.height]), [[547, 547]], "8×8 tiles of 64 px, 5 px margins");
    assert.match(nb.text, /^block1_conv1: 64 filter patterns in [\d.]+ s$/m);
    assert.match(nb.text, /quick profile: only block1_conv1/);

    // Grad-CAM with VGG16: top-3 predictions, the 14×14 heatmap, the overlay; then the cat and the dog.
    assert.match(nb.text, /^Predicted: (\(n\d{8}, \w+, [\d.]+\)(, )?){3}$/m);
    assert.match(nb.text, /^argmax: \d+/m);
    assert.match(nb.text, /^heatmap 14×14, score of class 386/m);
    assert.deepEqual(sizes[cellOf("heatmapPng(")].map((s) => [s.width, s.height]), [[224, 224]]);
    const elephant = sizes[cellOf("overlayHeatmap(elephantPath")];
    assert.deepEqual(elephant.map((s) => [s.mime, s.width, s.height]), [["image/jpeg", 525, 351]]);
    const catDog = sizes[cellOf(`layerName: "conv2d_4"`)];
    assert.equal(catDog.length, 2, "the cat and the dog overlays");
    assert.ok(catDog.every((s) => s.mime === "image/jpeg"));
    assert.match(nb.text, /^cats\/cat\.1700\.jpg: P\(cat\) = [\d.]+, heatmap 15×15/m);
    assert.match(nb.text, /^dogs\/dog\.1513\.jpg: P\(dog\) = [\d.]+, heatmap 15×15/m);
    assert.ok(nb.count("image/jpeg") >= 3, "elephant, cat and dog overlays");
    for (const name of ["elephant_cam.jpg", "cat_cam.jpg", "dog_cam.jpg"]) {
      const stat = await Deno.stat(dataPath("results", name));
      assert.ok(stat.isFile && stat.mtime!.getTime() >= started - 1000, `${name} written by this run`);
    }

    // The results file of this run.
    const results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.4.json")));
    assert.equal(results.profile, "quick");
    assert.ok(Date.parse(results.savedAt) >= started - 1000, "written by this run");
    assert.match(results.backend, /^backend: /);
    assert.deepEqual(results.activationShapes.conv2d_1, [1, 148, 148, 32]);
    assert.deepEqual(results.activationShapes.max_pooling2d_4, [1, 7, 7, 128]);
    assert.equal(results.filters.weights, "random");
    assert.deepEqual(results.filters.gridLayers, ["block1_conv1"]);
    assert.equal(results.gradCam.weights, "random");
    assert.equal(results.gradCam.predictions.length, 3);
    assert.deepEqual(results.gradCam.heatmapShape, [14, 14]);
    assert.equal(results.catDog.length, 2);
    assert.equal(results.book.argmax, 386);
    assert.ok(results.seconds.total > 0);
    console.log(
      `notebook 5.4 (quick) ran in ${((Date.now() - started) / 1000).toFixed(0)} s ` +
        `(cells ${results.seconds.total.toFixed(0)} s; filter pattern ${results.seconds.filterPattern.toFixed(0)} s, ` +
        `block1_conv1 grid ${results.filters.gridSeconds.block1_conv1.toFixed(0)} s); ` +
        `executed copy: ${join("build", "notebooks", basename(nb.path))}`,
    );
  },
});

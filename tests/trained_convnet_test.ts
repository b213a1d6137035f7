/**
 * Notebook 5.4 loads 5.2's convnet with one call that says how it was trained
 * (from 5.2's results file).
 */
import assert from "node:assert/strict";
import { initBackend } from "@ch5/engine";
import { smallConvnet } from "../lib/models/small_convnet.ts";
import { saveModel } from "../lib/models/save.ts";
import { loadTrainedConvnet } from "../lib/viz/trained_convnet.ts";
import { withTempDataDir } from "./env_helpers.ts";

await initBackend({ backend: "cpu" });

Deno.test("loadTrainedConvnet: 5.2's saved model, with the profile, epochs and test accuracy 5.2 recorded", async () => {
  await withTempDataDir("ch5-trained-", async (dir) => {
    await saveModel(smallConvnet({ dropout: true }), "cats_and_dogs_small_2");
    await Deno.mkdir(`${dir}/results`);
    const results = { profile: "full", savedAt: "2026-12-01T10:00:00Z", model2: { epochs: 6, testAcc: 0.8125 } };
    await Deno.writeTextFile(`${dir}/results/5.2.json`, JSON.stringify(results));
    const model = await loadTrainedConvnet("cats_and_dogs_small_2");
    assert.equal(model.trainedIn, "full");
    assert.match(model.provenance, /trained by notebook 5\.2 \(full profile, 6 epochs, test acc 0\.813/);
    assert.equal(model.countParams(), 3_453_121);
    await Deno.remove(`${dir}/results/5.2.json`);
    assert.equal((await loadTrainedConvnet("cats_and_dogs_small_2")).trainedIn, "unknown", "no results file");
  });
});

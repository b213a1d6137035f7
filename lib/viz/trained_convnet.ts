/**
 * The convnet of notebook 5.2 for notebook 5.4 (the book's
 * `load_model('cats_and_dogs_small_2.h5')`), with how it was trained.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { dataPath } from "../io/profile.ts";
import { print } from "../notebook/display.ts";
import { ensureCatsAndDogs } from "../data/cats_and_dogs.ts";
import { smallConvnet } from "../models/small_convnet.ts";
import { loadModel, modelPath } from "../models/save.ts";
import { ModelFileError } from "../io/errors.ts";
import { imageDataGenerator } from "../preprocessing/image_data_generator.ts";
import { fit } from "../training/fit.ts";

/** A loaded convnet that says how it was trained. */
export type TrainedConvnet = tf.LayersModel & {
  /** The profile notebook 5.2 ran in, `"unknown"` without its results file, or `"stand-in"`. */
  readonly trainedIn: "full" | "quick" | "unknown" | "stand-in";
  /** One line that says where the model comes from and how it was trained (also printed). */
  readonly provenance: string;
};

/** How 5.2 trained `name`, from its results file (5.2 records cats_and_dogs_small_N as `modelN`). */
async function howTrained(name: string): Promise<{ trainedIn: TrainedConvnet["trainedIn"]; detail: string }> {
  type Entry = { epochs?: unknown; testAcc?: unknown };
  let results: { profile?: unknown; savedAt?: unknown } & Record<string, Entry | undefined>;
  try {
    results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.2.json")));
  } catch {
    return { trainedIn: "unknown", detail: "how: unknown (no data/results/5.2.json)" };
  }
  const entry = results[`model${/^cats_and_dogs_small_(\d)$/.exec(name)?.[1]}`];
  const trainedIn = results.profile === "full" || results.profile === "quick" ? results.profile : "unknown";
  const parts = [`${trainedIn} profile`];
  if (typeof entry?.epochs === "number") parts.push(`${entry.epochs} epochs`);
  if (typeof entry?.testAcc === "number") parts.push(`test acc ${entry.testAcc.toFixed(3)}`);
  if (results.savedAt) parts.push(`run of ${results.savedAt}`);
  return { trainedIn, detail: parts.join(", ") };
}

/** The stand-in: listing 5.13's convnet, 2 epochs of 3 steps of 20 augmented pictures (seconds on a CPU). */
async function trainStandIn(): Promise<tf.LayersModel> {
  const model = smallConvnet({ dropout: true });
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy", metrics: ["acc"] });
  const shifts = { widthShiftRange: 0.2, heightShiftRange: 0.2, shearRange: 0.2, zoomRange: 0.2 }; // listing 5.14
  const augment = imageDataGenerator({ rescale: 1 / 255, rotationRange: 40, ...shifts, horizontalFlip: true });
  const { dir } = await ensureCatsAndDogs({ log: () => {} });
  const options = { targetSize: [150, 150], batchSize: 20, classMode: "binary", seed: 1 } as const;
  const train = await augment.flowFromDirectory(join(dir, "train"), options);
  await fit(model, train.toDataset(), { epochs: 2, stepsPerEpoch: 3 });
  return model;
}

/**
 * Load the model notebook 5.2 saved as `name` and print one line saying how
 * it was trained: in the full profile (the book's run) or the quick one (a
 * few steps), from `data/results/5.2.json`. When 5.2 has not saved it, print
 * that and train a stand-in on the spot, so that 5.4 still runs: a few steps
 * of listing 5.13's convnet, which has barely learned anything.
 *
 * @example
 * ```ts
 * import { loadTrainedConvnet } from "./trained_convnet.ts";
 * const model = await loadTrainedConvnet("cats_and_dogs_small_2");
 * console.log(model.trainedIn); // "full", "quick", "unknown" or "stand-in"
 * ```
 */
export async function loadTrainedConvnet(name: string): Promise<TrainedConvnet> {
  try {
    const model = await loadModel(name);
    const { trainedIn, detail } = await howTrained(name);
    const provenance = `model: ${name}, trained by notebook 5.2 (${detail}), from ${modelPath(name)}`;
    await print(provenance);
    return Object.assign(model, { trainedIn, provenance });
  } catch (err) {
    if (!(err instanceof ModelFileError && err.cause instanceof Deno.errors.NotFound)) throw err;
  }
  const provenance = `model: STAND-IN for ${name} (notebook 5.2 has not saved it at ${modelPath(name)}): ` +
    `the listing 5.13 convnet trained here for 2 epochs × 3 steps of 20 augmented pictures. ` +
    `It has barely learned anything; run notebook 5.2 first for the book's pictures.`;
  await print(provenance);
  return Object.assign(await trainStandIn(), { trainedIn: "stand-in" as const, provenance });
}

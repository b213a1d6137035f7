/**
 * The convnet of notebook 5.2 for notebook 5.4 (the book's
 * `load_model('cats_and_dogs_small_2.h5')`), with how it was trained: in the
 * full profile (the book's run), in the quick profile (a few steps), or, when
 * 5.2 has not been run here, a stand-in trained on the spot for a few steps
 * (same architecture with dropout), so that 5.4 still runs.
 *
 * @example
 * ```ts
 * import { loadTrainedConvnet } from "./trained_convnet.ts";
 * const model = await loadTrainedConvnet("cats_and_dogs_small_2");
 * console.log(model.trainedIn); // "full", "quick", "unknown" or "stand-in"
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { dataPath } from "../io/profile.ts";
import { print } from "../notebook/display.ts";
import { ensureCatsAndDogs } from "../data/cats_and_dogs.ts";
import { smallConvnet } from "../models/convnets.ts";
import { loadModel, modelPath } from "../models/save.ts";
import { ModelFileError } from "../io/errors.ts";
import { imageDataGenerator } from "../preprocessing/image_data_generator.ts";
import { fit } from "../training/fit.ts";

/** How the loaded convnet was trained. */
export type TrainedIn = "full" | "quick" | "unknown" | "stand-in";

/** A loaded convnet that says how it was trained. */
export type TrainedConvnet = tf.LayersModel & {
  /** The profile notebook 5.2 ran in, `"unknown"` without its results file, or `"stand-in"`. */
  readonly trainedIn: TrainedIn;
  /** One line that says where the model comes from and how it was trained (also printed). */
  readonly provenance: string;
};

/** The stand-in's training: 2 epochs of 3 steps of 20 augmented pictures (seconds on a CPU). */
export const STAND_IN = { epochs: 2, stepsPerEpoch: 3, batchSize: 20 } as const;

async function howTrained(name: string): Promise<{ trainedIn: TrainedIn; detail: string }> {
  let results: Record<string, any>;
  try {
    results = JSON.parse(await Deno.readTextFile(dataPath("results", "5.2.json")));
  } catch {
    return { trainedIn: "unknown", detail: "how: unknown (no data/results/5.2.json)" };
  }
  // 5.2 records cats_and_dogs_small_1 as `model1` and cats_and_dogs_small_2 as `model2`.
  const key = /^cats_and_dogs_small_(\d)$/.exec(name)?.[1];
  const entry: Record<string, any> | undefined = key ? results[`model${key}`] : undefined;
  const trainedIn: TrainedIn = results.profile === "full" || results.profile === "quick" ? results.profile : "unknown";
  const parts = [`${trainedIn} profile`];
  if (typeof entry?.epochs === "number") parts.push(`${entry.epochs} epochs`);
  if (typeof entry?.testAcc === "number") parts.push(`test acc ${entry.testAcc.toFixed(3)}`);
  if (results.savedAt) parts.push(`run of ${results.savedAt}`);
  return { trainedIn, detail: parts.join(", ") };
}

/**
 * Load the model notebook 5.2 saved as `name` and print one line saying how
 * it was trained (from `data/results/5.2.json`). When it is missing, print
 * that and train a stand-in instead: {@link STAND_IN} steps of the listing
 * 5.13 convnet on augmented pictures, which has barely learned anything.
 *
 * @example
 * ```ts
 * import { loadTrainedConvnet } from "./trained_convnet.ts";
 * const model = await loadTrainedConvnet("cats_and_dogs_small_2");
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
  const { epochs, stepsPerEpoch, batchSize } = STAND_IN;
  const provenance = `model: STAND-IN for ${name} (notebook 5.2 has not saved it at ${modelPath(name)}): ` +
    `the listing 5.13 convnet trained here for ${epochs} epochs × ${stepsPerEpoch} steps of ${batchSize} ` +
    `augmented pictures. It has barely learned anything; run notebook 5.2 first for the book's pictures.`;
  await print(provenance);
  const model = smallConvnet({ dropout: true });
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy", metrics: ["acc"] });
  const augment = imageDataGenerator({
    rescale: 1 / 255,
    rotationRange: 40,
    widthShiftRange: 0.2,
    heightShiftRange: 0.2,
    shearRange: 0.2,
    zoomRange: 0.2,
    horizontalFlip: true,
  });
  const { dir } = await ensureCatsAndDogs({ log: () => {} });
  const train = await augment.flowFromDirectory(join(dir, "train"), {
    targetSize: [150, 150],
    batchSize,
    classMode: "binary",
    seed: 1,
  });
  await fit(model, train.toDataset(), { epochs, stepsPerEpoch });
  return Object.assign(model, { trainedIn: "stand-in" as const, provenance });
}

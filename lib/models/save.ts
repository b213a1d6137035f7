/**
 * Save a trained model under `data/models/<name>/` and load it back, like
 * Keras' `model.save('cats_and_dogs_small_1.h5')` and
 * `keras.models.load_model(...)`.
 *
 * A saved model is one folder:
 *
 * - `model.json`: the TensorFlow.js layers format (`modelTopology` in Keras'
 *   JSON, `weightsManifest`, `trainingConfig` when the model was compiled);
 * - `weights.bin`: every weight as little-endian float32, in manifest order;
 * - `<name>.h5` (unless `h5: false`): the weights in Keras' `save_weights`
 *   layout, which Keras reads with `model.load_weights(...)` into the same
 *   architecture (see `keras_h5.ts`).
 *
 * The browser build of TensorFlow.js has no `file://` handler in Deno, so both
 * directions go through small custom IO handlers that read and write these
 * files. Saving is atomic: the folder is written next to its destination under
 * a temporary name and renamed into place, so an interrupted save never leaves
 * a half-written model, and a model saved again replaces the old one whole.
 *
 * @example
 * ```ts
 * import { loadModel, saveModel, smallConvnet } from "../mod.ts";
 * const model = smallConvnet();
 * const saved = await saveModel(model, "cats_and_dogs_small_1");
 * console.log(saved.dir); // …/data/models/cats_and_dogs_small_1
 * const again = await loadModel("cats_and_dogs_small_1");
 * again.countParams(); // 3453121
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { dataPath } from "../io/profile.ts";
import { statOrNull } from "../io/fs.ts";

/** The file that holds the topology and the weights manifest. */
export const MODEL_JSON = "model.json";
/** The file that holds the weights. */
export const WEIGHTS_BIN = "weights.bin";

/** Raised for a model that is not there, or a folder that is not a saved model. */
export class ModelNotFoundError extends Error {
  override name = "ModelNotFoundError";
}

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /** Also write Keras weights as `<name>.h5` in the folder (default true). */
  h5?: boolean;
  /** Also save the optimizer's state, so that training resumes where it stopped (default false: 3× the size for RMSprop). */
  includeOptimizer?: boolean;
}

/** Where {@link saveModel} put a model. */
export interface SavedModel {
  /** The model's folder. */
  dir: string;
  /** Its `model.json`. */
  modelJson: string;
  /** Its `weights.bin`. */
  weightsBin: string;
  /** Its Keras weights file, when written. */
  h5?: string;
  /** Bytes of `weights.bin`. */
  weightBytes: number;
}

/** The loss, metrics and optimizer settings of a compiled model (tfjs keeps its `getTrainingConfig` protected). */
function compiledConfig(model: tf.LayersModel): tf.io.TrainingConfig | undefined {
  if (!model.optimizer) return undefined;
  return (model as unknown as { getTrainingConfig(): tf.io.TrainingConfig }).getTrainingConfig();
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkName(name: string): void {
  if (!NAME.test(name) || name.includes("..")) {
    throw new RangeError(
      `model name ${JSON.stringify(name)} is not a plain folder name: use letters, digits, "_", "-" and "." ` +
        `(e.g. "cats_and_dogs_small_1"), or pass a path to loadModel.`,
    );
  }
}

/**
 * The folder a model called `name` is saved in: `data/models/<name>`
 * (under `CH5_DATA_DIR` when set).
 *
 * @example
 * ```ts
 * import { modelPath } from "./save.ts";
 * modelPath("cats_and_dogs_small_2"); // …/data/models/cats_and_dogs_small_2
 * ```
 * @throws {RangeError} for a name that is not a plain folder name.
 */
export function modelPath(name: string): string {
  checkName(name);
  return dataPath("models", name);
}

/**
 * Save `model` as `data/models/<name>/{model.json, weights.bin, <name>.h5}`,
 * replacing a model saved earlier under the same name.
 *
 * @example
 * ```ts
 * import { saveModel, smallConvnet } from "../mod.ts";
 * const { dir, h5 } = await saveModel(smallConvnet({ dropout: true }), "cats_and_dogs_small_2");
 * console.log(dir, h5);
 * ```
 * @throws {RangeError} for a name that is not a plain folder name.
 */
export async function saveModel(
  model: tf.LayersModel,
  name: string,
  options: SaveModelOptions = {},
): Promise<SavedModel> {
  const dir = modelPath(name);
  const parent = dirname(dir);
  await Deno.mkdir(parent, { recursive: true });
  const tag = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const tmp = join(parent, `.${name}.tmp-${tag}`);
  await Deno.mkdir(tmp);
  let weightBytes = 0;
  try {
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weights = artifacts.weightData === undefined
          ? new ArrayBuffer(0)
          : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
        weightBytes = weights.byteLength;
        const modelJson: tf.io.ModelJSON = {
          modelTopology: artifacts.modelTopology as object,
          format: artifacts.format ?? "layers-model",
          generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
          convertedBy: artifacts.convertedBy ?? null,
          weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        };
        // tfjs writes the training config only with the optimizer's state; Keras always keeps the compile settings.
        const trainingConfig = artifacts.trainingConfig ?? compiledConfig(model);
        if (trainingConfig) modelJson.trainingConfig = trainingConfig;
        if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
        await Deno.writeFile(join(tmp, WEIGHTS_BIN), new Uint8Array(weights));
        await Deno.writeTextFile(join(tmp, MODEL_JSON), JSON.stringify(modelJson));
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
      { includeOptimizer: options.includeOptimizer ?? false },
    );
    if (options.h5 ?? true) {
      const { saveWeightsToH5 } = await import("./keras_h5.ts");
      await saveWeightsToH5(model, join(tmp, `${name}.h5`));
    }
    // Swap in the new folder; an old one is moved aside first (a rename cannot replace a non-empty folder).
    const old = join(parent, `.${name}.old-${tag}`);
    const hadOld = await Deno.rename(dir, old).then(() => true, (err) => {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    });
    await Deno.rename(tmp, dir);
    if (hadOld) await Deno.remove(old, { recursive: true });
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    dir,
    modelJson: join(dir, MODEL_JSON),
    weightsBin: join(dir, WEIGHTS_BIN),
    h5: (options.h5 ?? true) ? join(dir, `${name}.h5`) : undefined,
    weightBytes,
  };
}

/** The `model.json` a name or path refers to. */
async function resolveModelJson(nameOrPath: string): Promise<string> {
  const looksLikePath = isAbsolute(nameOrPath) || /[\\/]/.test(nameOrPath) || nameOrPath.endsWith(".json");
  const where = looksLikePath ? resolve(nameOrPath) : modelPath(nameOrPath);
  const info = await statOrNull(where);
  const file = info?.isDirectory ? join(where, MODEL_JSON) : where;
  const found = await Deno.stat(file).then((i) => i.isFile, () => false);
  if (!found) {
    const what = looksLikePath ? `no saved model at ${where}` : `no model called "${nameOrPath}" at ${where}`;
    const hint = /cats_and_dogs_small_[12]$/.test(basename(where))
      ? "run notebook 5.2 (5.2-training-convnet-from-scratch.ipynb) first, or "
      : "";
    throw new ModelNotFoundError(
      `${what} (${MODEL_JSON} is missing): ${hint}save it with saveModel(model, "${basename(where)}"), ` +
        `or pass the path of a folder holding ${MODEL_JSON} and ${WEIGHTS_BIN}.`,
    );
  }
  return file;
}

/**
 * An IOHandler that reads a `model.json` written by {@link saveModel} (or by
 * tfjs' `file://` / `downloads://` savers, or the tfjs converter) and the
 * weight files its manifest names, from the local file system.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { fileHandler } from "./save.ts";
 * const model = await tf.loadLayersModel(fileHandler("data/models/cats_and_dogs_small_1/model.json"));
 * ```
 */
export function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await Deno.readTextFile(modelJsonPath));
      } catch (err) {
        throw new ModelNotFoundError(`cannot read ${modelJsonPath} as a tfjs model.json: ${(err as Error).message}`);
      }
      if (!json.modelTopology) {
        throw new ModelNotFoundError(`${modelJsonPath} has no modelTopology: it is not a tfjs layers model.`);
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const path of group.paths) {
            const file = join(dirname(modelJsonPath), path);
            const bytes = await Deno.readFile(file).catch((err) => {
              throw new ModelNotFoundError(
                `${modelJsonPath} names the weights file ${path}, which cannot be read (${(err as Error).message}): ` +
                  `save the model again.`,
              );
            });
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

/**
 * Load a model saved by {@link saveModel}: by name (`data/models/<name>`), or
 * by the path of its folder or `model.json`. A model saved after `compile`
 * comes back compiled with the same loss, metrics and optimizer settings.
 *
 * @example
 * ```ts
 * import { loadModel } from "./save.ts";
 * const model = await loadModel("cats_and_dogs_small_2");
 * model.summary();
 * ```
 * @throws {ModelNotFoundError} when there is no such model.
 */
export async function loadModel(nameOrPath: string): Promise<tf.LayersModel> {
  return await tf.loadLayersModel(fileHandler(await resolveModelJson(nameOrPath)));
}

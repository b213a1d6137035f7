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
 * - `manifest.json`: the size and SHA-256 of each of these files.
 *
 * Loading checks the files against the manifest (a truncated or changed
 * `weights.bin` is a {@link ModelDamagedError} naming the file, never a model
 * with wrong weights) and refuses weights that are NaN or infinite. A save
 * first removes the temporary folders that a killed save left behind.
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
import { createHash } from "node:crypto";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { dataPath } from "../io/profile.ts";
import { describeFsError, fileHash, isFsError, removeStaleTemps, statOrNull } from "../io/fs.ts";
import { stopQueuedCell } from "../notebook/display.ts";

/** The file that holds the topology and the weights manifest. */
const MODEL_JSON = "model.json";
/** The file that holds the weights. */
const WEIGHTS_BIN = "weights.bin";

/** The file that records the size and SHA-256 of every other file of a saved model. */
export const MANIFEST_JSON = "manifest.json";

/** Raised for a model that is not there, or a path that is not a saved model (e.g. a Keras `.h5` file). */
export class ModelNotFoundError extends Error {
  override name = "ModelNotFoundError";
}

/**
 * Raised for a saved model whose files are damaged: `model.json` that is not
 * JSON, a `weights.bin` of the wrong size or with another SHA-256 than its
 * manifest records, or weights that are NaN or infinite.
 */
export class ModelDamagedError extends Error {
  override name = "ModelDamagedError";
}

/** Raised when a model cannot be written: a read-only folder, a full disk, a file where a folder must be. */
export class ModelSaveError extends Error {
  override name = "ModelSaveError";
}

/** A file-system failure while saving as one sentence naming the folder; other errors as they are. */
function asSaveError(err: unknown, dir: string): unknown {
  if (!isFsError(err) && !/no space left|read-only file system/i.test(String(err))) return err;
  return new ModelSaveError(`cannot save the model at ${dir}: ${describeFsError(err, dir)} Nothing was replaced.`);
}

/** What `manifest.json` holds. */
interface Manifest {
  format: "ch5-saved-model-manifest-1";
  files: Record<string, { size: number; sha256: string }>;
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
 * @throws {ModelSaveError} when the folder cannot be written (read-only, disk full); a model saved before stays.
 */
export async function saveModel(
  model: tf.LayersModel,
  name: string,
  options: SaveModelOptions = {},
): Promise<SavedModel> {
  stopQueuedCell(); // Run All stopped at an interrupted training: never save its half-trained model over a finished one
  const dir = modelPath(name);
  const parent = dirname(dir);
  await Deno.mkdir(parent, { recursive: true }).catch((err) => {
    throw asSaveError(err, parent);
  });
  // Folders left by a save that was killed (its process is gone) are removed first.
  for (const kind of ["tmp", "old"]) await removeStaleTemps(parent, `.${name}.${kind}-`);
  const tag = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const tmp = join(parent, `.${name}.tmp-${tag}`);
  let weightBytes = 0;
  try {
    await Deno.mkdir(tmp);
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
    const manifest: Manifest = { format: "ch5-saved-model-manifest-1", files: {} };
    for await (const entry of Deno.readDir(tmp)) {
      const path = join(tmp, entry.name);
      manifest.files[entry.name] = { size: (await Deno.stat(path)).size, sha256: await fileHash(path, "sha256") };
    }
    await Deno.writeTextFile(join(tmp, MANIFEST_JSON), JSON.stringify(manifest, null, 1) + "\n");
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
    throw asSaveError(err, dir);
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
  const kerasFile = /\.(h5|hdf5|keras)$/i.test(nameOrPath) ? resolve(nameOrPath) : undefined;
  if (kerasFile || await isHdf5File(nameOrPath)) {
    const file = kerasFile ?? resolve(nameOrPath);
    throw new ModelNotFoundError(
      `loadModel(${JSON.stringify(nameOrPath)}): ${file} is a Keras file, not a model saved by saveModel ` +
        `(a folder holding ${MODEL_JSON} and ${WEIGHTS_BIN}). Load a whole Keras model with ` +
        `loadKerasModel(${JSON.stringify(nameOrPath)}), or weights into a model you built with ` +
        `loadWeightsFromH5(model, ${JSON.stringify(nameOrPath)}) (both in lib/models/keras_h5.ts).`,
    );
  }
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

function group0(manifest: tf.io.WeightsManifestConfig): string {
  return manifest.flatMap((g) => g.paths).join(", ") || WEIGHTS_BIN;
}

/** Whether `path` is a file that starts with the HDF5 signature. */
async function isHdf5File(path: string): Promise<boolean> {
  if (!(await statOrNull(path))?.isFile) return false;
  using file = await Deno.open(path, { read: true });
  const head = new Uint8Array(8);
  const n = await file.read(head);
  return n === 8 && head.every((b, i) => b === [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a][i]);
}

const BYTES_PER_VALUE: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/** The bytes a weights manifest needs, or `undefined` when it cannot be told (quantized or string weights). */
function neededBytes(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const per = BYTES_PER_VALUE[spec.dtype];
    if (spec.quantization || per === undefined) return undefined;
    total += spec.shape.reduce((a, b) => a * b, 1) * per;
  }
  return total;
}

/** Throw when a float32 weight holds NaN or ±Infinity. */
function checkFinite(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, where: string): void {
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = n * (BYTES_PER_VALUE[spec.dtype] ?? 0);
    if (spec.dtype === "float32" && !spec.quantization) {
      const values = new Float32Array(data, offset, n);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(values[i])) {
          throw new ModelDamagedError(
            `${where}: weight "${spec.name}" holds ${values[i]} at index ${i}: the file is damaged, or the model ` +
              `diverged before it was saved (lower the learning rate). Save a good model again.`,
          );
        }
      }
    }
    offset += bytes;
  }
}

/**
 * An IOHandler that reads a `model.json` written by {@link saveModel} (or by
 * tfjs' `file://` / `downloads://` savers, or the tfjs converter) and the
 * weight files its manifest names, from the local file system.
 */
function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const dir = dirname(modelJsonPath);
      let integrity: Manifest | undefined;
      const manifestPath = join(dir, MANIFEST_JSON);
      if (await statOrNull(manifestPath)) {
        try {
          integrity = JSON.parse(await Deno.readTextFile(manifestPath));
          if (!integrity || typeof integrity.files !== "object" || integrity.files === null) {
            throw new Error("it records no files");
          }
        } catch (err) {
          throw new ModelDamagedError(`${manifestPath} is damaged (${(err as Error).message}); save the model again.`);
        }
      }
      const check = (file: string, bytes: Uint8Array) => {
        const recorded = integrity?.files[basename(file)];
        if (!recorded) return;
        const sha256 = recorded.size === bytes.length ? createHash("sha256").update(bytes).digest("hex") : undefined;
        if (sha256 !== recorded.sha256) {
          throw new ModelDamagedError(
            `${file} differs from what was saved (${
              sha256 ? `same size, SHA-256 ${sha256}` : `${bytes.length} bytes`
            }; ${MANIFEST_JSON} records ${recorded.size} bytes, SHA-256 ${recorded.sha256}): ` +
              `the file is damaged or was changed. Save the model again (or restore the folder from a copy).`,
          );
        }
      };
      let json: tf.io.ModelJSON;
      try {
        const bytes = await Deno.readFile(modelJsonPath);
        check(modelJsonPath, bytes);
        json = JSON.parse(new TextDecoder().decode(bytes));
      } catch (err) {
        if (err instanceof ModelDamagedError) throw err;
        throw new ModelDamagedError(
          `cannot read ${modelJsonPath} as a tfjs model.json (${(err as Error).message}): the file is damaged ` +
            `or is not a model.json; save the model again.`,
        );
      }
      if (!json || typeof json !== "object" || !json.modelTopology || !Array.isArray(json.weightsManifest ?? [])) {
        throw new ModelDamagedError(
          `${modelJsonPath} has no modelTopology or a bad weightsManifest: it is not a tfjs layers model ` +
            `(damaged, or another kind of JSON); save the model again.`,
        );
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const path of group.paths) {
            const file = join(dir, path);
            const bytes = await Deno.readFile(file).catch((err) => {
              throw new ModelDamagedError(
                `${modelJsonPath} names the weights file ${path}, which cannot be read (${(err as Error).message}): ` +
                  `save the model again.`,
              );
            });
            check(file, bytes);
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        const data = tf.io.concatenateArrayBuffers(buffers);
        const where = join(dir, group0(manifest));
        const needed = neededBytes(specs);
        if (needed !== undefined && needed !== data.byteLength) {
          throw new ModelDamagedError(
            `${where} holds ${data.byteLength} bytes but ${modelJsonPath} describes ${needed} bytes of weights: ` +
              `the file is ${data.byteLength < needed ? "truncated" : "too long"} (an interrupted copy or save?). ` +
              `Save the model again.`,
          );
        }
        checkFinite(specs, data, where);
        return [specs, data];
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
 * @throws {ModelNotFoundError} when there is no such model, or `nameOrPath` is a Keras `.h5` file.
 * @throws {ModelDamagedError} when its files are damaged (see the module doc).
 */
export async function loadModel(nameOrPath: string): Promise<tf.LayersModel> {
  return await tf.loadLayersModel(fileHandler(await resolveModelJson(nameOrPath)));
}

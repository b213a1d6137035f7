/**
 * Save a trained model under `data/models/<name>/` and load it back, checked,
 * like Keras' `model.save(...)` and `load_model(...)`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { ModelFileError } from "../io/errors.ts";
import { describeFsError, statOrNull, writeAtomically } from "../io/fs.ts";
import { isHdf5File } from "../io/h5.ts";
import { bytesRecord, differs, makeManifest, MANIFEST, type Manifest, readManifest } from "../io/integrity.ts";
import { dataPath } from "../io/profile.ts";
import { stopQueuedCell } from "../notebook/display.ts";

const MODEL_JSON = "model.json";
const WEIGHTS_BIN = "weights.bin";

/** Options of {@link saveModel}. */
export interface SaveModelOptions {
  /** Also write Keras weights as `<name>.h5` in the folder (default true). */
  h5?: boolean;
  /** Also save the optimizer's state, so that training resumes where it stopped (default false: 3× the size for RMSprop). */
  includeOptimizer?: boolean;
}

/** Where {@link saveModel} put a model: its folder, `model.json`, `weights.bin`, and Keras weights file when written. */
export interface SavedModel {
  dir: string;
  modelJson: string;
  weightsBin: string;
  h5?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The folder a model called `name` is saved in: `data/models/<name>`
 * (under `CH5_DATA_DIR` when set).
 *
 * @throws {RangeError} for a name that is not a plain folder name.
 */
export function modelPath(name: string): string {
  if (!NAME.test(name) || name.includes("..")) {
    throw new RangeError(
      `model name ${JSON.stringify(name)} is not a plain folder name: use letters, digits, "_", "-" and "." ` +
        `(e.g. "cats_and_dogs_small_1"), or pass a path to loadModel.`,
    );
  }
  return dataPath("models", name);
}

/** Write `model.json` and `weights.bin` of `model` into `dir`. */
async function writeModelFiles(model: tf.LayersModel, dir: string, includeOptimizer: boolean): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = artifacts.weightData === undefined
        ? new ArrayBuffer(0)
        : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? "layers-model",
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      // tfjs writes the training config only with the optimizer's state; Keras always keeps the compile settings.
      const compiled = model as unknown as { optimizer?: unknown; getTrainingConfig(): tf.io.TrainingConfig };
      const config = artifacts.trainingConfig ?? (compiled.optimizer ? compiled.getTrainingConfig() : undefined);
      if (config) modelJson.trainingConfig = config;
      await Deno.writeFile(join(dir, WEIGHTS_BIN), new Uint8Array(weights));
      await Deno.writeTextFile(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
    { includeOptimizer },
  );
}

/**
 * Save `model` as one folder, `data/models/<name>/`, written atomically (an
 * interrupted save leaves the model saved before): `model.json` (tfjs' layers
 * format, with the compile settings), `weights.bin` (float32),
 * `<name>.h5` (Keras' `save_weights` layout, unless `h5: false`) and
 * `manifest.json` (size and SHA-256 of each).
 *
 * @example
 * ```ts
 * import { saveModel, smallConvnet } from "../mod.ts";
 * const { dir, h5 } = await saveModel(smallConvnet({ dropout: true }), "cats_and_dogs_small_2");
 * console.log(dir, h5);
 * ```
 * @throws {RangeError} for a name that is not a plain folder name.
 * @throws {ModelFileError} when the folder cannot be written (read-only, disk full); a model saved before stays.
 */
export async function saveModel(
  model: tf.LayersModel,
  name: string,
  options: SaveModelOptions = {},
): Promise<SavedModel> {
  stopQueuedCell(); // Run All stopped at an interrupted training: never save its half-trained model over a finished one
  const dir = modelPath(name);
  const h5 = options.h5 ?? true;
  try {
    await writeAtomically(dir, async (tmp) => {
      await Deno.mkdir(tmp);
      await writeModelFiles(model, tmp, options.includeOptimizer ?? false);
      if (h5) await (await import("./keras_h5.ts")).saveWeightsToH5(model, join(tmp, `${name}.h5`));
      const names = [MODEL_JSON, WEIGHTS_BIN, ...(h5 ? [`${name}.h5`] : [])];
      await Deno.writeTextFile(join(tmp, MANIFEST), JSON.stringify(await makeManifest(tmp, names), null, 1) + "\n");
    });
  } catch (err) {
    const fs = describeFsError(err, dir);
    if (!fs) throw err;
    throw new ModelFileError(`cannot save the model at ${dir}: ${fs} Nothing was replaced.`, { cause: err });
  }
  const files = { modelJson: join(dir, MODEL_JSON), weightsBin: join(dir, WEIGHTS_BIN) };
  return { dir, ...files, h5: h5 ? join(dir, `${name}.h5`) : undefined };
}

/** The `model.json` a name or path refers to. */
async function resolveModelJson(nameOrPath: string): Promise<string> {
  if (/\.(h5|hdf5|keras)$/i.test(nameOrPath) || await isHdf5File(nameOrPath)) {
    throw new ModelFileError(
      `loadModel(${JSON.stringify(nameOrPath)}): ${resolve(nameOrPath)} is a Keras file, not a model saved by ` +
        `saveModel (a folder holding ${MODEL_JSON} and ${WEIGHTS_BIN}). Load a whole Keras model with ` +
        `loadKerasModel(${JSON.stringify(nameOrPath)}), or weights into a model you built with ` +
        `loadWeightsFromH5(model, ${JSON.stringify(nameOrPath)}) (both in lib/models/keras_h5.ts).`,
    );
  }
  const looksLikePath = isAbsolute(nameOrPath) || /[\\/]/.test(nameOrPath) || nameOrPath.endsWith(".json");
  const where = looksLikePath ? resolve(nameOrPath) : modelPath(nameOrPath);
  const file = (await statOrNull(where))?.isDirectory ? join(where, MODEL_JSON) : where;
  if (!(await statOrNull(file))?.isFile) {
    const what = looksLikePath ? `no saved model at ${where}` : `no model called "${nameOrPath}" at ${where}`;
    const hint = /cats_and_dogs_small_[12]$/.test(basename(where))
      ? "run notebook 5.2 (5.2-training-convnet-from-scratch.ipynb) first, or "
      : "";
    throw new ModelFileError(
      `${what} (${MODEL_JSON} is missing): ${hint}save it with saveModel(model, "${basename(where)}"), ` +
        `or pass the path of a folder holding ${MODEL_JSON} and ${WEIGHTS_BIN}.`,
      { cause: new Deno.errors.NotFound(file) },
    );
  }
  return file;
}

/** The file's bytes, checked against the manifest's record of it (when there is one). */
async function readChecked(path: string, manifest: Manifest | undefined, what: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(path).catch((err) => {
    const why = `${what} ${path} cannot be read (${(err as Error).message})`;
    throw new ModelFileError(`${why}: save the model again.`, { cause: err });
  });
  const recorded = manifest?.files[basename(path)];
  const wrong = recorded && differs(bytesRecord(bytes), recorded);
  if (wrong) {
    throw new ModelFileError(
      `${path} differs from what was saved (${wrong}; ${MANIFEST} records it): the file is damaged or was ` +
        `changed. Save the model again (or restore the folder from a copy).`,
    );
  }
  return bytes;
}

/** The weights' bytes, checked: as many as the manifest describes, and every float32 finite. */
function checkWeights(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, where: string, json: string): void {
  const known = specs.every((s) => !s.quantization && (s.dtype === "float32" || s.dtype === "int32"));
  const needed = specs.reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
  if (known && needed !== data.byteLength) {
    throw new ModelFileError(
      `${where} holds ${data.byteLength} bytes but ${json} describes ${needed} bytes of weights: the file is ` +
        `${data.byteLength < needed ? "truncated" : "too long"} (an interrupted copy or save?). Save the model again.`,
    );
  }
  let offset = 0;
  for (const spec of known ? specs : []) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const values = spec.dtype === "float32" ? new Float32Array(data, offset, n) : [];
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new ModelFileError(
        `${where}: weight "${spec.name}" holds ${values[bad]} at index ${bad}: the file is damaged, or the model ` +
          `diverged before it was saved (lower the learning rate). Save a good model again.`,
      );
    }
    offset += 4 * n;
  }
}

/** An IOHandler that reads a `model.json` (of {@link saveModel}, tfjs' savers or its converter) and its weights. */
function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const dir = dirname(modelJsonPath);
      const manifest = await readManifest(join(dir, MANIFEST)).catch((err) => {
        throw new ModelFileError(
          `${join(dir, MANIFEST)} is damaged (${(err as Error).message}); save the model again.`,
        );
      });
      const jsonBytes = await readChecked(modelJsonPath, manifest, "the model file");
      let json: tf.io.ModelJSON | undefined;
      try {
        json = JSON.parse(new TextDecoder().decode(jsonBytes));
      } catch { /* reported below */ }
      if (!json || typeof json !== "object" || !json.modelTopology || !Array.isArray(json.weightsManifest ?? [])) {
        throw new ModelFileError(
          `cannot read ${modelJsonPath} as a tfjs model.json (no modelTopology, or a bad weightsManifest): the file ` +
            `is damaged or is not a model.json; save the model again.`,
        );
      }
      return tf.io.getModelArtifactsForJSON(json, async (groups) => {
        const specs = groups.flatMap((g) => g.weights);
        const paths = groups.flatMap((g) => g.paths);
        const buffers = await Promise.all(paths.map(async (path) => {
          const bytes = await readChecked(join(dir, path), manifest, `${modelJsonPath} names the weights file`);
          return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
        }));
        const data = tf.io.concatenateArrayBuffers(buffers);
        checkWeights(specs, data, join(dir, paths.join(", ") || WEIGHTS_BIN), modelJsonPath);
        return [specs, data];
      });
    },
  };
}

/**
 * Load a model saved by {@link saveModel}: by name (`data/models/<name>`), or
 * by the path of its folder or `model.json`. Its files are checked against
 * the manifest, and NaN or infinite weights refused. A model saved after
 * `compile` comes back compiled with the same loss, metrics and optimizer.
 *
 * @example
 * ```ts
 * import { loadModel } from "./save.ts";
 * const model = await loadModel("cats_and_dogs_small_2");
 * model.summary();
 * ```
 * @throws {ModelFileError} when there is no such model (its `cause` is a
 * `Deno.errors.NotFound`), `nameOrPath` is a Keras `.h5` file, or its files are damaged.
 */
export async function loadModel(nameOrPath: string): Promise<tf.LayersModel> {
  return await tf.loadLayersModel(fileHandler(await resolveModelJson(nameOrPath)));
}

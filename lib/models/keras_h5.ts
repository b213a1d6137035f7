/**
 * Keras HDF5 files (`.h5`) for TensorFlow.js models: load weights by layer
 * name or order, load a whole model saved by `model.save()`, and save weights
 * in Keras' `save_weights` layout.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { basename, dirname, join, resolve } from "node:path";
import { ModelFileError } from "../io/errors.ts";
import { writeAtomically } from "../io/fs.ts";
import {
  type Dataset,
  type Group,
  type H5File,
  h5Ready,
  hdf5Reason,
  markH5Verified,
  openH5,
  plainValue,
} from "../io/h5.ts";
import { differs, fileRecord, MANIFEST, readManifest } from "../io/integrity.ts";
import { shapeText } from "./summary.ts";

/**
 * Options of {@link loadWeightsFromH5}: `byName` (default `true`) matches layers by name; `false` matches the
 * layers that have weights in order, as Keras' `load_weights(path)` does.
 */
export interface LoadWeightsOptions {
  byName?: boolean;
}

/** What {@link loadWeightsFromH5} did: the layers loaded (file order), those the file lacks, the arrays assigned. */
export interface LoadWeightsReport {
  loaded: string[];
  notInFile: string[];
  arrays: number;
}

interface FileLayer {
  name: string;
  weightNames: string[];
  group: Group;
}

/** A string-list attribute, also when Keras split it into `name0`, `name1`, ... */
function stringsAttr(entity: Group, name: string): string[] | undefined {
  const one = (value: unknown): string[] => {
    const plain = plainValue(value);
    if (plain === null) return [];
    if (typeof plain === "string" || Array.isArray(plain)) return [plain].flat().map(String);
    throw new ModelFileError(`attribute "${name}" of ${entity.path} is not a list of strings: ${String(plain)}`);
  };
  if (name in entity.attrs) return one(entity.attrs[name].value);
  if (!(`${name}0` in entity.attrs)) return undefined;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in entity.attrs; i++) out.push(...one(entity.attrs[`${name}${i}`].value));
  return out;
}

function stringAttr(entity: Group, name: string): string | undefined {
  if (!(name in entity.attrs)) return undefined;
  const value = plainValue(entity.attrs[name].value);
  return Array.isArray(value) ? value.join("") : value === null ? undefined : String(value);
}

/** The layers of the group that holds them: the root of a weights file, or `model_weights`. */
function fileLayers(file: H5File, where: string): FileLayer[] {
  const keys = file.keys();
  const root = stringsAttr(file, "layer_names")
    ? file
    : keys.includes("model_weights")
    ? file.get("model_weights") as Group
    : undefined;
  const names = root && stringsAttr(root, "layer_names");
  if (!root || !names) {
    throw new ModelFileError(
      `${where} is HDF5 but holds no Keras weights: neither the root attribute "layer_names" (save_weights) ` +
        `nor a group "model_weights" (model.save) is there. Top-level entries: ${keys.join(", ") || "none"}.`,
    );
  }
  return names.map((name) => {
    const group = root.get(name);
    if (!group || !("keys" in group)) {
      throw new ModelFileError(`${where}: "layer_names" lists "${name}" but there is no group of that name.`);
    }
    return { name, weightNames: stringsAttr(group as Group, "weight_names") ?? [], group: group as Group };
  });
}

/** One weight's values as float32; float16, NaN, or what h5wasm cannot read is an error naming the dataset. */
function readArray(layer: FileLayer, weightName: string, where: string): { shape: number[]; data: Float32Array } {
  const entity = layer.group.get(weightName) as Dataset | null;
  const name = `${layer.name}/${weightName}`;
  if (!entity || !("shape" in entity)) {
    throw new ModelFileError(
      `${where}: layer "${layer.name}" lists weight "${weightName}" but has no dataset of that name.`,
    );
  }
  const meta = entity.metadata as { type?: number; size?: number } | undefined;
  if (meta?.type === 1 && meta.size === 2) {
    throw new ModelFileError(
      `${where}: weight "${name}" is float16 (half precision), which cannot be read here (h5wasm has no float16). ` +
        `Save the weights as float32 in Keras (model.save_weights after K.set_floatx("float32"), or cast the model).`,
    );
  }
  let value: unknown;
  try {
    value = entity.value;
  } catch (err) {
    throw new ModelFileError(`${where}: weight "${name}" cannot be read (${hdf5Reason(err)}).`, { cause: err });
  }
  const data = value instanceof Float32Array
    ? value
    : ArrayBuffer.isView(value) && !(value instanceof DataView)
    ? Float32Array.from(value as unknown as ArrayLike<number>, Number)
    : typeof value === "number"
    ? Float32Array.of(value)
    : undefined;
  if (!data) throw new ModelFileError(`${where}: ${name} is not a numeric dataset.`);
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    throw new ModelFileError(
      `${where}: weight "${weightName}" of layer "${layer.name}" holds ${data[bad]} at index ${bad}: ` +
        `the file is damaged (or was saved from a model that diverged). Fetch or save it again.`,
    );
  }
  return { shape: entity.shape ?? [], data };
}

/**
 * The order of the model's weights that the file's arrays of one layer take:
 * by name where every name matches one weight (nested models, whose order
 * depends on which layers are trainable), else in order.
 */
function pairWeights(variables: tf.LayerVariable[], fileNames: string[]): number[] {
  const byKey = new Map<string, number>();
  variables.forEach((v, i) => {
    for (const key of [v.originalName, v.name]) byKey.set(key, byKey.has(key) && byKey.get(key) !== i ? -1 : i);
  });
  const order: number[] = [];
  for (const name of fileNames) {
    const base = name.replace(/:\d+$/, "");
    const keys = [base, ...(base.split("/").length > 2 ? [base.split("/").slice(-2).join("/")] : [])];
    const hit = keys.map((k) => byKey.get(k)).find((i) => i !== undefined && i >= 0);
    if (hit === undefined || order.includes(hit)) return fileNames.map((_, i) => i);
    order.push(hit);
  }
  return order;
}

/** One file layer's arrays as the model layer's weights, in its order; a count or shape that differs is an error. */
function layerArrays(layer: tf.layers.Layer, fileLayer: FileLayer, where: string): tf.Tensor[] {
  const variables = layer.weights;
  const names = fileLayer.weightNames;
  if (variables.length !== names.length) {
    throw new ModelFileError(
      `${where}: layer "${layer.name}" (${layer.getClassName()}) has ${variables.length} weight arrays ` +
        `(${variables.map((v) => v.originalName).join(", ") || "none"}) but the file's layer "${fileLayer.name}" ` +
        `has ${names.length} (${names.join(", ") || "none"}). Build the model as the one that saved the file.`,
    );
  }
  const order = pairWeights(variables, names);
  const arrays = names.map((n) => readArray(fileLayer, n, where));
  arrays.forEach(({ shape }, i) => {
    const expected = variables[order[i]].shape;
    if (expected.length !== shape.length || expected.some((d, k) => d !== shape[k])) {
      throw new ModelFileError(
        `${where}: layer "${layer.name}", weight "${names[i]}" (${variables[order[i]].originalName}): the model ` +
          `expects shape ${shapeText(expected)} but the file has ${shapeText(shape)}. Build the model with the ` +
          `configuration that saved the file (input shape, filters, units, include_top).`,
      );
    }
  });
  const values: tf.Tensor[] = new Array(variables.length);
  arrays.forEach(({ shape, data }, i) => values[order[i]] = tf.tensor(data, shape, "float32"));
  return values;
}

/** Pair the file's layers with the model's, read and check every array, then assign them all. */
function loadLayers(model: tf.LayersModel, file: H5File, where: string, byName: boolean): LoadWeightsReport {
  const fileWeighted = fileLayers(file, where).filter((l) => l.weightNames.length > 0);
  const modelWeighted = model.layers.filter((l) => l.weights.length > 0);
  const names = (layers: { name: string }[]) => layers.map((l) => l.name).join(", ") || "none";
  let pairs: [tf.layers.Layer, FileLayer][];
  if (byName) {
    pairs = fileWeighted.map((fl) => {
      const layer = modelWeighted.find((l) => l.name === fl.name);
      if (layer) return [layer, fl];
      throw new ModelFileError(
        `${where} has weights for layer "${fl.name}" (${fl.weightNames.length} arrays) but the model ` +
          `"${model.name}" has no layer of that name. Its layers with weights: ${names(modelWeighted)}. ` +
          `Name the model's layers as in the file.`,
      );
    });
  } else if (modelWeighted.length === fileWeighted.length) {
    pairs = modelWeighted.map((layer, i) => [layer, fileWeighted[i]]);
  } else {
    throw new ModelFileError(
      `${where} has ${fileWeighted.length} layers with weights (${names(fileWeighted)}) but the model ` +
        `"${model.name}" has ${modelWeighted.length} (${names(modelWeighted)}). Loading by order needs the same ` +
        `layers in the same order: build the same architecture, or load by name ({byName: true}).`,
    );
  }
  const values: tf.Tensor[][] = [];
  try {
    for (const [layer, fl] of pairs) values.push(layerArrays(layer, fl, where));
    pairs.forEach(([layer], i) => layer.setWeights(values[i]));
  } finally {
    tf.dispose(values.flat());
  }
  const loaded = pairs.map(([layer]) => layer.name);
  const notInFile = modelWeighted.map((l) => l.name).filter((n) => !loaded.includes(n));
  return { loaded, notInFile, arrays: values.flat().length };
}

/**
 * When the file sits in a folder written by `saveModel` (a manifest recording
 * its size and SHA-256), check it against that record: a byte changed inside
 * a weight leaves HDF5 readable, so only this finds it.
 */
async function checkAgainstManifest(path: string): Promise<void> {
  const manifest = await readManifest(join(dirname(resolve(path)), MANIFEST)).catch(() => undefined);
  const recorded = manifest?.files[basename(path)];
  if (!recorded) return; // no manifest: a file from Keras or elsewhere
  const wrong = differs(await fileRecord(path), recorded);
  if (!wrong) return await markH5Verified(path);
  throw new ModelFileError(
    `${resolve(path)} differs from what was saved (${wrong}; ${MANIFEST} beside it records it): the file is ` +
      `damaged or was changed. Save the model again.`,
  );
}

/** Open `path` (checked against its manifest, probed), run `fn`, and turn HDF5's failures into a {@link ModelFileError}. */
async function withFile<T>(path: string, fn: (file: H5File, where: string) => T | Promise<T>): Promise<T> {
  const where = resolve(path);
  await checkAgainstManifest(path);
  const file = await openH5(path, "r");
  try {
    return await fn(file, where);
  } catch (err) {
    const message = String((err as Error)?.message);
    if (err instanceof WebAssembly.RuntimeError || /^Aborted\(/.test(message)) { // h5wasm's abort() on a damaged file
      throw new ModelFileError(
        `${where} is damaged: HDF5 gave up reading it (${message}). Fetch or copy the file again (or save the model again).`,
      );
    }
    if (err instanceof ModelFileError || !/HDF5|H5[A-Z]/.test(String(err))) throw err;
    throw new ModelFileError(
      `${where} is damaged (HDF5: ${hdf5Reason(err)}): fetch or copy the file again (or save the model again).`,
      { cause: err },
    );
  } finally {
    try {
      file.close();
    } catch {
      // closing a damaged file may fail too; the error above says what matters
    }
  }
}

/**
 * Load the weights of a Keras `.h5` file into a model: a weights file
 * (`model.save_weights()`, e.g. the VGG16 ImageNet weights) or a whole-model
 * file (`model.save()`). By default layers are matched by name; every layer
 * of the file must exist in the model, shapes must agree, and layers of the
 * model that the file lacks keep their weights, with a warning naming them.
 * Keras' layout: the root's attribute `layer_names`; per layer a group with
 * the attribute `weight_names`, each a dataset (kernels laid out as in tfjs).
 * Every array is read and checked (shape, NaN, float16) before any is
 * assigned: a file that does not fit leaves the model as it was.
 *
 * @throws {ModelFileError} for a path that is missing, not HDF5 or damaged, a missing layer or a shape mismatch
 * (naming both), float16 or NaN weights.
 */
export function loadWeightsFromH5(
  model: tf.LayersModel,
  path: string,
  options: LoadWeightsOptions = {},
): Promise<LoadWeightsReport> {
  return withFile(path, (file, where) => {
    const report = loadLayers(model, file, where, options.byName ?? true);
    if (report.notInFile.length > 0) {
      console.warn(
        `warning: ${where} has no weights for layer${report.notInFile.length > 1 ? "s" : ""} ` +
          `${report.notInFile.join(", ")} of model "${model.name}": they keep their initial (random) values.`,
      );
    }
    return report;
  });
}

/** Options of {@link loadKerasModel}. */
export interface LoadKerasModelOptions {
  /** Compile with the file's `training_config` (optimizer, loss, metrics) when it has one (default `true`). */
  compile?: boolean;
}

type KerasOptimizerConfig = { class_name: string; config: Record<string, number | boolean | null> };

/** Keras' optimizers: the tfjs one, made from the settings (Keras' names and defaults). */
const OPTIMIZERS: Record<string, (n: (key: string, fallback: number) => number, nesterov: boolean) => tf.Optimizer> = {
  SGD: (n, nesterov) =>
    n("momentum", 0) > 0 ? tf.train.momentum(n("lr", 0.01), n("momentum", 0), nesterov) : tf.train.sgd(n("lr", 0.01)),
  RMSprop: (n) => tf.train.rmsprop(n("lr", 0.001), n("rho", 0.9), 0, n("epsilon", 1e-7)),
  Adam: (n) => tf.train.adam(n("lr", 0.001), n("beta_1", 0.9), n("beta_2", 0.999), n("epsilon", 1e-7)),
  Adagrad: (n) => tf.train.adagrad(n("lr", 0.01)),
  Adadelta: (n) => tf.train.adadelta(n("lr", 1), n("rho", 0.95), n("epsilon", 1e-7)),
  Adamax: (n) => tf.train.adamax(n("lr", 0.002), n("beta_1", 0.9), n("beta_2", 0.999), n("epsilon", 1e-7)),
};

function compileFrom(model: tf.LayersModel, trainingConfig: string, where: string): void {
  const tc = JSON.parse(trainingConfig) as {
    optimizer_config: KerasOptimizerConfig;
    loss: string | Record<string, string>;
    metrics?: string[];
  };
  const hint = `load it with loadKerasModel(path, { compile: false }) and call model.compile() yourself`;
  const spec = tc.optimizer_config ?? {};
  const c = spec.config ?? {};
  const make = OPTIMIZERS[spec.class_name];
  const none = `its optimizer ${spec.class_name} has no TensorFlow.js counterpart here`;
  if (!make) throw new ModelFileError(`${where}: ${none}; ${hint}.`);
  if (typeof tc.loss !== "string") throw new ModelFileError(`${where}: per-output losses are not supported; ${hint}.`);
  if (typeof c.decay === "number" && c.decay !== 0) {
    console.warn(`warning: the file's ${spec.class_name} has decay=${c.decay}; TensorFlow.js ignores it.`);
  }
  const optimizer = make((key, fallback) => {
    const value = key === "lr" ? c.lr ?? c.learning_rate : c[key];
    return typeof value === "number" ? value : fallback;
  }, c.nesterov === true);
  const camel = (name: string) => name.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
  const metrics = (tc.metrics ?? []).map((m) => (m === "accuracy" ? "acc" : camel(m)));
  try {
    model.compile({ optimizer, loss: camel(tc.loss), metrics });
  } catch (err) {
    const what = /loss/i.test(String(err)) ? `the loss "${tc.loss}"` : `the metrics ${JSON.stringify(tc.metrics)}`;
    throw new ModelFileError(
      `${where}: its training_config names ${what}, which TensorFlow.js does not know ` +
        `(${(err as Error).message.split("\n")[0]}); ${hint}.`,
      { cause: err },
    );
  }
}

/**
 * Load a whole model saved by Keras' `model.save()` (Keras 2.x): the
 * architecture from the root attribute `model_config` (deserialized by
 * TensorFlow.js), every weight from `model_weights`, then, where the file has
 * a `training_config`, `compile()` with its optimizer, loss and metrics (the
 * optimizer's state is not restored).
 *
 * @throws {ModelFileError} for a weights-only file, layers TensorFlow.js does not know, or a loss, metric or
 * optimizer it does not know (then `{ compile: false }` loads the model).
 */
export function loadKerasModel(path: string, options: LoadKerasModelOptions = {}): Promise<tf.LayersModel> {
  return withFile(path, async (file, where) => {
    const configText = stringAttr(file, "model_config");
    if (configText === undefined) {
      throw new ModelFileError(
        `${where} has no "model_config" attribute: it holds weights only (written by save_weights()). ` +
          `Build the model in code, then call loadWeightsFromH5(model, path).`,
      );
    }
    const version = stringAttr(file, "keras_version") ?? "unknown";
    if (version.startsWith("1")) {
      throw new ModelFileError(`${where} was written by Keras ${version}; only Keras 2 files are supported.`);
    }
    let model: tf.LayersModel;
    try {
      model = await tf.models.modelFromJSON({ modelTopology: JSON.parse(configText) });
    } catch (err) {
      const why = err instanceof Error ? err.message.split("\n")[0] : err;
      const what = `TensorFlow.js could not build the model of its "model_config" (Keras ${version})`;
      throw new ModelFileError(`${where}: ${what}: ${why}`, { cause: err });
    }
    const report = loadLayers(model, file, where, true);
    if (report.notInFile.length > 0) {
      throw new ModelFileError(`${where} lacks the weights of layers ${report.notInFile.join(", ")}.`);
    }
    const training = stringAttr(file, "training_config");
    if (training && (options.compile ?? true)) compileFrom(model, training, where);
    return model;
  });
}

function writeStringAttr(group: Group, name: string, value: string): void {
  group.create_attribute(name, value, [], `A${new TextEncoder().encode(value).length + 1}`);
}

function writeStringsAttr(group: Group, name: string, values: string[]): void {
  if (values.length === 0) return group.create_attribute(name, new Float64Array(0), [0]); // what Keras writes
  const width = Math.max(1, ...values.map((v) => new TextEncoder().encode(v).length)) + 1;
  group.create_attribute(name, values, [values.length], `A${width}`);
}

/**
 * Save a model's weights in Keras' weights-file layout (`save_weights`):
 * root attributes `layer_names`, `backend`, `keras_version`; one group per
 * layer with the attribute `weight_names` (`<layer>/kernel:0`, ...), each
 * array a float32 dataset at `<layer>/<weight name>`. Keras reads it with
 * `model.load_weights(path)`; {@link loadWeightsFromH5} reads it back. The
 * file is written atomically (`writeAtomically`).
 */
export async function saveWeightsToH5(model: tf.LayersModel, path: string): Promise<string> {
  const target = resolve(path);
  await h5Ready();
  await writeAtomically(target, async (tmp) => {
    const file = await openH5(tmp, "w");
    try {
      writeStringsAttr(file, "layer_names", model.layers.map((l) => l.name));
      writeStringAttr(file, "backend", "tensorflow");
      writeStringAttr(file, "keras_version", "2.2.4");
      for (const layer of model.layers) await writeLayer(file.create_group(layer.name), layer);
    } finally {
      file.close();
    }
  });
  await markH5Verified(target); // written just now by this process: no need to probe it before reading
  return target;
}

/** One layer's group: the attribute `weight_names`, and each weight as a float32 dataset at its name. */
async function writeLayer(group: Group, layer: tf.layers.Layer): Promise<void> {
  const names = layer.weights.map((w) => `${w.originalName}:0`);
  writeStringsAttr(group, "weight_names", names);
  for (const [i, name] of names.entries()) {
    const parts = name.split("/");
    let parent = group;
    for (const part of parts.slice(0, -1)) {
      parent = (parent.keys().includes(part) ? parent.get(part) : parent.create_group(part)) as Group;
    }
    const { shape } = layer.weights[i], values = await layer.weights[i].read().data();
    const data = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
    parent.create_dataset({ name: parts[parts.length - 1], data, shape: shape as number[], dtype: "<f4" });
  }
}

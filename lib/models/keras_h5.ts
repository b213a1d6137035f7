/**
 * Keras HDF5 files (`.h5`) for TensorFlow.js models: load weights into a
 * model by layer name (or by order, as Keras' `load_weights` does), load a
 * whole model saved by Keras' `model.save()`, and save a model's weights in
 * Keras' layout so that Keras (and this module) can read them back.
 *
 * Keras' layout (2.x, `save_weights` or the `model_weights` group of
 * `model.save`): the weights root has the attribute `layer_names`; each
 * layer is a group of that name whose attribute `weight_names` lists its
 * arrays (e.g. `dense_1/kernel:0`, or `block1_conv1_W_1:0` in the VGG16
 * ImageNet files), each stored as a dataset at `<layer>/<weight name>`.
 * Kernels are `[rows, cols, in, out]` for Conv2D and `[in, out]` for Dense,
 * as in TensorFlow.js, so the arrays are assigned as they are.
 *
 * @example
 * ```ts
 * import { loadKerasModel, loadWeightsFromH5, saveWeightsToH5 } from "./keras_h5.ts";
 * const model = await loadKerasModel("../shared/fixtures/keras/decoder.h5");
 * await saveWeightsToH5(model, "data/decoder_weights.h5");
 * await loadWeightsFromH5(model, "data/decoder_weights.h5");
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { basename, dirname, join, resolve } from "node:path";
import { ModelFileError } from "../io/errors.ts";
import { writeAtomically } from "../io/fs.ts";
import { differs, fileRecord, MANIFEST, readManifest } from "../io/integrity.ts";
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
import { shapeText } from "./summary.ts";

/** Options of {@link loadWeightsFromH5}. */
export interface LoadWeightsOptions {
  /**
   * Match the file's layers to the model's by name (default `true`). With
   * `false`, the layers that have weights are matched in order, as Keras'
   * `load_weights(path)` does, and both must have the same number of them.
   */
  byName?: boolean;
  /**
   * Leave a layer as it is, with a warning, when its weights do not fit
   * (different count or shapes) instead of failing, as Keras'
   * `skip_mismatch=True` does (default `false`).
   */
  skipMismatch?: boolean;
  /**
   * With `byName`, ignore the file's layers that the model lacks, as Keras'
   * `by_name=True` does silently (default `false`: an error names them).
   */
  skipMissing?: boolean;
}

/** What {@link loadWeightsFromH5} did. */
export interface LoadWeightsReport {
  /** The model's layers that got weights from the file, in file order. */
  loaded: string[];
  /** Layers left as they were (`skipMismatch`, `skipMissing`), and why. */
  skipped: { layer: string; reason: string }[];
  /** The model's layers with weights that the file does not have (by name). */
  notInFile: string[];
  /** How many arrays were assigned. */
  arrays: number;
}

interface FileLayer {
  name: string;
  weightNames: string[];
  group: Group;
}

type Source = string | Uint8Array;

function describe(source: Source): string {
  return typeof source === "string" ? resolve(source) : `<${source.length} bytes>`;
}

/** Reads a string-list attribute, also when Keras split it into `name0`, `name1`, ... */
function stringsAttr(entity: Group, name: string): string[] | undefined {
  const attrs = entity.attrs;
  const one = (value: unknown): string[] => {
    const plain = plainValue(value);
    if (plain === null) return [];
    if (typeof plain === "string") return [plain];
    if (Array.isArray(plain)) return plain.map(String);
    throw new ModelFileError(`attribute "${name}" of ${entity.path} is not a list of strings: ${String(plain)}`);
  };
  if (name in attrs) return one(attrs[name].value);
  if (`${name}0` in attrs) {
    const out: string[] = [];
    for (let i = 0; `${name}${i}` in attrs; i++) out.push(...one(attrs[`${name}${i}`].value));
    return out;
  }
  return undefined;
}

function stringAttr(entity: Group, name: string): string | undefined {
  if (!(name in entity.attrs)) return undefined;
  const value = plainValue(entity.attrs[name].value);
  return Array.isArray(value) ? value.join("") : value === null ? undefined : String(value);
}

/** The group that holds the layers: the root of a weights file, or `model_weights`. */
function weightsRoot(file: H5File, where: string): Group {
  if (stringsAttr(file, "layer_names")) return file;
  const keys = file.keys();
  if (keys.includes("model_weights")) {
    const group = file.get("model_weights") as Group;
    if (stringsAttr(group, "layer_names")) return group;
  }
  throw new ModelFileError(
    `${where} is HDF5 but holds no Keras weights: neither the root attribute "layer_names" (save_weights) ` +
      `nor a group "model_weights" (model.save) is there. Top-level entries: ${keys.join(", ") || "none"}.`,
  );
}

function fileLayers(root: Group, where: string): FileLayer[] {
  const names = stringsAttr(root, "layer_names") ?? [];
  return names.map((name) => {
    const group = root.get(name);
    if (!group || !("keys" in group)) {
      throw new ModelFileError(`${where}: "layer_names" lists "${name}" but there is no group of that name.`);
    }
    return { name, weightNames: stringsAttr(group as Group, "weight_names") ?? [], group: group as Group };
  });
}

function dataset(layer: FileLayer, weightName: string, where: string): Dataset {
  const entity = layer.group.get(weightName);
  if (!entity || !("shape" in entity)) {
    throw new ModelFileError(
      `${where}: layer "${layer.name}" lists weight "${weightName}" but has no dataset of that name.`,
    );
  }
  return entity as Dataset;
}

function toFloat32(value: unknown, where: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Float32Array.from(value as unknown as ArrayLike<number>, Number);
  }
  if (typeof value === "number") return Float32Array.of(value);
  throw new ModelFileError(`${where} is not a numeric dataset.`);
}

/** A dataset's values; a float16 dataset (or any other h5wasm cannot read) is an error naming it. */
function readValue(dataset: Dataset, where: string, name: string): unknown {
  const meta = dataset.metadata as { type?: number; size?: number } | undefined;
  if (meta?.type === 1 && meta.size === 2) {
    throw new ModelFileError(
      `${where}: weight "${name}" is float16 (half precision), which cannot be read here (h5wasm has no float16). ` +
        `Save the weights as float32 in Keras (model.save_weights after K.set_floatx("float32"), or cast the model).`,
    );
  }
  try {
    return dataset.value;
  } catch (err) {
    throw new ModelFileError(`${where}: weight "${name}" cannot be read (${hdf5Reason(err)}).`, { cause: err });
  }
}

/** Strip `:0` and return the candidate keys of a Keras weight name, most specific first. */
function nameKeys(name: string): string[] {
  const base = name.replace(/:\d+$/, "");
  const parts = base.split("/");
  const keys = [base];
  if (parts.length > 2) keys.push(parts.slice(-2).join("/"));
  return keys;
}

/**
 * Pair the file's arrays of one layer with the model's weights: by name where
 * every name matches one weight (needed for nested models, whose order
 * depends on which layers are trainable), else in order.
 */
function pairWeights(variables: tf.LayerVariable[], fileNames: string[]): number[] {
  const byKey = new Map<string, number>();
  variables.forEach((v, i) => {
    for (const key of [v.originalName, v.name]) byKey.set(key, byKey.has(key) && byKey.get(key) !== i ? -1 : i);
  });
  const order: number[] = [];
  for (const name of fileNames) {
    const hit = nameKeys(name).map((k) => byKey.get(k)).find((i) => i !== undefined && i >= 0);
    if (hit === undefined || order.includes(hit)) return fileNames.map((_, i) => i);
    order.push(hit);
  }
  return order;
}

/** Assign one file layer's arrays to a model layer; returns the arrays assigned or a reason to skip. */
function assignLayer(
  layer: tf.layers.Layer,
  fileLayer: FileLayer,
  where: string,
  skipMismatch: boolean,
): number | string {
  const variables = layer.weights;
  const names = fileLayer.weightNames;
  if (variables.length !== names.length) {
    const reason = `layer "${layer.name}" (${layer.getClassName()}) has ${variables.length} weight arrays ` +
      `(${variables.map((v) => v.originalName).join(", ") || "none"}) but the file's layer "${fileLayer.name}" ` +
      `has ${names.length} (${names.join(", ") || "none"})`;
    if (skipMismatch) return reason;
    throw new ModelFileError(
      `${where}: ${reason}. The model and the file describe different layers: build the model as the one that ` +
        `saved the file, or pass {skipMismatch: true} to leave such layers as they are.`,
    );
  }
  const order = pairWeights(variables, names);
  const datasets = names.map((n) => dataset(fileLayer, n, where));
  for (let i = 0; i < names.length; i++) {
    const expected = variables[order[i]].shape;
    const found = datasets[i].shape ?? [];
    if (expected.length !== found.length || expected.some((d, k) => d !== found[k])) {
      const reason = `layer "${layer.name}", weight "${names[i]}" (${variables[order[i]].originalName}): ` +
        `the model expects shape ${shapeText(expected)} but the file has ${shapeText(found)}`;
      if (skipMismatch) return reason;
      throw new ModelFileError(
        `${where}: ${reason}. Build the model with the configuration that saved the file (input shape, ` +
          `filters, units, include_top), or pass {skipMismatch: true} to leave such layers as they are.`,
      );
    }
  }
  const values: tf.Tensor[] = new Array(variables.length);
  try {
    for (let i = 0; i < names.length; i++) {
      const data = toFloat32(
        readValue(datasets[i], where, `${fileLayer.name}/${names[i]}`),
        `${where}: ${fileLayer.name}/${names[i]}`,
      );
      const bad = data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new ModelFileError(
          `${where}: weight "${names[i]}" of layer "${fileLayer.name}" holds ${data[bad]} at index ${bad}: ` +
            `the file is damaged (or was saved from a model that diverged). Fetch or save it again.`,
        );
      }
      values[order[i]] = tf.tensor(data, datasets[i].shape ?? [], "float32");
    }
    layer.setWeights(values);
  } finally {
    tf.dispose(values.filter(Boolean));
  }
  return names.length;
}

function weighted(layers: tf.layers.Layer[]): tf.layers.Layer[] {
  return layers.filter((l) => l.weights.length > 0);
}

function loadFromRoot(
  model: tf.LayersModel,
  root: Group,
  where: string,
  options: LoadWeightsOptions,
): LoadWeightsReport {
  const byName = options.byName ?? true;
  const skipMismatch = options.skipMismatch ?? false;
  const report: LoadWeightsReport = { loaded: [], skipped: [], notInFile: [], arrays: 0 };
  const layers = fileLayers(root, where);
  const fileWeighted = layers.filter((l) => l.weightNames.length > 0);
  const pairs: [tf.layers.Layer, FileLayer][] = [];
  if (byName) {
    const modelLayers = new Map(model.layers.map((l) => [l.name, l]));
    for (const fl of fileWeighted) {
      const layer = modelLayers.get(fl.name);
      if (layer) {
        pairs.push([layer, fl]);
      } else if (options.skipMissing) {
        report.skipped.push({ layer: fl.name, reason: "the model has no layer of that name" });
      } else {
        throw new ModelFileError(
          `${where} has weights for layer "${fl.name}" (${fl.weightNames.length} arrays) but the model ` +
            `"${model.name}" has no layer of that name. Its layers with weights: ` +
            `${weighted(model.layers).map((l) => l.name).join(", ") || "none"}. ` +
            `Name the model's layers as in the file, or pass {skipMissing: true} to ignore the file's other layers.`,
        );
      }
    }
    const inFile = new Set(fileWeighted.map((l) => l.name));
    report.notInFile = weighted(model.layers).map((l) => l.name).filter((n) => !inFile.has(n));
  } else {
    const modelWeighted = weighted(model.layers);
    if (modelWeighted.length !== fileWeighted.length) {
      throw new ModelFileError(
        `${where} has ${fileWeighted.length} layers with weights (${fileWeighted.map((l) => l.name).join(", ")}) ` +
          `but the model "${model.name}" has ${modelWeighted.length} ` +
          `(${modelWeighted.map((l) => l.name).join(", ")}). Loading by order needs the same layers in the ` +
          `same order: build the same architecture, or load by name ({byName: true}).`,
      );
    }
    modelWeighted.forEach((layer, i) => pairs.push([layer, fileWeighted[i]]));
  }
  for (const [layer, fl] of pairs) {
    const result = assignLayer(layer, fl, where, skipMismatch);
    if (typeof result === "string") {
      console.warn(`warning: skipped ${result}`);
      report.skipped.push({ layer: layer.name, reason: result });
    } else {
      report.loaded.push(layer.name);
      report.arrays += result;
    }
  }
  return report;
}

/**
 * When the file sits in a folder written by `saveModel` (a `manifest.json`
 * recording its size and SHA-256), check it against that record: a byte
 * changed inside a weight leaves HDF5 readable, so only this finds it.
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

async function withSource<T>(source: Source, fn: (file: H5File, where: string) => T | Promise<T>): Promise<T> {
  let path: string;
  let temp: string | undefined;
  if (typeof source === "string") {
    path = source;
  } else {
    temp = await Deno.makeTempFile({ suffix: ".h5" });
    await Deno.writeFile(temp, source);
    path = temp;
  }
  try {
    if (!temp) await checkAgainstManifest(path);
    const file = await openH5(path, "r");
    try {
      return await fn(file, describe(source));
    } catch (err) {
      if (err instanceof WebAssembly.RuntimeError || /^Aborted\(/.test(String((err as Error)?.message))) {
        // HDF5 hit an internal assertion on the damaged file (h5wasm's abort()).
        throw new ModelFileError(
          `${describe(source)} is damaged: HDF5 gave up reading it (${(err as Error).message}). ` +
            `Fetch or copy the file again (or save the model again).`,
        );
      }
      if (err instanceof ModelFileError || err instanceof ModelFileError || !/HDF5|H5[A-Z]/.test(String(err))) {
        throw err;
      }
      // HDF5 failed while reading (a damaged part of the file), with h5wasm's throwing handler on.
      throw new ModelFileError(
        `${describe(source)} is damaged (HDF5: ${hdf5Reason(err)}): fetch or copy the file again ` +
          `(or save the model again).`,
      );
    } finally {
      try {
        file.close();
      } catch {
        // closing a damaged file may fail too; the error above says what matters
      }
    }
  } finally {
    if (temp) await Deno.remove(temp).catch(() => {});
  }
}

/**
 * Load the weights of a Keras `.h5` file into a model: a weights file
 * (`model.save_weights()`, e.g. the VGG16 ImageNet weights) or a whole-model
 * file (`model.save()`, weights under `model_weights`).
 *
 * By default the file's layers are matched to the model's by name, and every
 * layer of the file must exist in the model; the model may have more layers
 * (they keep their weights, listed in `notInFile`). Shapes must agree.
 *
 * @throws {ModelFileError} when the path is missing or not HDF5.
 * @throws {ModelFileError} for a missing layer or a shape mismatch, naming both.
 *
 * @example
 * ```ts
 * import { loadWeightsFromH5 } from "./keras_h5.ts";
 * import { vgg16 } from "./vgg16.ts";
 * const convBase = await vgg16({ weights: null, includeTop: false, inputShape: [150, 150, 3] });
 * const report = await loadWeightsFromH5(convBase, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5");
 * console.log(report.loaded.length); // 13
 * ```
 */
export function loadWeightsFromH5(
  model: tf.LayersModel,
  source: Source,
  options: LoadWeightsOptions = {},
): Promise<LoadWeightsReport> {
  return withSource(source, (file, where) => {
    const report = loadFromRoot(model, weightsRoot(file, where), where, options);
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

function optimizerFrom(spec: KerasOptimizerConfig): tf.Optimizer {
  const c = spec.config ?? {};
  const lr = Number(c.lr ?? c.learning_rate ?? NaN);
  const num = (key: string, fallback: number) => (typeof c[key] === "number" ? c[key] as number : fallback);
  if (num("decay", 0) !== 0) {
    console.warn(`warning: the file's ${spec.class_name} has decay=${c.decay}; TensorFlow.js ignores it.`);
  }
  switch (spec.class_name) {
    case "SGD":
      return num("momentum", 0) > 0
        ? tf.train.momentum(num("lr", 0.01), num("momentum", 0), Boolean(c.nesterov))
        : tf.train.sgd(Number.isNaN(lr) ? 0.01 : lr);
    case "RMSprop":
      return tf.train.rmsprop(Number.isNaN(lr) ? 0.001 : lr, num("rho", 0.9), 0, num("epsilon", 1e-7));
    case "Adam":
      return tf.train.adam(
        Number.isNaN(lr) ? 0.001 : lr,
        num("beta_1", 0.9),
        num("beta_2", 0.999),
        num("epsilon", 1e-7),
      );
    case "Adagrad":
      return tf.train.adagrad(Number.isNaN(lr) ? 0.01 : lr);
    case "Adadelta":
      return tf.train.adadelta(Number.isNaN(lr) ? 1 : lr, num("rho", 0.95), num("epsilon", 1e-7));
    case "Adamax":
      return tf.train.adamax(
        Number.isNaN(lr) ? 0.002 : lr,
        num("beta_1", 0.9),
        num("beta_2", 0.999),
        num("epsilon", 1e-7),
      );
    default:
      throw new ModelFileError(
        `the file's optimizer ${spec.class_name} has no TensorFlow.js counterpart here; ` +
          `load it with loadKerasModel(path, { compile: false }) and call model.compile() yourself.`,
      );
  }
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function compileFrom(model: tf.LayersModel, trainingConfig: string, where: string): void {
  const tc = JSON.parse(trainingConfig) as {
    optimizer_config: KerasOptimizerConfig;
    loss: string | Record<string, string>;
    metrics?: string[];
  };
  const hint = `load it with loadKerasModel(path, { compile: false }) and call model.compile() yourself`;
  if (typeof tc.loss !== "string") throw new ModelFileError(`${where}: per-output losses are not supported; ${hint}.`);
  const metrics = (tc.metrics ?? []).map((m) => (m === "accuracy" ? "acc" : camel(m)));
  try {
    model.compile({ optimizer: optimizerFrom(tc.optimizer_config), loss: camel(tc.loss), metrics });
  } catch (err) {
    if (err instanceof ModelFileError) throw err;
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
 * architecture from the root attribute `model_config` (Sequential or
 * functional `Model`, deserialized by TensorFlow.js, which reads Keras' JSON),
 * then every weight from `model_weights`, then, where the file has a
 * `training_config`, `compile()` with its optimizer, loss and metrics (the
 * optimizer's state, `optimizer_weights`, is not restored).
 *
 * @throws {ModelFileError} for a weights-only file (no `model_config`), or
 * layers that TensorFlow.js does not know.
 *
 * @example
 * ```ts
 * import { loadKerasModel } from "./keras_h5.ts";
 * const model = await loadKerasModel("../shared/fixtures/keras/dense_imdb.h5");
 * model.summary();
 * ```
 */
export function loadKerasModel(source: Source, options: LoadKerasModelOptions = {}): Promise<tf.LayersModel> {
  return withSource(source, async (file, where) => {
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
      throw new ModelFileError(
        `${where}: TensorFlow.js could not build the model of its "model_config" (Keras ${version}): ` +
          `${err instanceof Error ? err.message.split("\n")[0] : err}`,
      );
    }
    const report = loadFromRoot(model, weightsRoot(file, where), where, { byName: true });
    if (report.notInFile.length > 0) {
      throw new ModelFileError(`${where} lacks the weights of layers ${report.notInFile.join(", ")}.`);
    }
    const training = stringAttr(file, "training_config");
    if (training && (options.compile ?? true)) compileFrom(model, training, where);
    return model;
  });
}

function asciiStrings(values: string[]): [string[], string] {
  const width = Math.max(1, ...values.map((v) => new TextEncoder().encode(v).length)) + 1;
  return [values, `A${width}`];
}

function writeStringAttr(group: Group, name: string, value: string): void {
  group.create_attribute(name, value, [], `A${new TextEncoder().encode(value).length + 1}`);
}

function writeStringsAttr(group: Group, name: string, values: string[]): void {
  if (values.length === 0) {
    group.create_attribute(name, new Float64Array(0), [0]); // what Keras writes for an empty list
  } else {
    const [data, dtype] = asciiStrings(values);
    group.create_attribute(name, data, [data.length], dtype);
  }
}

/**
 * Save a model's weights in Keras' weights-file layout (`save_weights`):
 * root attributes `layer_names`, `backend`, `keras_version`; one group per
 * layer with the attribute `weight_names` (`<layer>/kernel:0`, ...), each
 * array a float32 dataset at `<layer>/<weight name>`. Keras reads it with
 * `model.load_weights(path)`; {@link loadWeightsFromH5} reads it back.
 * The file is written atomically (`writeAtomically`).
 *
 * @example
 * ```ts
 * import { saveWeightsToH5 } from "./keras_h5.ts";
 * import { mnistConvnet } from "./convnets.ts";
 * await saveWeightsToH5(mnistConvnet(), "data/mnist_convnet_weights.h5");
 * ```
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
  for (let i = 0; i < names.length; i++) {
    const parts = names[i].split("/");
    let parent = group;
    for (const part of parts.slice(0, -1)) {
      parent = (parent.keys().includes(part) ? parent.get(part) : parent.create_group(part)) as Group;
    }
    const variable = layer.weights[i];
    const data = await variable.read().data();
    parent.create_dataset({
      name: parts[parts.length - 1],
      data: data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>),
      shape: variable.shape as number[],
      dtype: "<f4",
    });
  }
}

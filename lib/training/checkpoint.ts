/**
 * Checkpoints for resumable training, like Keras' `BackupAndRestore`: after
 * every complete epoch, one file holds the model's weights, the optimizer's
 * state, the epochs done, the history and the data iterators' random state.
 * `fit(..., { checkpoint: "name" })` writes and reads them; running the same
 * cell again continues from the last complete epoch.
 *
 * A checkpoint is one file, `data/checkpoints/<profile>/<name>.ckpt`, written
 * atomically (a temporary file renamed into place), so a process killed while
 * writing leaves the previous epoch's checkpoint intact. Its layout: the line
 * `CH5CKPT1`, a 4-byte little-endian length, a JSON header, then the tensors'
 * bytes.
 *
 * @example
 * ```ts
 * import { checkpointPath, deleteCheckpoint } from "./checkpoint.ts";
 * console.log(checkpointPath("5.2-model1")); // …/data/checkpoints/quick/5.2-model1.ckpt
 * await deleteCheckpoint("5.2-model1"); // start that training from scratch next time
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname } from "node:path";
import { writeAtomically } from "../io/fs.ts";
import { dataPath, profile } from "../io/profile.ts";

/** Something whose random state and position can be saved and restored (a data iterator or its dataset). */
export interface Resumable {
  getState(): unknown;
  setState(state: unknown): void;
}

/** Whether `value` exposes {@link Resumable}'s two methods. */
export function isResumable(value: unknown): value is Resumable {
  const v = value as Partial<Resumable> | null | undefined;
  return typeof v?.getState === "function" && typeof v?.setState === "function";
}

/** Raised for a checkpoint that cannot be used: a bad name, a damaged file, or another model's. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

/** What a checkpoint holds besides the tensors. */
export interface CheckpointState {
  /** Complete epochs trained. */
  epochsDone: number;
  /** `epochs` of the fit call that wrote it. */
  epochs: number;
  /** History so far (as {@link History} of fit). */
  history: { epoch: number[]; history: Record<string, number[]>; seconds: number[] };
  /** `getState()` of the training data and of the validation data, when they have one. */
  dataState?: unknown;
  validationState?: unknown;
  /** When it was written (ISO 8601). */
  writtenAt: string;
}

interface TensorEntry {
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  offset: number;
  length: number;
}

interface Header extends CheckpointState {
  format: 1;
  model: string;
  signature: string[];
  optimizer: string;
  weights: TensorEntry[];
  optimizerWeights: TensorEntry[];
}

const MAGIC = "CH5CKPT1\n";
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * The file of checkpoint `name` for the current profile.
 *
 * @throws {CheckpointError} for a name that is not letters, digits, `.`, `_` or `-`.
 */
export function checkpointPath(name: string): string {
  if (!NAME.test(name) || name.includes("..")) {
    throw new CheckpointError(
      `Checkpoint name ${JSON.stringify(name)} is not usable as a file name: use letters, digits, ".", "_" and "-" ` +
        `(e.g. "5.2-model1").`,
    );
  }
  return dataPath("checkpoints", profile(), `${name}.ckpt`);
}

/** Remove checkpoint `name` (of the current profile), so that the next fit starts from scratch. */
export async function deleteCheckpoint(name: string): Promise<boolean> {
  try {
    await Deno.remove(checkpointPath(name));
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * A model's weight variables layer by layer (nested models included), in an
 * order that does not change when layers are frozen or unfrozen (unlike
 * `model.weights`, which puts trainable ones first).
 */
function modelWeights(model: tf.LayersModel): { variable: tf.LayerVariable; layer: tf.layers.Layer }[] {
  const out: { variable: tf.LayerVariable; layer: tf.layers.Layer }[] = [];
  const walk = (layer: tf.layers.Layer) => {
    const nested = (layer as unknown as { layers?: tf.layers.Layer[] }).layers;
    if (nested) nested.forEach(walk);
    else for (const variable of layer.weights) out.push({ variable, layer });
  };
  model.layers.forEach(walk);
  return out;
}

/**
 * What a checkpoint must match: each weight's layer class, short name and
 * shape, layer by layer, e.g. `Dense kernel [3,2]`. (Layer names are left
 * out: tfjs numbers them anew each time a cell builds the model.)
 */
function modelSignature(model: tf.LayersModel): string[] {
  return modelWeights(model).map(({ variable, layer }) =>
    `${layer.getClassName()} ${variable.originalName.split("/").pop()} ${JSON.stringify(variable.shape)}`
  );
}

async function packTensors(named: { name: string; tensor: tf.Tensor }[], chunks: Uint8Array[], offset: number) {
  const entries: TensorEntry[] = [];
  for (const { name, tensor } of named) {
    const dtype = tensor.dtype === "int32" ? "int32" : "float32";
    const values = dtype === "int32" ? Int32Array.from(await tensor.data()) : Float32Array.from(await tensor.data());
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    entries.push({ name, shape: tensor.shape, dtype, offset, length: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  return { entries, offset };
}

/**
 * Write a checkpoint of `model` (weights and optimizer state) with `state`,
 * atomically; returns its path.
 */
export async function saveCheckpoint(
  name: string,
  model: tf.LayersModel,
  state: Omit<CheckpointState, "writtenAt">,
): Promise<string> {
  const path = checkpointPath(name);
  const chunks: Uint8Array[] = [];
  const weights = await packTensors(
    modelWeights(model).map(({ variable }) => ({ name: variable.originalName, tensor: variable.read() })),
    chunks,
    0,
  );
  const optimizer = model.optimizer;
  const optimizerNamed = optimizer ? await optimizer.getWeights() : [];
  const optimizerWeights = await packTensors(optimizerNamed, chunks, weights.offset);
  // getWeights' iteration counter is a fresh scalar; the accumulators are the optimizer's own variables.
  if (optimizerNamed.length > 0) optimizerNamed[0].tensor.dispose();
  const header: Header = {
    format: 1,
    model: model.name,
    signature: modelSignature(model),
    optimizer: optimizer?.getClassName() ?? "",
    weights: weights.entries,
    optimizerWeights: optimizerWeights.entries,
    ...state,
    writtenAt: new Date().toISOString(),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const magic = new TextEncoder().encode(MAGIC);
  const out = new Uint8Array(magic.length + 4 + json.length + optimizerWeights.offset);
  out.set(magic, 0);
  new DataView(out.buffer).setUint32(magic.length, json.length, true);
  out.set(json, magic.length + 4);
  let at = magic.length + 4 + json.length;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeAtomically(path, out);
  return path;
}

function readHeader(bytes: Uint8Array, path: string): { header: Header; body: Uint8Array } {
  const magic = new TextEncoder().encode(MAGIC);
  const damaged = (why: string) =>
    new CheckpointError(`${path} is not a readable checkpoint (${why}): delete it to train from scratch.`);
  if (bytes.length < magic.length + 4 || !magic.every((b, i) => bytes[i] === b)) throw damaged("bad magic line");
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(magic.length, true);
  const start = magic.length + 4;
  if (start + length > bytes.length) throw damaged("truncated header");
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(start, start + length)));
  } catch {
    throw damaged("header is not JSON");
  }
  const body = bytes.subarray(start + length);
  const end = Math.max(0, ...[...header.weights, ...header.optimizerWeights].map((e) => e.offset + e.length));
  if (header.format !== 1 || end > body.length) throw damaged("truncated data");
  return { header, body };
}

function unpack(body: Uint8Array, entry: TensorEntry): tf.Tensor {
  const copy = body.slice(entry.offset, entry.offset + entry.length);
  const values = entry.dtype === "int32" ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  return tf.tensor(values, entry.shape, entry.dtype);
}

/**
 * Load checkpoint `name` into `model` (weights, then optimizer state) and
 * return its state, or `undefined` when there is none.
 *
 * @throws {CheckpointError} when the file is damaged or was written for a model with other layers or shapes.
 */
export async function loadCheckpoint(
  name: string,
  model: tf.LayersModel,
): Promise<(CheckpointState & { path: string }) | undefined> {
  const path = checkpointPath(name);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const { header, body } = readHeader(bytes, path);
  const mine = modelSignature(model);
  if (JSON.stringify(mine) !== JSON.stringify(header.signature)) {
    const diff = mine.find((s, i) => s !== header.signature[i]) ??
      `${mine.length} weights here, ${header.signature.length} in the file`;
    throw new CheckpointError(
      `Checkpoint ${path} was written for another model ("${header.model}"; first difference: ${diff}). ` +
        `Delete it (deleteCheckpoint(${JSON.stringify(name)})) to train this model from scratch, or use another ` +
        `checkpoint name.`,
    );
  }
  if (model.optimizer && header.optimizerWeights.length > 0) {
    const fix = `compile and freeze it as when the checkpoint was written, or delete it ` +
      `(deleteCheckpoint(${JSON.stringify(name)})) to train from scratch.`;
    if (model.optimizer.getClassName() !== header.optimizer) {
      throw new CheckpointError(
        `Checkpoint ${path} holds ${header.optimizer} state, but the model is compiled with ` +
          `${model.optimizer.getClassName()}: ${fix}`,
      );
    }
    // The optimizer's slots follow the trainable weights by position: the same trainable set is needed.
    const trainable = model.trainableWeights.map((w) => JSON.stringify(w.shape));
    const slots = header.optimizerWeights.slice(1);
    if (
      slots.length > 0 &&
      (slots.length % trainable.length !== 0 ||
        slots.some((e, i) => JSON.stringify(e.shape) !== trainable[i % trainable.length]))
    ) {
      throw new CheckpointError(
        `Checkpoint ${path} holds optimizer state for other trainable weights than this model has now ` +
          `(${trainable.length} trainable): ${fix}`,
      );
    }
  }
  const weights = header.weights.map((e) => unpack(body, e));
  modelWeights(model).forEach(({ variable }, i) => variable.write(weights[i]));
  tf.dispose(weights);
  if (model.optimizer && header.optimizerWeights.length > 0) {
    const named = header.optimizerWeights.map((e) => ({ name: e.name, tensor: unpack(body, e) }));
    await model.optimizer.setWeights(named);
    tf.dispose(named.map((n) => n.tensor));
  }
  const { epochsDone, epochs, history, dataState, validationState, writtenAt } = header;
  return { epochsDone, epochs, history, dataState, validationState, writtenAt, path };
}

/**
 * Checkpoints for resumable training, like Keras' `BackupAndRestore`: after
 * each complete epoch `fit(..., { checkpoint: "name" })` writes the weights,
 * the optimizer's state, the history and the data iterators' state to one
 * file, and running the cell again continues from it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { CheckpointError } from "../io/errors.ts";
import { describeFsError, writeAtomically } from "../io/fs.ts";
import { bytesRecord, differs } from "../io/integrity.ts";
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

/**
 * What a checkpoint holds besides the tensors: complete epochs trained, `epochs` of the fit call that wrote it,
 * the history so far, `getState()` of the training and validation data (when they have one), when it was written.
 */
export interface CheckpointState {
  epochsDone: number;
  epochs: number;
  history: { epoch: number[]; history: Record<string, number[]>; seconds: number[] };
  dataState?: unknown;
  validationState?: unknown;
  writtenAt: string;
}

interface Header extends CheckpointState {
  format: 2;
  model: string;
  /** Per weight (layer by layer): layer class, short name and shape, e.g. `Dense kernel [3,2]`. */
  signature: string[];
  /** Per weight: whether it was trainable. */
  trainable: boolean[];
  optimizer: string;
  /** The optimizer's weight names (its tensors follow the model's in `specs`). */
  optimizerNames: string[];
  specs: tf.io.WeightsManifestEntry[];
}

const MAGIC = "CH5CKPT2";
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
  return await Deno.remove(checkpointPath(name)).then(() => true, (err) => {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  });
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

/** Per weight of {@link modelWeights}: whether training changes it (`LayerVariable.trainable` is not kept up to date). */
function trainableFlags(model: tf.LayersModel): boolean[] {
  const trainable = new Set(model.trainableWeights);
  return modelWeights(model).map(({ variable }) => trainable.has(variable));
}

/** Each weight's layer class, short name and shape (layer names are left out: tfjs renumbers them per build). */
function modelSignature(model: tf.LayersModel): string[] {
  return modelWeights(model).map(({ variable, layer }) =>
    `${layer.getClassName()} ${variable.originalName.split("/").pop()} ${JSON.stringify(variable.shape)}`
  );
}

/**
 * Write a checkpoint of `model` (weights and optimizer state) with `state` to
 * `data/checkpoints/<profile>/<name>.ckpt`, atomically (a killed write leaves
 * the previous epoch's file); returns its path. The layout: the line
 * `CH5CKPT2`, the integrity record (size, SHA-256) of the rest, a JSON header
 * (state, trainable flags, tensor specs), the tensors of `tf.io.encodeWeights`.
 *
 * @throws {CheckpointError} when it cannot be written (a full disk, a file where the folder goes), naming the fix.
 */
export async function saveCheckpoint(
  name: string,
  model: tf.LayersModel,
  state: Omit<CheckpointState, "writtenAt">,
): Promise<string> {
  const path = checkpointPath(name);
  const weights = modelWeights(model);
  const optimizerWeights = model.optimizer ? await model.optimizer.getWeights() : [];
  const { data, specs } = await tf.io.encodeWeights([
    ...weights.map(({ variable }, i) => ({ name: `w${i}`, tensor: variable.read() })),
    ...optimizerWeights.map(({ tensor }, i) => ({ name: `o${i}`, tensor })),
  ]);
  // getWeights' iteration counter is a fresh scalar; the accumulators are the optimizer's own variables.
  if (optimizerWeights.length > 0) optimizerWeights[0].tensor.dispose();
  const header: Header = {
    format: 2,
    model: model.name,
    signature: modelSignature(model),
    trainable: trainableFlags(model),
    optimizer: model.optimizer?.getClassName() ?? "",
    optimizerNames: optimizerWeights.map((w) => w.name),
    specs,
    ...state,
    writtenAt: new Date().toISOString(),
  };
  const rest = new Uint8Array(await new Blob([JSON.stringify(header) + "\n", data]).arrayBuffer());
  const file = new Uint8Array(await new Blob([`${MAGIC}\n${JSON.stringify(bytesRecord(rest))}\n`, rest]).arrayBuffer());
  await writeAtomically(path, file).catch((err) => {
    const why = describeFsError(err, path) ?? String(err);
    throw new CheckpointError(
      `cannot write checkpoint ${path}: ${why} Training cannot be resumed from this epoch; fix that (or set ` +
        `CH5_DATA_DIR to another folder), or train without checkpoint.`,
      { cause: err },
    );
  });
  return path;
}

/** The lines of a checkpoint file, checked: its header (validated) and the tensors' bytes. */
function readFile(bytes: Uint8Array, path: string): { header: Header; body: Uint8Array } {
  const damaged = (why: string) =>
    new CheckpointError(`${path} is not a readable checkpoint (${why}): delete it to train from scratch.`);
  const line = (from: number) => {
    const end = bytes.indexOf(10, from);
    if (end < 0) throw damaged("truncated");
    return { text: new TextDecoder().decode(bytes.subarray(from, end)), next: end + 1 };
  };
  const magic = line(0);
  if (magic.text !== MAGIC) {
    throw damaged(magic.text === "CH5CKPT1" ? "written by an older version of the workbook" : "bad magic line");
  }
  const recordLine = line(magic.next);
  let record: { size?: number; sha256?: string } | null = null;
  try {
    record = JSON.parse(recordLine.text);
  } catch { /* reported below */ }
  const rest = bytes.subarray(recordLine.next);
  const wrong = typeof record?.sha256 === "string" ? differs(bytesRecord(rest), record) : "no integrity record";
  if (wrong) throw damaged(`damaged: ${wrong}`);
  const headerLine = line(recordLine.next);
  let header: unknown;
  try {
    header = JSON.parse(headerLine.text);
  } catch {
    throw damaged("its header is not JSON");
  }
  const body = bytes.subarray(headerLine.next);
  const problem = headerProblem(header, body.length);
  if (problem) throw damaged(problem);
  return { header: header as Header, body };
}

/** What is wrong with a parsed header, or `undefined` when it fits a body of `bodySize` bytes. */
function headerProblem(h: unknown, bodySize: number): string | undefined {
  const header = h as Partial<Header> | null;
  if (!header || typeof header !== "object" || header.format !== 2) return "its header is not a checkpoint header";
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string");
  const n = header.signature?.length ?? -1;
  if (!strings(header.signature) || !Array.isArray(header.trainable) || header.trainable.length !== n) {
    return "its header has no weight list";
  }
  if (
    !strings(header.optimizerNames) || !Array.isArray(header.specs) ||
    header.specs.length !== n + header.optimizerNames!.length
  ) {
    return "its header lists other tensors than it holds";
  }
  let bytes = 0;
  for (const [i, spec] of header.specs.entries()) {
    if (spec?.name !== (i < n ? `w${i}` : `o${i - n}`)) {
      return `its header names tensor ${i} ${JSON.stringify(spec?.name)}`;
    }
    const ok = spec && typeof spec.name === "string" && (spec.dtype === "float32" || spec.dtype === "int32") &&
      Array.isArray(spec.shape) && spec.shape.every((d) => Number.isInteger(d) && d >= 0);
    if (!ok) return `its header describes a tensor it cannot hold: ${JSON.stringify(spec)?.slice(0, 100)}`;
    bytes += 4 * spec.shape.reduce((a, b) => a * b, 1);
  }
  if (bytes !== bodySize) return `its header describes ${bytes} bytes of tensors, the file holds ${bodySize}`;
  const history = header.history;
  const whole = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  if (
    !whole(header.epochsDone) || !whole(header.epochs) || !Array.isArray(history?.epoch) ||
    !Array.isArray(history?.seconds) || typeof history?.history !== "object" || history.history === null
  ) {
    return "its header has no epochs and history";
  }
  return undefined;
}

/** Refuse a checkpoint written for another model, another optimizer, or other frozen layers. */
function checkFits(header: Header, model: tf.LayersModel, path: string, name: string): void {
  const again = `delete it (deleteCheckpoint(${JSON.stringify(name)})) to train from scratch`;
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
  const now = trainableFlags(model);
  const changed = now.findIndex((flag, i) => flag !== header.trainable[i]);
  if (changed >= 0) {
    const { layer } = modelWeights(model)[changed];
    const state = (trainable: boolean) => trainable ? "trainable" : "frozen";
    throw new CheckpointError(
      `Checkpoint ${path} was written with layer "${layer.name}" (${layer.getClassName()}) ` +
        `${state(header.trainable[changed])}, and it is ${state(now[changed])} now: the optimizer's state would ` +
        `land on other weights. ` +
        `Freeze the same layers as when it was written, or ${again}.`,
    );
  }
  if (model.optimizer && header.optimizerNames.length > 0 && model.optimizer.getClassName() !== header.optimizer) {
    throw new CheckpointError(
      `Checkpoint ${path} holds ${header.optimizer} state, but the model is compiled with ` +
        `${model.optimizer.getClassName()}: compile it as when the checkpoint was written, or ${again}.`,
    );
  }
  // The optimizer's slots (after its iteration count) follow the trainable weights by position.
  const shapes = model.trainableWeights.map((w) => JSON.stringify(w.shape));
  const slots = header.specs.slice(header.signature.length + 1).map((s) => JSON.stringify(s.shape));
  if (
    slots.length > 0 && (slots.length % shapes.length !== 0 || slots.some((s, i) => s !== shapes[i % shapes.length]))
  ) {
    throw new CheckpointError(
      `Checkpoint ${path} holds optimizer state for other trainable weights than this model has ` +
        `(${shapes.length} trainable): compile and freeze it as when the checkpoint was written, or ${again}.`,
    );
  }
}

/**
 * Load checkpoint `name` into `model` (weights, then optimizer state) and
 * return its state, or `undefined` when there is none.
 *
 * @throws {CheckpointError} when the file is damaged, or was written for a
 * model with other layers, shapes, frozen layers or optimizer; nothing is applied then.
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
    throw new CheckpointError(`cannot read checkpoint ${path}: ${describeFsError(err, path) ?? err}`, { cause: err });
  }
  const { header, body } = readFile(bytes, path);
  checkFits(header, model, path, name);
  const tensors = tf.io.decodeWeights(body.slice().buffer, header.specs);
  modelWeights(model).forEach(({ variable }, i) => variable.write(tensors[`w${i}`]));
  if (model.optimizer && header.optimizerNames.length > 0) {
    await model.optimizer.setWeights(header.optimizerNames.map((name, i) => ({ name, tensor: tensors[`o${i}`] })));
  }
  tf.dispose(Object.values(tensors));
  const { epochsDone, epochs, history, dataState, validationState, writtenAt } = header;
  return { epochsDone, epochs, history, dataState, validationState, writtenAt, path };
}

/**
 * Train and evaluate like Keras' `model.fit` / `fit_generator` / `evaluate`:
 * a progress line per epoch and a Keras-shaped `History`. Each step is
 * `model.trainOnBatch` (or `evaluate` on one batch) in a loop of this module,
 * so that Jupyter's Interrupt stops training, validation and evaluation within
 * a step, as `KeyboardInterrupt` stops Keras ({@link TrainingInterrupted}).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { fit } from "./fit.ts";
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
 * model.compile({ optimizer: "sgd", loss: "meanSquaredError" });
 * const history = await fit(model, { x: tf.ones([8, 2]), y: tf.ones([8, 1]) }, { epochs: 2, batchSize: 4 });
 * history.history.loss.length; // 2
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { inJupyter, print } from "../notebook/display.ts";
import { interruptible, KeyboardInterrupt, letInterruptIn } from "../notebook/interrupt.ts";
import { LiveCurves, type TrainingCurvesOptions } from "../notebook/curves.ts";
import { type Metrics, Progress } from "../notebook/progress.ts";
import { deleteCheckpoint, isResumable, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";

/** Tensors to fit on, like Keras' `x` and `y`. */
export interface TensorData {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** Something that makes a dataset of batches, like a `DirectoryIterator` (Keras' generators). */
export interface DatasetSource {
  toDataset(): tf.data.Dataset<tf.TensorContainer>;
}

/**
 * Anything {@link fit} and {@link evaluate} read: tensors, an (endless)
 * dataset of `{xs, ys}` batches, or an iterator with `toDataset()` (as Keras'
 * `fit_generator(train_generator, validation_data=validation_generator)`).
 */
export type FitData = TensorData | tf.data.Dataset<tf.TensorContainer> | DatasetSource;

/** Where Interrupt stopped a training, 1-based as printed: the epoch, its last step done of `steps`, and in validation. */
export interface StoppedAt {
  epoch: number;
  step: number;
  steps: number;
  validation?: { step: number; steps: number };
}

/**
 * Keras' `History`: the complete epochs (0-based), each metric per epoch
 * (`loss`, `acc`, `val_loss`, …), seconds per epoch; why training ended early
 * (`until`), where Interrupt stopped it, and the epochs restored from a checkpoint.
 */
export interface History {
  epoch: number[];
  history: Record<string, number[]>;
  seconds: number[];
  stopped?: string;
  interrupted?: StoppedAt;
  resumedFrom?: number;
}

/**
 * Options of {@link fit}: `batchSize` for tensor data (default 32), `stepsPerEpoch` and `validationSteps` for
 * datasets (required: the iterators are endless), `validationData` evaluated after each epoch, `shuffle` tensor
 * data each epoch (default true), `verbose` 1 (a progress line per epoch, the default) or 0.
 */
export interface FitOptions {
  epochs: number;
  batchSize?: number;
  stepsPerEpoch?: number;
  validationData?: FitData;
  validationSteps?: number;
  shuffle?: boolean;
  verbose?: 0 | 1;
  /** Be done by then: after an epoch, stop when one more (at the mean epoch time) would end later ({@link History.stopped}). */
  until?: Date;
  /**
   * Keras' `BackupAndRestore`: after each epoch, checkpoint `name` keeps the weights, optimizer state, history and
   * the data's random state (`getState()`/`setState()`); when it exists, fit resumes from it and says so. It is
   * deleted when all epochs are done; `deleteCheckpoint(name)` starts again.
   */
  checkpoint?: string;
  /** Draw the book's accuracy and loss figures after each epoch, in place (`true`, or `trainingCurves`' options). */
  curves?: boolean | TrainingCurvesOptions;
}

/** Interrupt stopped {@link fit}: a `KeyboardInterrupt` that carries the History of the complete epochs. */
export class TrainingInterrupted extends KeyboardInterrupt {
  constructor(message: string, readonly history: History) {
    super(message);
  }
}

type Batch = { xs: tf.Tensor; ys: tf.Tensor };
/** Where a loop's batches come from: `steps` of them per pass, each disposed by whoever takes it. */
type Feed = { steps: number; next(): Promise<Batch> };
/** Interrupt came after `step` steps of a loop; fit says `at` which of its own (internal). */
class Stopped extends Error {
  at?: StoppedAt;
  constructor(readonly step: number, readonly means: number[]) {
    super("stopped");
  }
}

function isDataset(data: unknown): data is tf.data.Dataset<tf.TensorContainer> {
  return typeof (data as tf.data.Dataset<tf.TensorContainer> | undefined)?.iterator === "function";
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The dataset of an iterator (`toDataset()`), else `data` itself. */
function resolve(data: FitData): TensorData | tf.data.Dataset<tf.TensorContainer> {
  const source = data as Partial<DatasetSource>;
  return typeof source.toDataset === "function" && !isDataset(data) ? source.toDataset() : data as TensorData;
}

/** Tensor data in batches, the whole of it each pass, shuffled each pass when asked (as tfjs' fit, Math.random). */
function tensorFeed({ x, y }: TensorData, batchSize: number, shuffle: boolean): Feed {
  const n = x.shape[0];
  let order: Uint32Array | undefined, position = n;
  return {
    steps: Math.ceil(n / batchSize),
    next: () => {
      if (position >= n) [order, position] = [shuffle ? tf.util.createShuffledIndices(n) : undefined, 0];
      const start = position, size = Math.min(batchSize, n - start);
      position += size;
      return Promise.resolve(tf.tidy(() => {
        if (!order) return { xs: x.slice(start, size), ys: y.slice(start, size) };
        const index = tf.tensor1d(Int32Array.from(order.subarray(start, start + size)), "int32");
        return { xs: tf.gather(x, index), ys: tf.gather(y, index) };
      }));
    },
  };
}

/** A dataset's batches, one iterator for all passes (an endless iterator goes on where it was, as in Keras). */
async function datasetFeed(data: tf.data.Dataset<tf.TensorContainer>, steps: number, what: string): Promise<Feed> {
  const iterator = await data.iterator();
  return {
    steps,
    next: async () => {
      const { value, done } = await iterator.next();
      const batch = value as Partial<Batch> | undefined;
      if (done || !(batch?.xs instanceof tf.Tensor && batch.ys instanceof tf.Tensor)) {
        throw new Error(
          `${what}: the dataset ${done ? "ran out of batches" : "gave something else than {xs, ys} tensors"}. ` +
            "Use an endless iterator (flowFromDirectory) or a tf.data dataset of {xs, ys} with .repeat().",
        );
      }
      return batch as Batch;
    },
  };
}

/** The feed of `data`: `steps` batches a pass for a dataset (required: `needs` says so), or all the tensors. */
function feedOf(data: FitData, steps: number | undefined, batchSize: number, shuffle: boolean, needs: string) {
  const resolved = resolve(data);
  if (!isDataset(resolved)) return Promise.resolve(tensorFeed(resolved, batchSize, shuffle));
  if (!steps) throw new Error(`${needs}: the iterators are endless.`);
  return datasetFeed(resolved, steps, needs.split(" ")[0]);
}

async function trainStep(model: tf.LayersModel, { xs, ys }: Batch): Promise<number[]> {
  try {
    return [await model.trainOnBatch(xs, ys)].flat();
  } finally {
    tf.dispose([xs, ys]);
  }
}

async function testStep(model: tf.LayersModel, { xs, ys }: Batch): Promise<number[]> {
  const scalars = [model.evaluate(xs, ys, { batchSize: xs.shape[0] })].flat();
  try {
    return await Promise.all(scalars.map(async (s) => (await s.data())[0]));
  } finally {
    tf.dispose([...scalars, xs, ys]);
  }
}

/**
 * Run one pass of `feed` through `step`; returns each metric's mean,
 * weighted by batch size as Keras does. Throws {@link Stopped} when Interrupt
 * came before the last step; `onStep` sees the running means after each step.
 */
async function pass(
  model: tf.LayersModel,
  feed: Feed,
  step: typeof trainStep,
  signal: AbortSignal,
  onStep?: (done: number, means: number[]) => Promise<void> | undefined,
): Promise<number[]> {
  const sums: number[] = [];
  let seen = 0;
  for (let i = 1; i <= feed.steps; i++) {
    const batch = await feed.next();
    const size = batch.xs.shape[0];
    (await step(model, batch)).forEach((v, k) => sums[k] = (sums[k] ?? 0) + v * size);
    seen += size;
    const means = sums.map((s) => s / seen);
    await onStep?.(i, means);
    if (i < feed.steps && await letInterruptIn(signal)) throw new Stopped(i, means); // the caller checks after the last
  }
  return sums.map((s) => s / seen);
}

const named = (names: string[], values: number[], prefix = ""): Metrics =>
  Object.fromEntries(values.map((v, i) => [`${prefix}${names[i] ?? `m${i}`}`, v]));

/** Restore checkpoint `name` into `model`, `history` and the data; returns the epochs done (0 when none). */
async function resume(model: tf.LayersModel, history: History, data: FitData, options: FitOptions): Promise<number> {
  const name = options.checkpoint!;
  const saved = await loadCheckpoint(name, model);
  if (!saved) return 0;
  history.epoch = [...saved.history.epoch];
  history.history = Object.fromEntries(Object.entries(saved.history.history).map(([k, v]) => [k, [...v]]));
  history.seconds = [...saved.history.seconds];
  history.resumedFrom = saved.epochsDone;
  const notes: string[] = [];
  for (
    const [what, source, state] of [
      ["training data", data, saved.dataState],
      ["validation data", options.validationData, saved.validationState],
    ] as const
  ) {
    if (state === undefined) continue;
    if (isResumable(source)) source.setState(state);
    else notes.push(`the ${what} has no setState(): its batches differ from an uninterrupted run`);
  }
  if ("x" in data && (options.shuffle ?? true)) {
    notes.push("tensor data is shuffled with Math.random: the batch order differs from an uninterrupted run");
  }
  if (options.verbose ?? 1) {
    const plan = saved.epochsDone < options.epochs
      ? `training continues at epoch ${saved.epochsDone + 1}/${options.epochs}`
      : "nothing left to train (weights and history restored, the checkpoint removed)";
    await print(
      `Resuming "${name}" from its checkpoint: ${plural(saved.epochsDone, "epoch")} done ` +
        `(${saved.path}, written ${saved.writtenAt}); ${plan}.` + (notes.length ? ` Note: ${notes.join("; ")}.` : ""),
    );
  }
  return saved.epochsDone;
}

/** The sentence fit prints when Interrupt stopped it. */
function interruptedText(at: StoppedAt, history: History, options: FitOptions): string {
  const epoch = `epoch ${at.epoch}/${options.epochs}`;
  const [where, weights] = at.validation
    ? [`${epoch}, validation step ${at.validation.step}/${at.validation.steps}`, "of the epoch's last step"]
    : at.step < at.steps
    ? [`${epoch}, step ${at.step}/${at.steps}`, "as of that step"]
    : [`the end of ${epoch}`, `of ${epoch}`];
  const kept = history.epoch.length
    ? `model.history holds the ${plural(history.epoch.length, "complete epoch")}` +
      (options.checkpoint ? ` (so does checkpoint "${options.checkpoint}": run the cell again to resume)` : "")
    : "no epoch was complete";
  return `Interrupted at ${where}. The model keeps its weights ${weights}; ${kept}.`;
}

/** After a complete epoch: the History, the progress line, the checkpoint, the curves, the time budget. */
async function endEpoch(
  model: tf.LayersModel,
  history: History,
  logs: Metrics,
  seconds: number,
  options: FitOptions & { data?: FitData },
  live?: LiveCurves,
): Promise<void> {
  const done = history.epoch.push(history.epoch.length);
  history.seconds.push(seconds);
  for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
  if (options.checkpoint) {
    await saveCheckpoint(options.checkpoint, model, {
      epochsDone: done,
      epochs: options.epochs,
      history: { epoch: history.epoch, history: history.history, seconds: history.seconds },
      dataState: isResumable(options.data) ? options.data.getState() : undefined,
      validationState: isResumable(options.validationData) ? options.validationData.getState() : undefined,
    });
  }
  await live?.update(history);
  const meanMs = (history.seconds.reduce((a, b) => a + b, 0) / history.seconds.length) * 1000;
  if (options.until && done < options.epochs && Date.now() + meanMs > options.until.getTime()) {
    history.stopped = `stopped after ${done} of ${options.epochs} epochs: one more would end after ` +
      `${options.until.toISOString()}`;
    if (options.verbose ?? 1) await print(history.stopped);
  }
}

/** Train the epochs left from `feed` (and validate on `validation`); on Interrupt, throws {@link Stopped}. */
async function trainEpochs(
  model: tf.LayersModel,
  history: History,
  [feed, validation]: [Feed, Feed | undefined],
  options: FitOptions,
  signal: AbortSignal,
  live: LiveCurves | undefined,
): Promise<void> {
  const names = model.metricsNames;
  for (let epoch = history.epoch.length; epoch < options.epochs && !history.stopped; epoch++) {
    const started = performance.now();
    const label = `Epoch ${epoch + 1}/${options.epochs}`;
    const bar = options.verbose ?? 1 ? await Progress.start({ total: feed.steps, label }) : undefined;
    let logs: Metrics | undefined;
    try {
      logs = named(names, await pass(model, feed, trainStep, signal, (i, m) => bar?.update(i, named(names, m))));
      if (validation) Object.assign(logs, named(names, await pass(model, validation, testStep, signal), "val_"));
    } catch (error) {
      if (!(error instanceof Stopped)) throw error;
      const where = { epoch: epoch + 1, step: feed.steps, steps: feed.steps };
      error.at = logs
        ? { ...where, validation: { step: error.step, steps: validation!.steps } }
        : { ...where, step: error.step };
      await bar?.done(logs ?? named(names, error.means), error.at.step);
      throw error;
    }
    await bar?.done(logs, feed.steps);
    await endEpoch(model, history, logs, (performance.now() - started) / 1000, options, live);
    if (await letInterruptIn(signal, true)) {
      throw Object.assign(new Stopped(feed.steps, []), {
        at: { epoch: epoch + 1, step: feed.steps, steps: feed.steps },
      });
    }
  }
}

/**
 * Train `model` (already compiled) and return its {@link History}, which is
 * also `model.history` (as in Keras), updated after every epoch.
 *
 * In a Jupyter kernel, Interrupt (SIGINT) stops the training within a step
 * (of training or validation): fit prints where it stopped and throws
 * {@link TrainingInterrupted}; the model keeps its weights, `model.history`
 * (and the error's `history`) the complete epochs, and `checkpoint` the same,
 * so running the cell again resumes. Outside fit, Interrupt behaves as before.
 *
 * @throws {Error} for a dataset without `stepsPerEpoch`, or a validation dataset without `validationSteps`.
 * @throws {TrainingInterrupted} when Interrupt stopped it.
 * @throws {CheckpointError} when `checkpoint` names a damaged file or another model's.
 */
export async function fit(model: tf.LayersModel, input: FitData, givenOptions: FitOptions): Promise<History> {
  const data = resolve(input);
  const validationData = givenOptions.validationData && resolve(givenOptions.validationData);
  const options = { ...givenOptions, validationData, data };
  const batchSize = options.batchSize ?? 32;
  const feeds: [Feed, Feed | undefined] = [
    await feedOf(
      data,
      options.stepsPerEpoch,
      batchSize,
      options.shuffle ?? true,
      "fit() on a dataset needs stepsPerEpoch (Keras' steps_per_epoch)",
    ),
    validationData &&
    await feedOf(
      validationData,
      options.validationSteps,
      batchSize,
      false,
      "fit() with a validation dataset needs validationSteps (Keras' validation_steps)",
    ),
  ];
  const history: History = { epoch: [], history: {}, seconds: [] };
  (model as unknown as { history: History }).history = history; // Keras' model.history, kept on any error
  if (options.checkpoint) await resume(model, history, data, options);
  const live = options.curves && inJupyter()
    ? new LiveCurves(options.curves === true ? {} : options.curves)
    : undefined;
  if (live && history.epoch.length > 0) await live.update(history);
  else if (live && history.epoch.length < options.epochs) await live.reserve();
  try {
    await interruptible((signal) => trainEpochs(model, history, feeds, options, signal, live));
  } catch (error) {
    if (!(error instanceof Stopped && error.at)) throw error;
    history.interrupted = error.at;
    const text = interruptedText(error.at, history, options);
    if (options.verbose ?? 1) await print(text);
    throw new TrainingInterrupted(text.split(". ")[0], history);
  }
  // Done: like Keras' BackupAndRestore, the backup goes (a finished training is not resumed; save the model).
  if (options.checkpoint && history.epoch.length >= options.epochs) await deleteCheckpoint(options.checkpoint);
  return history;
}

/**
 * Evaluate `model` like Keras' `evaluate` / `evaluate_generator` and return
 * `{loss, <metric>...}` by the model's metric names. Interrupt stops it
 * within a step, with a `KeyboardInterrupt`.
 *
 * @param options.steps batches to read from a dataset (required for endless ones).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { evaluate } from "./fit.ts";
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
 * model.compile({ optimizer: "sgd", loss: "meanSquaredError" });
 * const { loss } = await evaluate(model, { x: tf.ones([8, 2]), y: tf.ones([8, 1]) });
 * ```
 */
export async function evaluate(
  model: tf.LayersModel,
  input: FitData,
  options: { batchSize?: number; steps?: number } = {},
): Promise<Metrics> {
  const feed = await feedOf(
    input,
    options.steps,
    options.batchSize ?? 32,
    false,
    "evaluate() on a dataset needs steps",
  );
  try {
    return named(
      model.metricsNames,
      await interruptible(async (signal) => {
        const means = await pass(model, feed, testStep, signal);
        if (await letInterruptIn(signal, true)) throw new Stopped(feed.steps, means);
        return means;
      }),
    );
  } catch (error) {
    if (!(error instanceof Stopped)) throw error;
    throw new KeyboardInterrupt(`Interrupted after step ${error.step}/${feed.steps} of evaluate()`);
  }
}

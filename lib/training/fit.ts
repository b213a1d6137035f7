/**
 * Train and evaluate like Keras' `model.fit` / `fit_generator` / `evaluate`,
 * with one live progress line per epoch and a Keras-shaped `History`.
 *
 * In a notebook, Jupyter's Interrupt stops {@link fit} after the current step
 * and keeps the kernel ({@link FitOptions}); `checkpoint` makes a training
 * resumable across kernels and sittings (Keras' `BackupAndRestore`); `curves`
 * draws the accuracy and loss figures live.
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
import { interruptible, yieldToEventLoop } from "../notebook/interrupt.ts";
import { LiveCurves, type TrainingCurvesOptions } from "../notebook/curves.ts";
import { type Metrics, Progress } from "../notebook/progress.ts";
import { deleteCheckpoint, isResumable, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";

/** Tensors to fit on, like Keras' `x` and `y`. */
export interface TensorData {
  x: tf.Tensor | tf.Tensor[];
  y: tf.Tensor | tf.Tensor[];
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

type Resolved = TensorData | tf.data.Dataset<tf.TensorContainer>;

/** The dataset of an iterator, else `data` itself. */
function resolve<T extends FitData | undefined>(data: T): Exclude<T, DatasetSource> | Resolved {
  const source = data as Partial<DatasetSource> | undefined;
  if (source && typeof source.toDataset === "function" && !isDataset(data as Resolved)) return source.toDataset();
  return data as Exclude<T, DatasetSource>;
}

/** Where Interrupt stopped a training (1-based, as printed). */
export interface StoppedAt {
  /** The epoch that was running, 1…epochs. */
  epoch: number;
  /** The last step done in it, 1…steps. */
  step: number;
  /** Steps in an epoch. */
  steps: number;
}

/** What Keras' `History` holds: the epochs and each metric's value per epoch. */
export interface History {
  /** Epoch numbers, 0-based as in Keras; only complete epochs. */
  epoch: number[];
  /** `loss`, `acc`, `val_loss`, `val_acc`, …: one value per epoch. */
  history: Record<string, number[]>;
  /** Wall-clock seconds of each epoch (training and validation). */
  seconds: number[];
  /** Why training ended before `epochs`, when it did (see {@link FitOptions.until}). */
  stopped?: string;
  /** Set when Interrupt stopped the training: where. */
  interrupted?: StoppedAt;
  /** Epochs restored from the checkpoint before this call trained (see {@link FitOptions.checkpoint}). */
  resumedFrom?: number;
}

/** Options of {@link fit}. */
export interface FitOptions {
  epochs: number;
  /** Batch size for tensor data (default 32, as Keras). */
  batchSize?: number;
  /** Batches per epoch for a dataset (Keras' `steps_per_epoch`); required when the dataset is endless. */
  stepsPerEpoch?: number;
  /** Data evaluated at the end of each epoch. */
  validationData?: FitData;
  /** Batches of a validation dataset per evaluation (Keras' `validation_steps`). */
  validationSteps?: number;
  /** Fraction of tensor data kept aside for validation. */
  validationSplit?: number;
  /** Shuffle tensor data each epoch (default true). */
  shuffle?: boolean;
  /** 1: a progress line per epoch (default); 0: silent. */
  verbose?: 0 | 1;
  /**
   * A time to be done by: after each epoch, training stops when one more
   * epoch (at the mean epoch time so far) would end later. At least one epoch
   * runs; {@link History.stopped} then says how many did.
   */
  until?: Date;
  /**
   * Make the training resumable (Keras' `BackupAndRestore`): after every
   * complete epoch, checkpoint `name` (`data/checkpoints/<profile>/<name>.ckpt`)
   * is written atomically with the weights, the optimizer state, the history
   * and the data's random state (when `data` / `validationData` have
   * `getState()`/`setState()`). When it exists, fit first loads it, says so,
   * and trains only the epochs left. When all epochs are done it is deleted,
   * as Keras does: it is for trainings cut short (Interrupt, a lost kernel,
   * `until`); save a finished model with `saveModel`. Delete it with
   * `deleteCheckpoint(name)` to start again.
   */
  checkpoint?: string;
  /**
   * Draw the book's accuracy and loss figures in the notebook after each
   * epoch, updated in place (default false: the book draws them after `fit`
   * in a listing of its own). `true`, or the options of `trainingCurves`.
   * Outside Jupyter it does nothing.
   */
  curves?: boolean | TrainingCurvesOptions;
  /** More tfjs callbacks. */
  callbacks?: tf.CustomCallbackArgs;
}

/** Metrics in Keras' order: training ones first, then `val_` ones. */
function kerasOrder(logs: Metrics): Metrics {
  const keys = Object.keys(logs);
  const ordered = [...keys.filter((k) => !k.startsWith("val_")), ...keys.filter((k) => k.startsWith("val_"))];
  return Object.fromEntries(ordered.map((k) => [k, logs[k]]));
}

function isDataset(data: Resolved): data is tf.data.Dataset<tf.TensorContainer> {
  return typeof (data as tf.data.Dataset<tf.TensorContainer>).iterator === "function";
}

function firstDim(t: tf.Tensor | tf.Tensor[]): number {
  return (Array.isArray(t) ? t[0] : t).shape[0];
}

function validationArg(data: Resolved | undefined) {
  if (!data || isDataset(data)) return data;
  return [data.x, data.y] as [tf.Tensor | tf.Tensor[], tf.Tensor | tf.Tensor[]];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Restore checkpoint `name` into `model`, `history` and the data; returns the epochs done (0 when none). */
async function resume(
  name: string,
  model: tf.LayersModel,
  history: History,
  data: Resolved,
  options: FitOptions & { validationData?: Resolved },
  verbose: number,
): Promise<number> {
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
  if (!isDataset(data) && (options.shuffle ?? true)) {
    notes.push("tfjs shuffles tensor data with Math.random: the batch order differs from an uninterrupted run");
  }
  if (verbose) {
    const left = options.epochs - saved.epochsDone;
    const plan = left > 0
      ? `training continues at epoch ${saved.epochsDone + 1}/${options.epochs}`
      : "nothing left to train (weights and history restored, the checkpoint removed)";
    await print(
      `Resuming "${name}" from its checkpoint: ${plural(saved.epochsDone, "epoch")} done ` +
        `(${saved.path}, written ${saved.writtenAt}); ${plan}.` + (notes.length ? ` Note: ${notes.join("; ")}.` : ""),
    );
  }
  return saved.epochsDone;
}

/**
 * Train `model` (already compiled) and return its {@link History}.
 *
 * In a Jupyter kernel, Interrupt (SIGINT) stops the training at the end of the
 * current step: fit prints where (epoch, step) and returns the History of the
 * complete epochs with {@link History.interrupted} set; the model keeps its
 * weights (those of the last step) and the kernel its variables. Outside fit,
 * Interrupt behaves as before.
 *
 * @throws {Error} for a dataset without `stepsPerEpoch`, or a validation dataset without `validationSteps`.
 * @throws {CheckpointError} when `checkpoint` names a damaged file or another model's.
 */
export async function fit(model: tf.LayersModel, input: FitData, givenOptions: FitOptions): Promise<History> {
  const data = resolve(input) as Resolved;
  const options = { ...givenOptions, validationData: resolve(givenOptions.validationData) as Resolved | undefined };
  const verbose = options.verbose ?? 1;
  const batchSize = options.batchSize ?? 32;
  let steps: number;
  if (isDataset(data)) {
    if (!options.stepsPerEpoch) {
      throw new Error("fit() on a dataset needs stepsPerEpoch (Keras' steps_per_epoch): the iterators are endless.");
    }
    steps = options.stepsPerEpoch;
  } else {
    steps = Math.ceil(Math.floor(firstDim(data.x) * (1 - (options.validationSplit ?? 0))) / batchSize);
  }
  if (options.validationData && isDataset(options.validationData) && !options.validationSteps) {
    throw new Error("fit() with a validation dataset needs validationSteps (Keras' validation_steps).");
  }

  const history: History = { epoch: [], history: {}, seconds: [] };
  const initialEpoch = options.checkpoint
    ? await resume(options.checkpoint, model, history, data, options, verbose)
    : 0;
  const live = options.curves && inJupyter()
    ? new LiveCurves(options.curves === true ? {} : options.curves)
    : undefined;
  if (live && history.epoch.length > 0) await live.update(history);
  else if (live && initialEpoch < options.epochs) await live.reserve();
  if (initialEpoch >= options.epochs) {
    await deleteCheckpoint(options.checkpoint!);
    return history;
  }

  return await interruptible(async (stop) => {
    let bar: Progress | undefined;
    let sums: Metrics = {};
    let running: Metrics = {};
    let epochStart = 0;
    let current = initialEpoch;
    let at: StoppedAt | undefined;
    const interruptedText = async (stoppedAt: StoppedAt) => {
      history.interrupted = stoppedAt;
      const where = stoppedAt.step >= stoppedAt.steps
        ? `the end of epoch ${stoppedAt.epoch}/${options.epochs}`
        : `epoch ${stoppedAt.epoch}/${options.epochs}, step ${stoppedAt.step}/${stoppedAt.steps}`;
      const kept = history.epoch.length
        ? `History holds the ${plural(history.epoch.length, "complete epoch")}` +
          (options.checkpoint ? ` (so does checkpoint "${options.checkpoint}": run the cell again to resume)` : "")
        : "no epoch was complete";
      if (verbose) await stop.stopped(where, `The model keeps its weights as of that step; ${kept}.`);
    };
    const callbacks: tf.CustomCallbackArgs = {
      onEpochBegin: async (epoch) => {
        epochStart = performance.now();
        current = epoch;
        sums = {};
        running = {};
        if (verbose) bar = await Progress.start({ total: steps, label: `Epoch ${epoch + 1}/${options.epochs}` });
      },
      onBatchEnd: async (batch, logs) => {
        running = {};
        for (const [k, v] of Object.entries(logs ?? {})) {
          if (k === "batch" || k === "size") continue;
          sums[k] = (sums[k] ?? 0) + v;
          running[k] = sums[k] / (batch + 1);
        }
        await bar?.update(batch + 1, running);
        // Give the event loop a turn, so that a SIGINT is delivered between steps.
        await yieldToEventLoop();
        if (stop.requested && !at) {
          at = { epoch: current + 1, step: batch + 1, steps };
          model.stopTraining = true;
        }
      },
      onEpochEnd: async (epoch, logs) => {
        if (at && at.step < steps) {
          // A partial epoch: its metrics are not an epoch's; keep the History of complete ones.
          await bar?.done(kerasOrder(running), at.step);
          bar = undefined;
          await interruptedText(at);
          return;
        }
        history.epoch.push(epoch);
        history.seconds.push((performance.now() - epochStart) / 1000);
        for (const [k, v] of Object.entries(logs ?? {})) (history.history[k] ??= []).push(v);
        await bar?.done(kerasOrder(logs ?? {}), steps);
        bar = undefined;
        const done = epoch + 1;
        if (options.checkpoint) {
          await saveCheckpoint(options.checkpoint, model, {
            epochsDone: done,
            epochs: options.epochs,
            history: { epoch: history.epoch, history: history.history, seconds: history.seconds },
            dataState: isResumable(data) ? data.getState() : undefined,
            validationState: isResumable(options.validationData) ? options.validationData.getState() : undefined,
          });
        }
        await live?.update(history);
        if (done >= options.epochs) at = undefined; // stopped at the very last step: nothing was cut short
        else if (!at && stop.requested) {
          at = { epoch: done, step: steps, steps };
          model.stopTraining = true;
        }
        if (at) {
          await interruptedText(at);
          return;
        }
        const meanMs = (history.seconds.reduce((a, b) => a + b, 0) / history.seconds.length) * 1000;
        if (options.until && done < options.epochs && Date.now() + meanMs > options.until.getTime()) {
          history.stopped = `stopped after ${done} of ${options.epochs} epochs: one more would end after ` +
            `${options.until.toISOString()}`;
          model.stopTraining = true;
          if (verbose) await print(history.stopped);
        }
      },
    };
    const all = options.callbacks ? [callbacks, options.callbacks] : [callbacks];
    if (isDataset(data)) {
      await model.fitDataset(data, {
        epochs: options.epochs,
        initialEpoch,
        batchesPerEpoch: steps,
        validationData: validationArg(options.validationData) as tf.data.Dataset<tf.TensorContainer>,
        validationBatches: options.validationSteps,
        callbacks: all,
        verbose: 0,
      });
    } else {
      await model.fit(data.x, data.y, {
        epochs: options.epochs,
        initialEpoch,
        batchSize,
        validationData: validationArg(options.validationData) as [tf.Tensor, tf.Tensor],
        validationSplit: options.validationSplit,
        shuffle: options.shuffle ?? true,
        callbacks: all,
        verbose: 0,
      });
    }
    // Done: like Keras' BackupAndRestore, the backup goes (a finished training is not resumed; save the model).
    if (options.checkpoint && history.epoch.length >= options.epochs) await deleteCheckpoint(options.checkpoint);
    return history;
  });
}

/**
 * Evaluate `model` like Keras' `evaluate` / `evaluate_generator` and return
 * `{loss, <metric>...}` by the model's metric names.
 *
 * @param options.steps batches to read from a dataset (required for endless ones).
 */
export async function evaluate(
  model: tf.LayersModel,
  input: FitData,
  options: { batchSize?: number; steps?: number } = {},
): Promise<Metrics> {
  const data = resolve(input) as Resolved;
  let result: tf.Scalar | tf.Scalar[];
  if (isDataset(data)) {
    if (!options.steps) throw new Error("evaluate() on a dataset needs steps: the iterators are endless.");
    result = await model.evaluateDataset(data as tf.data.Dataset<tf.TensorContainerObject>, {
      batches: options.steps,
    }) as
      | tf.Scalar
      | tf.Scalar[];
  } else {
    result = model.evaluate(data.x, data.y, { batchSize: options.batchSize ?? 32 }) as tf.Scalar | tf.Scalar[];
  }
  const scalars = Array.isArray(result) ? result : [result];
  const names = model.metricsNames.length === scalars.length ? model.metricsNames : scalars.map((_, i) => `m${i}`);
  const values = await Promise.all(scalars.map((s) => s.data()));
  tf.dispose(scalars);
  return Object.fromEntries(names.map((n, i) => [n, values[i][0]]));
}

/**
 * Train and evaluate like Keras' `model.fit` / `fit_generator` / `evaluate`,
 * with one live progress line per epoch and a Keras-shaped `History`.
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
import { print } from "../notebook/display.ts";
import { type Metrics, Progress } from "../notebook/progress.ts";

/** Tensors to fit on, like Keras' `x` and `y`. */
export interface TensorData {
  x: tf.Tensor | tf.Tensor[];
  y: tf.Tensor | tf.Tensor[];
}

/** Anything {@link fit} and {@link evaluate} read: tensors, or an (endless) dataset of `{xs, ys}` batches. */
export type FitData = TensorData | tf.data.Dataset<tf.TensorContainer>;

/** What Keras' `History` holds: the epochs and each metric's value per epoch. */
export interface History {
  /** Epoch numbers, 0-based as in Keras. */
  epoch: number[];
  /** `loss`, `acc`, `val_loss`, `val_acc`, …: one value per epoch. */
  history: Record<string, number[]>;
  /** Wall-clock seconds of each epoch. */
  seconds: number[];
  /** Why training ended before `epochs`, when it did (see {@link FitOptions.until}). */
  stopped?: string;
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
  /** More tfjs callbacks. */
  callbacks?: tf.CustomCallbackArgs;
}

/** Metrics in Keras' order: training ones first, then `val_` ones. */
function kerasOrder(logs: Metrics): Metrics {
  const keys = Object.keys(logs);
  const ordered = [...keys.filter((k) => !k.startsWith("val_")), ...keys.filter((k) => k.startsWith("val_"))];
  return Object.fromEntries(ordered.map((k) => [k, logs[k]]));
}

function isDataset(data: FitData): data is tf.data.Dataset<tf.TensorContainer> {
  return typeof (data as tf.data.Dataset<tf.TensorContainer>).iterator === "function";
}

function firstDim(t: tf.Tensor | tf.Tensor[]): number {
  return (Array.isArray(t) ? t[0] : t).shape[0];
}

function validationArg(data: FitData | undefined) {
  if (!data || isDataset(data)) return data;
  return [data.x, data.y] as [tf.Tensor | tf.Tensor[], tf.Tensor | tf.Tensor[]];
}

/**
 * Train `model` (already compiled) and return its {@link History}.
 *
 * @throws {Error} for a dataset without `stepsPerEpoch`, or a validation dataset without `validationSteps`.
 */
export async function fit(model: tf.LayersModel, data: FitData, options: FitOptions): Promise<History> {
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
  let bar: Progress | undefined;
  let sums: Metrics = {};
  let epochStart = 0;
  const callbacks: tf.CustomCallbackArgs = {
    onEpochBegin: async (epoch) => {
      epochStart = performance.now();
      sums = {};
      if (verbose) bar = await Progress.start({ total: steps, label: `Epoch ${epoch + 1}/${options.epochs}` });
    },
    onBatchEnd: async (batch, logs) => {
      const running: Metrics = {};
      for (const [k, v] of Object.entries(logs ?? {})) {
        if (k === "batch" || k === "size") continue;
        sums[k] = (sums[k] ?? 0) + v;
        running[k] = sums[k] / (batch + 1);
      }
      await bar?.update(batch + 1, running);
    },
    onEpochEnd: async (epoch, logs) => {
      history.epoch.push(epoch);
      history.seconds.push((performance.now() - epochStart) / 1000);
      for (const [k, v] of Object.entries(logs ?? {})) (history.history[k] ??= []).push(v);
      await bar?.done(kerasOrder(logs ?? {}), steps);
      bar = undefined;
      const done = epoch + 1;
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
      batchesPerEpoch: steps,
      validationData: validationArg(options.validationData) as tf.data.Dataset<tf.TensorContainer>,
      validationBatches: options.validationSteps,
      callbacks: all,
      verbose: 0,
    });
  } else {
    await model.fit(data.x, data.y, {
      epochs: options.epochs,
      batchSize,
      validationData: validationArg(options.validationData) as [tf.Tensor, tf.Tensor],
      validationSplit: options.validationSplit,
      shuffle: options.shuffle ?? true,
      callbacks: all,
      verbose: 0,
    });
  }
  return history;
}

/**
 * Evaluate `model` like Keras' `evaluate` / `evaluate_generator` and return
 * `{loss, <metric>...}` by the model's metric names.
 *
 * @param options.steps batches to read from a dataset (required for endless ones).
 */
export async function evaluate(
  model: tf.LayersModel,
  data: FitData,
  options: { batchSize?: number; steps?: number } = {},
): Promise<Metrics> {
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

/**
 * VGG16 as Keras 2 builds it (`keras.applications.VGG16`): the same layers,
 * names and shapes, so that Keras' ImageNet weight files load into it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadWeightsFromH5 } from "./keras_h5.ts";
import { allowRandomWeights, type CachedWeightsOptions, vgg16WeightsPath } from "./imagenet_weights.ts";
import { DownloadError } from "../io/errors.ts";
import { inJupyter, print } from "../notebook/display.ts";
import { reportSkipped } from "../notebook/skip.ts";

/** An image input shape, channels last: `[rows, cols, channels]` (rows and cols may be `null` without the top). */
export type InputShape = [number | null, number | null, number];

/** Options of {@link vgg16} (Keras' arguments, camel-cased). */
export interface Vgg16Options {
  /**
   * `"imagenet"` (default: Keras' ImageNet weights, from the cache or
   * downloaded), or `null` (random: glorot_uniform kernels, zero biases).
   */
  weights?: "imagenet" | null;
  /** Keep the classifier (`flatten`, `fc1`, `fc2`, `predictions`); default `true`. */
  includeTop?: boolean;
  /** Default `[224, 224, 3]` with the top, `[null, null, 3]` without. */
  inputShape?: InputShape;
  /** Where the ImageNet weights are cached and how they are downloaded. */
  download?: CachedWeightsOptions;
  /**
   * When the ImageNet file can be neither found nor downloaded and random
   * weights are not allowed (`CH5_ALLOW_RANDOM_WEIGHTS` unset): `"throw"` its
   * `DownloadError`, or `"skip"`: show the notice once (what is
   * missing, where to put it, how to run on random weights), report it to the
   * notebook runner, and return random weights marked `"missing"`, so that the
   * cells that need them say they were skipped ({@link hasWeights}).
   * Default: `"skip"` inside a Jupyter kernel, `"throw"` elsewhere.
   */
  onMissing?: "throw" | "skip";
}

/**
 * Where a VGG16's weights came from: Keras' ImageNet file, random weights
 * (asked for, or allowed by `CH5_ALLOW_RANDOM_WEIGHTS`), or random weights
 * standing in for an ImageNet file that could not be had.
 */
export type WeightsSource = "imagenet" | "random" | "missing";

/** A VGG16 model that carries where its weights came from, and the file loaded (`null`: random weights). */
export type Vgg16Model = tf.LayersModel & {
  readonly weightsSource: WeightsSource;
  readonly weightsPath: string | null;
};

/** The filters of each 3×3 convolution, block by block. */
const BLOCKS = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];

/** The input shape to build with, checked as Keras' `VGG16()` and `_obtain_input_shape` check it. */
function inputShapeOf({ weights = "imagenet", includeTop = true, inputShape: given }: Vgg16Options): InputShape {
  if (given === undefined) return includeTop ? [224, 224, 3] : [null, null, 3];
  const imagenet = weights === "imagenet";
  const problem = !Array.isArray(given) || given.length !== 3
    ? "must be [rows, cols, channels]"
    : imagenet && includeTop && (given[0] !== 224 || given[1] !== 224 || given[2] !== 3)
    ? `must be [224, 224, 3] with includeTop true and weights "imagenet": the classifier's fc1 layer was trained ` +
      `on 7×7×512 features. Use includeTop: false for other sizes (e.g. the book's conv base at [150, 150, 3])`
    : imagenet && given[2] !== 3
    ? "must have 3 channels with the ImageNet weights"
    : given.some((d, i) => i < 2 && d !== null && d < 32)
    ? "must be at least 32×32"
    : includeTop && (given[0] === null || given[1] === null)
    ? "needs fixed rows and cols with includeTop true"
    : undefined;
  if (problem) throw new RangeError(`VGG16's inputShape ${problem}; got ${JSON.stringify(given)}.`);
  return [given[0], given[1], given[2]];
}

/**
 * Build VGG16 with random weights (Keras' initializers), no download: the
 * architecture of {@link vgg16}, synchronously.
 */
export function buildVgg16(options: Omit<Vgg16Options, "weights" | "download" | "onMissing"> = {}): tf.LayersModel {
  const init = { kernelInitializer: "glorotUniform", biasInitializer: "zeros" } as const;
  const conv = { kernelSize: 3, padding: "same", activation: "relu", ...init } as const;
  const input = tf.input({ shape: inputShapeOf({ ...options, weights: null }), name: "input_1" });
  const layers: tf.layers.Layer[] = BLOCKS.flatMap((filters, b) => [
    ...filters.map((n, c) => tf.layers.conv2d({ name: `block${b + 1}_conv${c + 1}`, filters: n, ...conv })),
    tf.layers.maxPooling2d({ name: `block${b + 1}_pool`, poolSize: 2, strides: 2 }),
  ]);
  if (options.includeTop ?? true) {
    layers.push(
      tf.layers.flatten({ name: "flatten" }),
      tf.layers.dense({ name: "fc1", units: 4096, activation: "relu", ...init }),
      tf.layers.dense({ name: "fc2", units: 4096, activation: "relu", ...init }),
      tf.layers.dense({ name: "predictions", units: 1000, activation: "softmax", ...init }),
    );
  }
  const output = layers.reduce((x, layer) => layer.apply(x) as tf.SymbolicTensor, input);
  return tf.model({ inputs: input, outputs: output, name: "vgg16" });
}

/** Keras' ImageNet file, or random weights where allowed or (`onMissing: "skip"`) marked missing. */
async function imagenetWeights(options: Vgg16Options): Promise<{ path: string | null; source: WeightsSource }> {
  const includeTop = options.includeTop ?? true;
  try {
    return {
      path: await vgg16WeightsPath({ ...options.download, includeTop, allowRandom: false }),
      source: "imagenet",
    };
  } catch (err) {
    if (!(err instanceof DownloadError)) throw err;
    if (options.download?.allowRandom ?? allowRandomWeights()) {
      const where = err.message.split("\n").filter((line) => !line.includes("CH5_ALLOW_RANDOM_WEIGHTS")).join("\n");
      await print(
        `WARNING: VGG16 has RANDOM weights: the ImageNet file is missing and CH5_ALLOW_RANDOM_WEIGHTS is set. ` +
          `The code runs, but every feature, accuracy, pattern and heatmap below is meaningless.\n${where}`,
      );
      return { path: null, source: "random" };
    }
    if ((options.onMissing ?? (inJupyter() ? "skip" : "throw")) === "throw") throw err;
    await reportSkipped({
      what: `VGG16 ImageNet weights (${includeTop ? "with" : "without"} the top)`,
      reason: "download",
      message: `the VGG16 ImageNet weights are missing, so the cells that need them print "skipped" and do ` +
        `nothing.\n${err.message}`,
    });
    return { path: null, source: "missing" };
  }
}

/**
 * VGG16 as Keras' `VGG16(weights, include_top, input_shape)` builds it:
 * layers `input_1`, `block1_conv1` … `block5_pool`, and with the top
 * `flatten`, `fc1`, `fc2`, `predictions`; model name `vgg16`; 14,714,688
 * parameters without the top, 138,357,544 with it. It prints where its
 * weights come from: Keras' ImageNet file (cache, download,
 * `CH5_ALLOW_RANDOM_WEIGHTS`: see `imagenet_weights.ts`), loaded layer by
 * layer in order as Keras' `load_weights` does, or none.
 *
 * @throws {RangeError} for options Keras rejects (checked before any download).
 *
 * @example
 * ```ts
 * import { vgg16 } from "./vgg16.ts";
 * const model = await vgg16(); // with the classifier, 224×224×3, ImageNet weights
 * const convBase = await vgg16({ includeTop: false, inputShape: [150, 150, 3] });
 * ```
 */
export async function vgg16(options: Vgg16Options = {}): Promise<Vgg16Model> {
  const { weights = "imagenet" } = options;
  if (weights !== "imagenet" && weights !== null) {
    throw new RangeError(`weights must be "imagenet" or null (random); got ${JSON.stringify(weights)}.`);
  }
  inputShapeOf(options);
  const { path: weightsPath, source } = weights === null
    ? { path: null, source: "random" as const }
    : await imagenetWeights(options);
  const model = buildVgg16(options);
  if (weightsPath !== null) {
    await loadWeightsFromH5(model, weightsPath, { byName: false }).catch((err) => {
      model.dispose();
      throw err;
    });
    await print(`VGG16 weights: ImageNet ${weightsPath}`);
  } else if (weights === null) await print("VGG16 weights: random (weights: null)");
  return Object.assign(model, { weightsSource: source, weightsPath });
}

/**
 * Whether `model` has the weights a cell needs: true for ImageNet weights,
 * or random ones that were asked for (or allowed); false, after printing
 * `skipped: …`, when they are `"missing"` (see {@link Vgg16Options.onMissing}).
 * A cell that needs the weights runs its code under `if (await hasWeights(model))`.
 *
 * @example
 * ```ts
 * import { hasWeights, vgg16 } from "./vgg16.ts";
 * const convBase = await vgg16({ includeTop: false, inputShape: [150, 150, 3], onMissing: "skip" });
 * if (await hasWeights(convBase)) console.log(convBase.countParams());
 * ```
 */
export async function hasWeights(model: tf.LayersModel): Promise<boolean> {
  if ((model as Partial<Vgg16Model>).weightsSource !== "missing") return true;
  await print(`skipped: this cell needs the VGG16 ImageNet weights of ${model.name} (see the notice above).`);
  return false;
}

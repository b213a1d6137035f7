/**
 * VGG16 (Simonyan & Zisserman, 2014) as Keras 2 builds it
 * (`keras.applications.VGG16`): the same layers, names and shapes, so that
 * Keras' ImageNet weight files load into it and the chapter's code reads the
 * same (`conv_base.getLayer("block5_conv3")`).
 *
 * @example
 * ```ts
 * import { vgg16 } from "./vgg16.ts";
 * const convBase = await vgg16({ weights: "imagenet", includeTop: false, inputShape: [150, 150, 3] });
 * convBase.summary(); // Total params: 14,714,688; output (None, 4, 4, 512)
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadWeightsFromH5 } from "./keras_h5.ts";
import { type CachedWeightsOptions, vgg16WeightsPath } from "./imagenet_weights.ts";
import { DownloadError } from "../io/errors.ts";
import { inJupyter, print } from "../notebook/display.ts";
import { reportSkipped } from "../notebook/skip.ts";

/** Raised for options that Keras' `VGG16()` would reject too. */
export class Vgg16Error extends Error {
  override name = "Vgg16Error";
}

/** An image input shape, channels last: `[rows, cols, channels]` (rows and cols may be `null` without the top). */
export type InputShape = [number | null, number | null, number];

/** Options of {@link vgg16} (Keras' arguments, camel-cased). */
export interface Vgg16Options {
  /**
   * `"imagenet"` (default: Keras' ImageNet weights, from the cache or
   * downloaded), the path of a Keras `.h5` weights file, or `null` (random,
   * Keras' initializers: glorot_uniform kernels, zero biases).
   */
  weights?: "imagenet" | string | null;
  /** Keep the classifier (`flatten`, `fc1`, `fc2`, `predictions`); default `true`. */
  includeTop?: boolean;
  /** Default `[224, 224, 3]` with the top, `[null, null, 3]` without. */
  inputShape?: InputShape;
  /** Without the top: global `"avg"` or `"max"` pooling of the last block, or `null` (default) for a 4D output. */
  pooling?: "avg" | "max" | null;
  /** Classes of the `predictions` layer (default 1000; only 1000 with the ImageNet weights). */
  classes?: number;
  /** Where the ImageNet weights are cached and how they are downloaded. */
  download?: CachedWeightsOptions;
  /**
   * What to do when the ImageNet file can be neither found nor downloaded and
   * random weights are not allowed (`CH5_ALLOW_RANDOM_WEIGHTS` unset):
   * `"throw"` a `DownloadError`, or `"skip"`: show the notice once
   * (what is missing, where to put it, the URL and md5, how to run on random
   * weights), report it to the notebook runner, and return the architecture
   * with random weights marked `weightsSource: "missing"`, so that the cells
   * that need the weights can say they were skipped ({@link hasWeights}).
   * Default: `"skip"` inside a Jupyter kernel, `"throw"` elsewhere.
   */
  onMissing?: "throw" | "skip";
  /** Where the provenance line goes (default: the notebook output / stdout); `null` for none. */
  log?: ((line: string) => void | Promise<void>) | null;
}

/**
 * Where a VGG16's weights came from: Keras' ImageNet file, another weights
 * file, random weights (asked for, or allowed by `CH5_ALLOW_RANDOM_WEIGHTS`),
 * or `"missing"`: random weights standing in for an ImageNet file that could
 * not be had (see {@link Vgg16Options.onMissing}).
 */
export type WeightsSource = "imagenet" | "file" | "random" | "missing";

/** A VGG16 model that carries where its weights came from. */
export type Vgg16Model = tf.LayersModel & {
  /** Where the weights came from. */
  readonly weightsSource: WeightsSource;
  /** The weights file that was loaded, or `null` (random weights). */
  readonly weightsPath: string | null;
};

/** The convolution blocks: filters of each 3×3 conv, block by block. */
export const VGG16_BLOCKS: readonly (readonly number[])[] = [
  [64, 64],
  [128, 128],
  [256, 256, 256],
  [512, 512, 512],
  [512, 512, 512],
];

const DEFAULT_SIZE = 224;
const MIN_SIZE = 32;

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? "null" : d)).join(", ")}]`;
}

/**
 * Check the options as Keras' `VGG16()` and `_obtain_input_shape` do, and
 * return the input shape to build with.
 *
 * @throws {Vgg16Error} with Keras' reason (e.g. the top with ImageNet weights needs 224×224×3).
 *
 * @example
 * ```ts
 * import { vgg16InputShape } from "./vgg16.ts";
 * vgg16InputShape({ includeTop: false, inputShape: [150, 150, 3] }); // [150, 150, 3]
 * ```
 */
export function vgg16InputShape(options: Vgg16Options = {}): InputShape {
  const weights = options.weights === undefined ? "imagenet" : options.weights;
  const includeTop = options.includeTop ?? true;
  const classes = options.classes ?? 1000;
  if (weights === "imagenet" && includeTop && classes !== 1000) {
    throw new Vgg16Error(
      `With weights "imagenet" and includeTop true, classes must be 1000 (got ${classes}): the ImageNet classifier ` +
        `has 1000 outputs. Use includeTop: false and add your own classifier, or weights: null.`,
    );
  }
  const given = options.inputShape;
  if (given === undefined) return includeTop ? [DEFAULT_SIZE, DEFAULT_SIZE, 3] : [null, null, 3];
  if (!Array.isArray(given) || given.length !== 3) {
    throw new Vgg16Error(`inputShape must be [rows, cols, channels]; got ${JSON.stringify(given)}.`);
  }
  if (
    weights === "imagenet" && includeTop && (given[0] !== DEFAULT_SIZE || given[1] !== DEFAULT_SIZE || given[2] !== 3)
  ) {
    throw new Vgg16Error(
      `With includeTop true and weights "imagenet", inputShape must be [224, 224, 3] (got ${shapeText(given)}): ` +
        `the classifier's fc1 layer was trained on 7×7×512 features. Use includeTop: false for other sizes ` +
        `(e.g. the book's conv base at [150, 150, 3]).`,
    );
  }
  if (weights === "imagenet" && given[2] !== 3) {
    throw new Vgg16Error(
      `The input must have 3 channels with the ImageNet weights; got inputShape ${shapeText(given)}.`,
    );
  }
  if ((given[0] !== null && given[0] < MIN_SIZE) || (given[1] !== null && given[1] < MIN_SIZE)) {
    throw new Vgg16Error(`Input size must be at least ${MIN_SIZE}×${MIN_SIZE}; got inputShape ${shapeText(given)}.`);
  }
  if (includeTop && (given[0] === null || given[1] === null)) {
    throw new Vgg16Error(`With includeTop true, inputShape needs fixed rows and cols; got ${shapeText(given)}.`);
  }
  return [given[0], given[1], given[2]];
}

/**
 * Build VGG16 with random weights (Keras' initializers), no download: the
 * architecture of {@link vgg16}, synchronously.
 *
 * @example
 * ```ts
 * import { buildVgg16 } from "./vgg16.ts";
 * const model = buildVgg16({ includeTop: false, inputShape: [150, 150, 3] });
 * model.countParams(); // 14714688
 * ```
 */
export function buildVgg16(options: Vgg16Options = {}): tf.LayersModel {
  const inputShape = vgg16InputShape({ ...options, weights: options.weights === "imagenet" ? "imagenet" : null });
  const includeTop = options.includeTop ?? true;
  const init = { kernelInitializer: "glorotUniform", biasInitializer: "zeros" } as const;
  const input = tf.input({ shape: inputShape, name: "input_1" });
  let x: tf.SymbolicTensor = input;
  VGG16_BLOCKS.forEach((filters, b) => {
    filters.forEach((n, c) => {
      x = tf.layers.conv2d({
        name: `block${b + 1}_conv${c + 1}`,
        filters: n,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        ...init,
      }).apply(x) as tf.SymbolicTensor;
    });
    x = tf.layers.maxPooling2d({ name: `block${b + 1}_pool`, poolSize: 2, strides: 2 }).apply(x) as tf.SymbolicTensor;
  });
  if (includeTop) {
    x = tf.layers.flatten({ name: "flatten" }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ name: "fc1", units: 4096, activation: "relu", ...init }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ name: "fc2", units: 4096, activation: "relu", ...init }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ name: "predictions", units: options.classes ?? 1000, activation: "softmax", ...init })
      .apply(x) as tf.SymbolicTensor;
  } else if (options.pooling === "avg") {
    x = tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d_1" }).apply(x) as tf.SymbolicTensor;
  } else if (options.pooling === "max") {
    x = tf.layers.globalMaxPooling2d({ name: "global_max_pooling2d_1" }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: "vgg16" });
}

/**
 * VGG16 as Keras' `VGG16(weights, include_top, input_shape, pooling, classes)`
 * builds it: layers `input_1`, `block1_conv1` … `block5_pool`, and with the
 * top `flatten`, `fc1`, `fc2`, `predictions`; model name `vgg16`.
 * 14,714,688 parameters without the top, 138,357,544 with it.
 *
 * `weights: "imagenet"` loads Keras' ImageNet weights (see
 * `imagenet_weights.ts`: cache, download, `CH5_ALLOW_RANDOM_WEIGHTS`); a path
 * loads a Keras weights file, layer by layer in order as Keras'
 * `load_weights` does; `null` keeps random weights.
 *
 * @throws {Vgg16Error} for options Keras rejects (checked before any download).
 *
 * @example
 * ```ts
 * import { vgg16 } from "./vgg16.ts";
 * const model = await vgg16(); // with the classifier, 224×224×3, ImageNet weights
 * const convBase = await vgg16({ includeTop: false, inputShape: [150, 150, 3] });
 * ```
 */
export async function vgg16(options: Vgg16Options = {}): Promise<Vgg16Model> {
  const weights = options.weights === undefined ? "imagenet" : options.weights;
  const includeTop = options.includeTop ?? true;
  const log = options.log === undefined ? (line: string) => print(line) : options.log;
  vgg16InputShape(options);
  let path: string | null = null;
  let source: WeightsSource = "random";
  if (weights === "imagenet") {
    try {
      path = await vgg16WeightsPath({ ...options.download, includeTop, allowRandom: false });
      source = "imagenet";
    } catch (err) {
      if (!(err instanceof DownloadError)) throw err;
      if (options.download?.allowRandom ?? allowRandomFromEnv()) {
        const where = err.message.split("\n").filter((line) => !line.includes("CH5_ALLOW_RANDOM_WEIGHTS")).join("\n");
        await log?.(
          `WARNING: VGG16 has RANDOM weights: the ImageNet file is missing and CH5_ALLOW_RANDOM_WEIGHTS is set. ` +
            `The code runs, but every feature, accuracy, pattern and heatmap below is meaningless.\n${where}`,
        );
      } else if ((options.onMissing ?? (inJupyter() ? "skip" : "throw")) === "skip") {
        source = "missing";
        await reportSkipped({
          what: `VGG16 ImageNet weights (${includeTop ? "with" : "without"} the top)`,
          reason: "download",
          message: `the VGG16 ImageNet weights are missing, so the cells that need them print "skipped" and do ` +
            `nothing.\n${err.message}`,
        });
      } else throw err;
    }
  } else if (weights !== null) {
    if (typeof weights !== "string" || !(await Deno.stat(weights).then((s) => s.isFile, () => false))) {
      throw new Vgg16Error(
        `weights must be "imagenet", null (random), or the path of a weights file; ` +
          `there is no file at ${JSON.stringify(weights)}.`,
      );
    }
    path = weights;
    source = "file";
  }
  const model = buildVgg16(options);
  if (path !== null) {
    try {
      await loadWeightsFromH5(model, path, { byName: false });
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  if (source === "imagenet" || source === "file") {
    await log?.(`VGG16 weights: ${source === "imagenet" ? "ImageNet" : "file"} ${path}`);
  } else if (weights === null) await log?.("VGG16 weights: random (weights: null)");
  return Object.assign(model, { weightsSource: source, weightsPath: path });
}

function allowRandomFromEnv(): boolean {
  const value = (Deno.env.get("CH5_ALLOW_RANDOM_WEIGHTS") ?? "").trim().toLowerCase();
  return value === "1" || value === "true" || value === "yes";
}

/**
 * Whether `model` has the weights a cell needs: true for ImageNet, a file, or
 * random weights that were asked for (or allowed); false, after printing
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

/**
 * ImageNet helpers for VGG16, as in Keras' `keras.applications.vgg16`:
 * `preprocessInput` (Keras' "caffe" mode) and `decodePredictions` (the 1,000
 * ILSVRC-2012 classes, in Keras' order, with Keras' WordNet ids and names).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import table from "./imagenet_classes.json" with { type: "json" };

/** One ImageNet class. */
export interface ImagenetClass {
  /** Its index in the model's 1,000 outputs (Keras' order: WordNet ids sorted). */
  classIndex: number;
  /** Its WordNet id, e.g. `n02504458`. */
  wnid: string;
  /** Keras' short name, e.g. `African_elephant`. */
  name: string;
  /** The synonyms, e.g. `African elephant, Loxodonta africana`. */
  longName: string;
}

/**
 * The 1,000 ImageNet classes by output index, as Keras'
 * `imagenet_class_index.json` lists them (plus the long names).
 */
export const IMAGENET_CLASSES: readonly ImagenetClass[] = Object.freeze(
  (table as [string, string, string][]).map(([wnid, name, longName], classIndex) =>
    Object.freeze({ classIndex, wnid, name, longName })
  ),
);

/** The ImageNet channel means that Keras' "caffe" mode subtracts, in BGR order. */
export const IMAGENET_BGR_MEAN: readonly [number, number, number] = [103.939, 116.779, 123.68];

/**
 * Keras' `preprocess_input` for VGG16 ("caffe" mode): RGB to BGR, then the
 * ImageNet mean of each channel subtracted; no scaling (pixels stay 0–255
 * minus the mean). Takes one image `[h, w, 3]` or a batch `[n, h, w, 3]`
 * of RGB pixels in 0–255 and returns a new float32 tensor.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { preprocessInput } from "./imagenet.ts";
 * preprocessInput(tf.tensor3d([[[255, 0, 0]]])).arraySync(); // [[[-103.939, -116.779, 131.32]]]
 * ```
 */
export function preprocessInput<T extends tf.Tensor3D | tf.Tensor4D>(x: T): T {
  if ((x.rank !== 3 && x.rank !== 4) || x.shape[x.rank - 1] !== 3) {
    throw new RangeError(
      `preprocessInput expects RGB images, [height, width, 3] or [batch, height, width, 3]; got shape ` +
        `[${x.shape.join(", ")}]. Decode images with 3 channels (no alpha, not grayscale).`,
    );
  }
  return tf.tidy(() => tf.reverse(x.toFloat(), -1).sub(tf.tensor1d([...IMAGENET_BGR_MEAN]))) as T;
}

/** One entry of {@link decodePredictions}' answer. */
export interface Prediction extends ImagenetClass {
  /** The model's probability for the class. */
  probability: number;
}

/**
 * Keras' `decode_predictions`: for each image of a batch of 1,000-way
 * predictions, the `top` classes, most probable first.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { decodePredictions } from "./imagenet.ts";
 * const preds = tf.oneHot([386], 1000); // one picture, all on class 386
 * decodePredictions(preds, 1)[0][0].name; // "African_elephant"
 * ```
 */
export function decodePredictions(preds: tf.Tensor, top = 5): Prediction[][] {
  if (preds.rank !== 2 || preds.shape[1] !== IMAGENET_CLASSES.length) {
    throw new RangeError(
      `decodePredictions expects a batch of predictions, shape [samples, 1000]; got [${preds.shape.join(", ")}]. ` +
        `Give the output of VGG16 with its top (includeTop: true), for a batch (one image is [1, 1000]).`,
    );
  }
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`top must be a positive integer; got ${top}.`);
  return (preds.arraySync() as number[][]).map((row) =>
    row.map((probability, i) => ({ ...IMAGENET_CLASSES[i], probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, top)
  );
}

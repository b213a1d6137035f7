/**
 * The chapter's own convnets, as plain functions that return a
 * `tf.LayersModel` with Keras' layer names.
 *
 * @example
 * ```ts
 * import { mnistConvnet } from "./convnets.ts";
 * const model = mnistConvnet();
 * model.countParams(); // 93322
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Listing 5.1–5.2: Conv 32 → Pool → Conv 64 → Pool → Conv 64 → Flatten →
 * Dense 64 → Dense 10 softmax, on 28×28×1 digits; 93,322 parameters.
 */
export function mnistConvnet(): tf.Sequential {
  return tf.sequential({
    name: "mnist_convnet",
    layers: [
      tf.layers.conv2d({ name: "conv2d_1", filters: 32, kernelSize: 3, activation: "relu", inputShape: [28, 28, 1] }),
      tf.layers.maxPooling2d({ name: "max_pooling2d_1", poolSize: 2 }),
      tf.layers.conv2d({ name: "conv2d_2", filters: 64, kernelSize: 3, activation: "relu" }),
      tf.layers.maxPooling2d({ name: "max_pooling2d_2", poolSize: 2 }),
      tf.layers.conv2d({ name: "conv2d_3", filters: 64, kernelSize: 3, activation: "relu" }),
      tf.layers.flatten({ name: "flatten_1" }),
      tf.layers.dense({ name: "dense_1", units: 64, activation: "relu" }),
      tf.layers.dense({ name: "dense_2", units: 10, activation: "softmax" }),
    ],
  });
}

/** Options of {@link smallConvnet}. */
export interface SmallConvnetOptions {
  /** Input side in pixels (default 150, the book's; at least 46). */
  size?: number;
  /** Add Dropout(0.5) before the dense classifier (listing 5.13). */
  dropout?: boolean;
}

/**
 * Listing 5.5: the cats-vs-dogs convnet trained from scratch: Conv 32/64/128/128
 * each followed by 2×2 max pooling, Flatten, (Dropout 0.5,) Dense 512 relu,
 * Dense 1 sigmoid; 3,453,121 parameters at 150×150×3.
 */
export function smallConvnet(options: SmallConvnetOptions = {}): tf.Sequential {
  const size = options.size ?? 150;
  if (!Number.isInteger(size) || size < 46) {
    throw new RangeError(
      `smallConvnet needs an input of at least 46×46 pixels (its four conv + pool stages shrink ${size}×${size} ` +
        `to nothing); got size ${size}. Use the book's 150, or any integer from 46 up.`,
    );
  }
  const layers: tf.layers.Layer[] = [
    tf.layers.conv2d({ name: "conv2d_1", filters: 32, kernelSize: 3, activation: "relu", inputShape: [size, size, 3] }),
    tf.layers.maxPooling2d({ name: "max_pooling2d_1", poolSize: 2 }),
    tf.layers.conv2d({ name: "conv2d_2", filters: 64, kernelSize: 3, activation: "relu" }),
    tf.layers.maxPooling2d({ name: "max_pooling2d_2", poolSize: 2 }),
    tf.layers.conv2d({ name: "conv2d_3", filters: 128, kernelSize: 3, activation: "relu" }),
    tf.layers.maxPooling2d({ name: "max_pooling2d_3", poolSize: 2 }),
    tf.layers.conv2d({ name: "conv2d_4", filters: 128, kernelSize: 3, activation: "relu" }),
    tf.layers.maxPooling2d({ name: "max_pooling2d_4", poolSize: 2 }),
    tf.layers.flatten({ name: "flatten_1" }),
  ];
  if (options.dropout) layers.push(tf.layers.dropout({ name: "dropout_1", rate: 0.5 }));
  layers.push(
    tf.layers.dense({ name: "dense_1", units: 512, activation: "relu" }),
    tf.layers.dense({ name: "dense_2", units: 1, activation: "sigmoid" }),
  );
  return tf.sequential({ name: options.dropout ? "small_convnet_dropout" : "small_convnet", layers });
}

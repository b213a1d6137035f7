/**
 * The engine's benchmark workloads, built from plain tfjs layers (the engine
 * imports nothing of the workbook): the shapes of chapter 5's models, which
 * `torch_peer.py` builds the same way in PyTorch.
 *
 * @example
 * ```ts
 * import { smallConvnet, vgg16Base } from "./workloads.ts";
 * console.log(smallConvnet().countParams(), vgg16Base().layers.length); // 3453121 18
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The cats-vs-dogs convnet of listing 5.5 at 150×150: four 3×3 ReLU convolutions, each with 2×2 max pooling, dense 512, sigmoid. */
export function smallConvnet(): tf.Sequential {
  const model = tf.sequential();
  for (const [i, filters] of [32, 64, 128, 128].entries()) {
    model.add(
      tf.layers.conv2d({ filters, kernelSize: 3, activation: "relu", ...(i ? {} : { inputShape: [150, 150, 3] }) }),
    );
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 512, activation: "relu" }));
  model.add(tf.layers.dense({ units: 1, activation: "sigmoid" }));
  return model;
}

/** VGG16's convolutional base at 150×150 (13 3×3 "same" ReLU convolutions in 5 blocks, each closed by 2×2 max pooling). */
export function vgg16Base(): tf.Sequential {
  const model = tf.sequential();
  for (const [b, block] of [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]].entries()) {
    for (const [i, filters] of block.entries()) {
      const input = b === 0 && i === 0 ? { inputShape: [150, 150, 3] } : {};
      model.add(tf.layers.conv2d({ filters, kernelSize: 3, padding: "same", activation: "relu", ...input }));
    }
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  return model;
}

/**
 * Floating-point operations of one forward pass of one picture through the
 * model's Conv2D and Dense layers (a multiply-add counts 2).
 */
export function forwardFlops(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== "Conv2D" && cls !== "Dense") continue;
    const kernel = layer.getWeights()[0].shape;
    const fanIn = kernel.slice(0, -1).reduce((p, q) => p * q, 1);
    const out = (layer.outputShape as (number | null)[]).slice(1) as number[];
    flops += 2 * fanIn * out.reduce((p, q) => p * q, 1);
  }
  return flops;
}

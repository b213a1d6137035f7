/**
 * Freezing layers for transfer learning, as the book does in 5.3: freeze a
 * pretrained base before training a classifier on top of it (listing 5.22's
 * fine-tuning loop then unfreezes its last block, as in Keras). As in
 * Keras, a change takes effect at the next `compile()`.
 *
 * **Why {@link freeze} and not `convBase.trainable = false`.** In Keras 2
 * that line freezes the base. In TensorFlow.js a `tf.sequential()` whose
 * first layer is a model is built (at the first `compile()`, `predict()` or
 * `fit()`) as one flat graph of that model's layers with `trainable = true`,
 * which marks every weight trainable again: the "frozen" base then trains,
 * and slowly. {@link freeze} sets each layer's own flag, which that build
 * keeps; {@link trainableWeightCount} counts what the optimizer will really
 * update, so it shows the difference.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Freeze `model`, nested models layer by layer too: none of its weights
 * will be updated by training (Keras' `model.trainable = False`, made to
 * hold in tfjs; see the module doc).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { freeze, trainableWeightCount } from "./trainable.ts";
 * import { buildVgg16 } from "./vgg16.ts";
 * const convBase = buildVgg16({ includeTop: false, inputShape: [150, 150, 3] });
 * const model = tf.sequential({ layers: [convBase, tf.layers.flatten(), tf.layers.dense({ units: 1 })] });
 * freeze(convBase);
 * trainableWeightCount(model); // 2: the dense layer's kernel and bias
 * ```
 */
export function freeze(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) freeze(layer);
    layer.trainable = false;
  }
  model.trainable = false;
}

/**
 * The weights that training will update: those `compile()` hands to the
 * optimizer. A `tf.sequential()` model is built first when it is not yet
 * (as `compile()` would), since that build can mark weights trainable again.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { trainedWeights } from "./trainable.ts";
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [3] })] });
 * trainedWeights(model).length; // 2: the kernel and the bias
 * ```
 */
export function trainedWeights(model: tf.LayersModel): tf.LayerVariable[] {
  if (model instanceof tf.Sequential && model.inputs.length > 0) {
    if (!model.built) model.build();
    // A Sequential model trains the weights of the flat model it built (tfjs keeps it in `model`).
    const inner = (model as unknown as { model?: tf.LayersModel }).model;
    if (inner) return model.trainable ? inner.trainableWeights : [];
  }
  return model.trainableWeights;
}

/**
 * The number of weight tensors (kernels and biases) that training will
 * update, like Keras' `len(model.trainable_weights)`: 30 for the book's
 * VGG16 conv base with a two-layer dense classifier, 4 once the base is frozen.
 *
 * @example
 * ```ts
 * import { trainableWeightCount } from "./trainable.ts";
 * import { buildVgg16 } from "./vgg16.ts";
 * trainableWeightCount(buildVgg16({ includeTop: false, inputShape: [150, 150, 3] })); // 26
 * ```
 */
export function trainableWeightCount(model: tf.LayersModel): number {
  return trainedWeights(model).length;
}

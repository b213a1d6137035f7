/**
 * Freezing layers for transfer learning, as the book does in 5.3 (as in Keras,
 * a change takes effect at the next `compile()`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Freeze `model`, nested models layer by layer too: none of its weights will
 * be updated by training (Keras' `model.trainable = False`, made to hold in
 * tfjs). Not `convBase.trainable = false`: tfjs builds a `tf.sequential()`
 * whose first layer is a model as one flat graph with `trainable = true`,
 * which makes every weight trainable again; `freeze` sets each layer's own
 * flag, which that build keeps ({@link trainableWeightCount} shows it).
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

/**
 * Cut a chain model at a named layer, and run either part eagerly so that
 * `tf.grad` can differentiate through it (at any input size the convnet
 * accepts; the model's own graph is left alone).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

type Layer = tf.layers.Layer;

const isInput = (layer: Layer) => layer.getClassName() === "InputLayer";

/** The inbound layers of each node of a layer (a layer shared by several models has several nodes). */
function inboundOf(layer: Layer): Layer[][] {
  const nodes = (layer as unknown as { inboundNodes?: { inboundLayers: Layer[] }[] }).inboundNodes ?? [];
  return nodes.map((n) => n.inboundLayers).filter((l) => l.length > 0);
}

/** Whether `layer` reads the output of `previous` alone (or, first, the model input). */
function follows(layer: Layer, previous: Layer | undefined): boolean {
  const inbound = inboundOf(layer);
  // The first layer reads the model input: an input layer, or nothing at all
  // (a model added first to a Sequential keeps its own input).
  if (!previous) return inbound.length === 0 || inbound.some((from) => from.length === 1 && isInput(from[0]));
  // A nested model's output is also its output layer's.
  const before = [previous, ...(previous instanceof tf.LayersModel ? previous.outputs.map((t) => t.sourceLayer) : [])];
  return inbound.some((from) => from.length === 1 && before.includes(from[0]));
}

/**
 * The layers of a chain model in order, nested chain models expanded, input
 * layers left out.
 *
 * @throws {Error} when a layer takes more than one input or not the output of
 *   the layer before it (a branching model: residual, multi-input).
 */
export function chainLayers(model: tf.LayersModel): Layer[] {
  const out: Layer[] = [];
  let previous: Layer | undefined;
  for (const layer of model.layers.filter((l) => !isInput(l))) {
    if (!follows(layer, previous)) {
      const from = inboundOf(layer).map((ls) => ls.map((l) => l.name).join(" + ")).join(" or ") || "nothing";
      throw new Error(
        `layer ${layer.name} of model ${model.name} takes its input from ${from}, not from ` +
          `${previous?.name ?? "the model input"} alone: only chain models (Sequential, or functional without ` +
          `branches) can be cut at a layer. Build a tf.model from the input to the layer you need instead.`,
      );
    }
    out.push(...(layer instanceof tf.LayersModel ? chainLayers(layer) : [layer]));
    previous = layer;
  }
  return out;
}

/**
 * Split a chain model at a layer: `base` runs the input up to and including
 * `layerName`, `head` runs that layer's output to the model output.
 *
 * @throws {Error} naming the layers that exist when `layerName` is not one.
 * @example
 * ```ts
 * import { smallConvnet } from "./small_convnet.ts";
 * import { splitAt } from "./submodel.ts";
 * splitAt(smallConvnet(), "conv2d_4").head.map((l) => l.name); // ["max_pooling2d_4", "flatten_1", "dense_1", "dense_2"]
 * ```
 */
export function splitAt(model: tf.LayersModel, layerName: string): { base: Layer[]; head: Layer[] } {
  const layers = chainLayers(model);
  const i = layers.findIndex((l) => l.name === layerName);
  if (i < 0) {
    throw new Error(
      `model ${model.name} has no layer named ${JSON.stringify(layerName)}; its layers are: ` +
        `${layers.map((l) => l.name).join(", ")}.`,
    );
  }
  return { base: layers.slice(0, i + 1), head: layers.slice(i + 1) };
}

/**
 * Apply layers one after the other to a tensor, in inference mode (dropout
 * off). Call it inside `tf.tidy` or `tf.grad`; intermediate tensors are not
 * disposed here.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { runLayers } from "./submodel.ts";
 * const y = runLayers([tf.layers.dense({ units: 2 })], tf.ones([1, 3]));
 * ```
 */
export function runLayers(layers: Layer[], x: tf.Tensor): tf.Tensor {
  return layers.reduce((y, layer) => layer.apply(y, { training: false }) as tf.Tensor, x);
}

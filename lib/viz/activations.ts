/**
 * Section 5.4.1: visualise intermediate activations. {@link activationModel}
 * is the book's `models.Model(inputs=model.input, outputs=layer_outputs)`,
 * {@link activationGrid} tiles every channel of one layer's output, and
 * {@link showActivations} does both for the first layers of a model.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { smallConvnet } from "../models/convnets.ts";
 * import { activationGrid, activationModel } from "./activations.ts";
 * const model = smallConvnet();
 * const outputs = activationModel(model, 8).predict(tf.zeros([1, 150, 150, 3])) as tf.Tensor4D[];
 * const grid = await activationGrid(outputs[0], { title: "conv2d_1" }); // 2 rows of 16 channels
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { showPng } from "../notebook/display.ts";
import { addTitle, applyColormap, type ColormapName, encodePng, type RawImage, tileGrid, upscale } from "./image.ts";
import { imgToArray, loadImg } from "../preprocessing/image.ts";

function layerOutput(layer: tf.layers.Layer): tf.SymbolicTensor {
  const out = layer.getOutputAt(0);
  if (Array.isArray(out)) {
    throw new Error(`layer ${layer.name} has ${out.length} outputs; pick a layer with one output.`);
  }
  return out;
}

/**
 * The layers {@link activationModel} would use: the given names (checked),
 * or the first `count` layers (input layers not counted, as Keras'
 * `model.layers[:count]` of a Sequential).
 *
 * @example
 * ```ts
 * import { smallConvnet } from "../models/convnets.ts";
 * import { pickLayers } from "./activations.ts";
 * pickLayers(smallConvnet(), 2).map((l) => l.name); // ["conv2d_1", "max_pooling2d_1"]
 * ```
 */
export function pickLayers(model: tf.LayersModel, layers: string[] | number): tf.layers.Layer[] {
  const all = model.layers.filter((l) => l.getClassName() !== "InputLayer");
  if (typeof layers === "number") {
    if (!Number.isInteger(layers) || layers < 1 || layers > all.length) {
      throw new RangeError(`model ${model.name} has ${all.length} layers; ask for 1 to ${all.length}, not ${layers}.`);
    }
    return all.slice(0, layers);
  }
  if (layers.length === 0) throw new RangeError("pickLayers needs at least one layer name");
  return layers.map((name) => {
    const layer = all.find((l) => l.name === name);
    if (!layer) {
      throw new Error(
        `model ${model.name} has no layer named ${JSON.stringify(name)}; its layers are: ` +
          `${all.map((l) => l.name).join(", ")}.`,
      );
    }
    return layer;
  });
}

/**
 * A model from `model`'s input to the outputs of the chosen layers (names, or
 * the first `count`). Its `predict` returns one tensor per layer (an array,
 * even for one layer); for the book's first 8 layers of the 5.2 convnet the
 * shapes run from (1, 148, 148, 32) to (1, 7, 7, 128).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { smallConvnet } from "../models/convnets.ts";
 * import { activationModel } from "./activations.ts";
 * const acts = activationModel(smallConvnet(), ["conv2d_1", "conv2d_2"]);
 * const [first, second] = acts.predict(tf.zeros([1, 150, 150, 3])) as tf.Tensor[];
 * ```
 */
export function activationModel(model: tf.LayersModel, layers: string[] | number): tf.LayersModel {
  const picked = pickLayers(model, layers);
  return tf.model({
    name: `${model.name}_activations`,
    inputs: model.inputs,
    outputs: picked.map(layerOutput),
  });
}

/** Run an activation model and always get an array (tfjs returns a bare tensor for one output). */
function predictAll(model: tf.LayersModel, x: tf.Tensor): tf.Tensor[] {
  const out = model.predict(x);
  return Array.isArray(out) ? out : [out];
}

/** Options of {@link activationGrid}. */
export interface ActivationGridOptions {
  /** Channels per row (default 16, as the book). */
  imagesPerRow?: number;
  /** Integer nearest-neighbour zoom of each channel (default: enough to make tiles ≥ 32 px). */
  scale?: number;
  /** Pixels between tiles (default 1; the book's matplotlib grid has none but draws lines). */
  margin?: number;
  /** Gray level of margins and empty cells (default 255, white). */
  background?: number;
  /** `gray` (default), or `viridis` for the book's matplotlib look. */
  colormap?: Extract<ColormapName, "gray" | "viridis">;
  /** A line above the grid, e.g. the layer name; skipped where no font renders. */
  title?: string;
}

/** What {@link activationGrid} returns. */
export interface ActivationGrid {
  /** The PNG file's bytes. */
  png: Uint8Array;
  /** The same picture, raw. */
  image: RawImage;
  /** Rows and columns of tiles. */
  rows: number;
  cols: number;
}

/**
 * Standardise one channel for display as the book does: (v − mean) / std ·
 * 64 + 128, clipped to 0–255. A constant channel (std 0) is uniform grey 128.
 *
 * @example
 * ```ts
 * import { standardizeChannel } from "./activations.ts";
 * standardizeChannel(new Float32Array([3, 3, 3])); // Uint8Array [128, 128, 128]
 * ```
 */
export function standardizeChannel(values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (values[i] - mean) ** 2;
  const std = Math.sqrt(variance / n);
  const out = new Uint8Array(n);
  // A float32 "constant" channel may still wobble in the last bits.
  if (!(std > 1e-6 * Math.max(1, Math.abs(mean)))) return out.fill(128);
  for (let i = 0; i < n; i++) out[i] = Math.min(255, Math.max(0, Math.round((values[i] - mean) / std * 64 + 128)));
  return out;
}

/**
 * Tile every channel of one layer's output (1, h, w, c), each standardised by
 * {@link standardizeChannel}, `imagesPerRow` to a row (rows rounded up: 32
 * channels at 16 per row → 2 rows).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { activationGrid } from "./activations.ts";
 * const { png, rows } = await activationGrid(tf.randomNormal([1, 36, 36, 64]) as tf.Tensor4D, { title: "conv2d_2" });
 * ```
 */
export async function activationGrid(
  layerOutput: tf.Tensor,
  options: ActivationGridOptions = {},
): Promise<ActivationGrid> {
  if (layerOutput.rank !== 4 || layerOutput.shape[0] !== 1) {
    throw new RangeError(
      `activationGrid shows a conv layer's output of shape (1, h, w, c), got [${layerOutput.shape}]: ` +
        `pass one picture's activations of a Conv2D/pooling layer (dense outputs have no spatial layout).`,
    );
  }
  const [, h, w, c] = layerOutput.shape;
  const cols = Math.min(options.imagesPerRow ?? 16, c);
  const scale = options.scale ?? Math.max(1, Math.ceil(32 / Math.max(h, w)));
  const values = await layerOutput.data();
  const channel = new Float32Array(h * w);
  const tiles: RawImage[] = [];
  for (let k = 0; k < c; k++) {
    for (let i = 0; i < h * w; i++) channel[i] = values[i * c + k];
    const gray = standardizeChannel(channel);
    const tile: RawImage = options.colormap === "viridis"
      ? applyColormap(Float32Array.from(gray, (g) => g / 255), w, h, "viridis")
      : { data: gray, width: w, height: h, channels: 1 };
    tiles.push(upscale(tile, scale));
  }
  const grid = tileGrid(tiles, { cols, margin: options.margin ?? 1, background: options.background ?? 255 });
  const image = options.title ? await addTitle(grid, options.title) : grid;
  return { png: await encodePng(image), image, rows: Math.ceil(c / cols), cols };
}

/** Options of {@link showActivations}. */
export interface ShowActivationsOptions extends Omit<ActivationGridOptions, "title"> {
  /** Layer names, or how many of the first layers (default 8, as the book). */
  layers?: string[] | number;
  /** Multiply a picture given as a path or bytes by this (default 1/255, the book's rescale). */
  rescale?: number;
}

/** One layer that {@link showActivations} displayed. */
export interface LayerActivation {
  name: string;
  shape: number[];
  png: Uint8Array;
}

/**
 * Show one activation grid per layer (the book's listing 5.28 loop): the
 * picture is a (1, h, w, 3) tensor, or a file path/bytes that is decoded,
 * resized to the model's input and rescaled by 1/255. Layers whose output is
 * not (1, h, w, c) (flatten, dense) are skipped. Returns what was shown.
 *
 * @example
 * ```ts
 * import { smallConvnet } from "../models/convnets.ts";
 * import { showActivations } from "./activations.ts";
 * await showActivations(smallConvnet(), "../shared/datasets/cats_and_dogs_small/test/cats/cat.1700.jpg");
 * ```
 */
export async function showActivations(
  model: tf.LayersModel,
  image: tf.Tensor | string | Uint8Array,
  options: ShowActivationsOptions = {},
): Promise<LayerActivation[]> {
  const picked = pickLayers(model, options.layers ?? 8);
  const input = image instanceof tf.Tensor ? image : await pictureTensor(model, image, options.rescale ?? 1 / 255);
  const acts = activationModel(model, picked.map((l) => l.name));
  const outputs = predictAll(acts, input);
  const shown: LayerActivation[] = [];
  try {
    for (const [i, out] of outputs.entries()) {
      if (out.rank !== 4) continue;
      const name = picked[i].name;
      const { png } = await activationGrid(out, { ...options, title: `${name} ${JSON.stringify(out.shape)}` });
      await showPng(png, `${name}: activations of shape (${out.shape.join(", ")})`);
      shown.push({ name, shape: out.shape, png });
    }
  } finally {
    tf.dispose(outputs);
    if (input !== image) input.dispose();
  }
  return shown;
}

async function pictureTensor(
  model: tf.LayersModel,
  source: string | Uint8Array,
  rescale: number,
): Promise<tf.Tensor4D> {
  // The same decoding and resizing as the training pipeline (Keras' load_img), so the model sees what it learnt on.
  const [, h, w] = model.inputs[0].shape;
  const img = await loadImg(source, h && w ? { targetSize: [h, w] } : {});
  return tf.tidy(() => imgToArray(img).mul(rescale).expandDims(0) as tf.Tensor4D);
}

/**
 * Section 5.4.3: class activation maps by Grad-CAM. The gradient of a class
 * score with respect to a conv layer's output, averaged per channel, weights
 * that layer's channels; their mean, through a ReLU and normalised to
 * [0, 1], says where in the picture the evidence for the class lies
 * (the book's listings 5.40–5.45).
 *
 * The model is cut at the conv layer (see `submodel.ts`): `base` gives the
 * layer's output, `head` the class scores from it, so `tf.grad` can
 * differentiate the head alone.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { smallConvnet } from "../models/convnets.ts";
 * import { gradCam, overlayHeatmap } from "./gradcam.ts";
 * const model = smallConvnet();
 * const cat = "../shared/datasets/cats_and_dogs_small/test/cats/cat.1700.jpg";
 * const heatmap = await gradCam(model, tf.zeros([1, 150, 150, 3]), { layerName: "conv2d_4", classIndex: 0 });
 * const jpeg = await overlayHeatmap(cat, heatmap, { outPath: "data/cat_cam.jpg" });
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  applyColormap,
  colormapJet,
  type ColormapName,
  decodeRgb,
  encodeJpeg,
  encodePng,
  resizeBilinear,
  upscale,
} from "./image.ts";
import { runLayers, splitAt } from "../models/submodel.ts";

/** A class activation map: values in [0, 1], row-major. */
export interface Heatmap {
  data: Float32Array;
  height: number;
  width: number;
  /** The class the map explains. */
  classIndex: number;
  /** The model's score for that class (for a one-unit sigmoid model and class 0: 1 − output). */
  score: number;
}

/** Options of {@link gradCam}. */
export interface GradCamOptions {
  /** The conv layer whose output is weighted (VGG16: `block5_conv3`; the 5.2 convnet: `conv2d_4`). */
  layerName: string;
  /**
   * The class to explain (default: the predicted one). For a one-unit sigmoid
   * model, 1 is the positive class (dogs) scored by the output and 0 the
   * negative one (cats) scored by 1 − output.
   */
  classIndex?: number;
}

function scoreOf(preds: tf.Tensor, classIndex: number): tf.Scalar {
  const units = preds.shape[1]!;
  if (units === 1) return (classIndex === 1 ? preds.reshape([]) : tf.sub(1, preds.reshape([]))) as tf.Scalar;
  return preds.slice([0, classIndex], [1, 1]).reshape([]) as tf.Scalar;
}

/**
 * Grad-CAM heatmap of one picture: (1, h, w, c) already preprocessed as the
 * model expects (VGG16: `preprocessInput`; the 5.2 convnet: ×1/255). The map
 * has the conv layer's spatial size (VGG16 `block5_conv3` at 224 px: 14×14;
 * the 5.2 convnet's `conv2d_4` at 150 px: 15×15, 7×7 after its pooling layer
 * `max_pooling2d_4`). A map with no positive evidence is all zeros.
 *
 * @throws {Error} for a batch other than one picture, a layer that is not in
 *   a chain model, or a class index the model does not have.
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { smallConvnet } from "../models/convnets.ts";
 * import { gradCam } from "./gradcam.ts";
 * const cam = await gradCam(smallConvnet(), tf.zeros([1, 150, 150, 3]), { layerName: "conv2d_4" });
 * console.log(cam.height, cam.width); // 15 15
 * ```
 */
export async function gradCam(model: tf.LayersModel, image: tf.Tensor, options: GradCamOptions): Promise<Heatmap> {
  if (image.rank !== 4 || image.shape[0] !== 1) {
    throw new RangeError(
      `gradCam explains one picture of shape (1, h, w, c), got [${image.shape}]: add the batch axis (expandDims(0)).`,
    );
  }
  const { base, head } = splitAt(model, options.layerName);
  const convOut = tf.tidy(() => runLayers(base, image));
  try {
    if (convOut.rank !== 4) {
      throw new RangeError(
        `layer ${options.layerName} outputs shape [${convOut.shape}], not (1, h, w, c): pick a conv or pooling layer.`,
      );
    }
    const preds = tf.tidy(() => runLayers(head, convOut));
    const predShape = preds.shape;
    const predValues = await preds.data();
    preds.dispose();
    if (predShape.length !== 2) {
      throw new RangeError(`model ${model.name} outputs shape [${predShape}]; Grad-CAM needs class scores (1, n).`);
    }
    const units = predShape[1];
    const classCount = units === 1 ? 2 : units;
    const predicted = units === 1 ? (predValues[0] >= 0.5 ? 1 : 0) : predValues.indexOf(Math.max(...predValues));
    const classIndex = options.classIndex ?? predicted;
    if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classCount) {
      throw new RangeError(
        `classIndex ${classIndex} is not a class of model ${model.name}: use 0 to ${classCount - 1}` +
          (units === 1 ? " (one sigmoid unit: 0 = negative class, 1 = positive class)." : "."),
      );
    }
    const score = units === 1 ? (classIndex === 1 ? predValues[0] : 1 - predValues[0]) : predValues[classIndex];
    const cam = tf.tidy(() => {
      const grads = tf.grad((c: tf.Tensor) => scoreOf(runLayers(head, c), classIndex))(convOut);
      const pooled = grads.mean([0, 1, 2]);
      return convOut.mul(pooled).mean(-1).squeeze([0]).relu();
    });
    const data = (await cam.data()) as Float32Array;
    const [height, width] = cam.shape;
    cam.dispose();
    let max = 0;
    for (const v of data) if (v > max) max = v;
    if (max > 0 && Number.isFinite(max)) { for (let i = 0; i < data.length; i++) data[i] /= max; }
    else data.fill(0);
    return { data, height, width, classIndex, score };
  } finally {
    convOut.dispose();
  }
}

/** Options of {@link overlayHeatmap}. */
export interface OverlayOptions {
  /** Weight of the coloured heatmap added to the picture (default 0.4, the book's). */
  alpha?: number;
  /** Also write the JPEG here (folders are created). */
  outPath?: string;
  /** JPEG quality 1–100 (default 90). */
  quality?: number;
}

/**
 * Superimpose a heatmap on the original picture as the book does: resize the
 * map to the picture (bilinear), to uint8, through JET, then
 * `heatmap·alpha + picture` clipped to 255; returns the JPEG's bytes.
 *
 * @example
 * ```ts
 * import { overlayHeatmap } from "./gradcam.ts";
 * const heatmap = { data: new Float32Array(196).fill(0.5), height: 14, width: 14, classIndex: 386, score: 0.9 };
 * const jpeg = await overlayHeatmap("../shared/images/creative_commons_elephant.jpg", heatmap, {
 *   outPath: "data/elephant_cam.jpg",
 * });
 * ```
 */
export async function overlayHeatmap(
  picture: string | Uint8Array,
  heatmap: Pick<Heatmap, "data" | "height" | "width">,
  options: OverlayOptions = {},
): Promise<Uint8Array> {
  const alpha = options.alpha ?? 0.4;
  const img = await decodeRgb(picture);
  const big = resizeBilinear(heatmap.data, heatmap.width, heatmap.height, img.width, img.height);
  const lut = Array.from({ length: 256 }, (_, i) => colormapJet(i / 255));
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < big.length; i++) {
    // np.uint8(255 * heatmap): truncation.
    const rgb = lut[Math.min(255, Math.max(0, Math.trunc(255 * big[i])))];
    for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.min(255, Math.round(rgb[k] * alpha + img.data[i * 3 + k]));
  }
  const jpeg = await encodeJpeg({ ...img, data: out }, { quality: options.quality });
  if (options.outPath) {
    await mkdir(dirname(options.outPath), { recursive: true });
    await writeFile(options.outPath, jpeg);
  }
  return jpeg;
}

/**
 * The heatmap alone as a PNG, like the book's `plt.matshow(heatmap)`: each
 * cell a `cell`×`cell` block (default: about 224 px across).
 *
 * @example
 * ```ts
 * import { heatmapPng } from "./gradcam.ts";
 * const png = await heatmapPng({ data: new Float32Array([0, 0.5, 0.5, 1]), height: 2, width: 2 });
 * ```
 */
export function heatmapPng(
  heatmap: Pick<Heatmap, "data" | "height" | "width">,
  options: { cell?: number; colormap?: ColormapName } = {},
): Promise<Uint8Array> {
  const cell = options.cell ?? Math.max(1, Math.round(224 / Math.max(heatmap.width, heatmap.height)));
  const img = applyColormap(heatmap.data, heatmap.width, heatmap.height, options.colormap ?? "viridis");
  return encodePng(upscale(img, cell));
}

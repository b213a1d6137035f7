/**
 * matplotlib's and OpenCV's picture calls of the book, for notebook cells:
 * `plt.imshow` → {@link imshow}, `plt.matshow` → {@link matshow},
 * `cv2.imwrite` → {@link imwrite}, and {@link showJpeg} for a JPEG file's bytes.
 * Pictures go to the cell's output (a PNG or JPEG), or nowhere outside
 * Jupyter except a one-line caption.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { imshow, matshow } from "./show.ts";
 * await imshow(tf.randomUniform([150, 150, 3]), { caption: "noise" }); // values in [0, 1]
 * await matshow(tf.randomNormal([14, 14]), { cmap: "viridis" });
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Buffer } from "node:buffer";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, extname } from "node:path";
import { display, showPng } from "../notebook/display.ts";
import {
  addTitle,
  applyColormap,
  type ColormapName,
  encodeJpeg,
  encodePng,
  type RawImage,
  tensorToImage,
  upscale,
} from "./image.ts";

/** Options of {@link imshow} and {@link matshow}. */
export interface ShowOptions {
  /** The text form of the output (and its only form outside Jupyter). */
  caption?: string;
  /** A title band above the picture (where a font renders). */
  title?: string;
  /** Integer zoom (default: 2 for pictures under 256 px, else 1; {@link matshow}: at least 224 px across). */
  scale?: number;
}

function zoom(img: RawImage, scale: number | undefined, minSide: number): RawImage {
  const side = Math.max(img.width, img.height);
  const factor = scale ?? (side < minSide ? Math.max(2, Math.round(minSide / side)) : 1);
  return factor > 1 ? upscale(img, factor) : img;
}

/**
 * Show a picture tensor as `plt.imshow` does: (h, w, 3), (h, w) or (1, h, w, 3);
 * floats in [0, 1] (the book's `img_tensor[0]`) or 0–255 (int32, or floats
 * above 1, such as a deprocessed pattern), clipped.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { imshow } from "./show.ts";
 * await imshow(tf.fill([64, 64, 3], 128, "int32"));
 * ```
 */
export async function imshow(t: tf.Tensor, options: ShowOptions = {}): Promise<void> {
  const max = t.max().dataSync()[0];
  const unit = t.dtype === "float32" && max <= 1;
  let img = zoom(tensorToImage(t, { range: unit ? [0, 1] : [0, 255] }), options.scale, 256);
  if (options.title) img = await addTitle(img, options.title);
  await showPng(await encodePng(img), options.caption ?? `[picture ${t.shape.join("×")}]`);
}

/** Options of {@link matshow}. */
export interface MatshowOptions extends ShowOptions {
  /** The colormap (default `viridis`, matplotlib's). */
  cmap?: ColormapName;
}

/**
 * Show a matrix as `plt.matshow` does: each value coloured by `cmap` after
 * scaling the matrix's min…max to 0…1 (a constant matrix is all 0). Accepts
 * (h, w), (h, w, 1) or (1, h, w, 1).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { matshow } from "./show.ts";
 * await matshow(tf.tensor2d([[0, 1], [2, 3]]), { cmap: "viridis" });
 * ```
 */
export async function matshow(t: tf.Tensor, options: MatshowOptions = {}): Promise<void> {
  const shape = t.shape.filter((d, i) => !(d === 1 && (i === 0 || i === t.rank - 1)));
  if (shape.length !== 2) {
    throw new RangeError(`matshow shows a matrix (h, w); got shape [${t.shape}]. Slice one channel first.`);
  }
  const [h, w] = shape;
  const values = t.dataSync();
  let lo = Infinity, hi = -Infinity;
  for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const scaled = Float32Array.from(values, (v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
  let img = zoom(applyColormap(scaled, w, h, options.cmap ?? "viridis"), options.scale, 224);
  if (options.title) img = await addTitle(img, options.title);
  await showPng(await encodePng(img), options.caption ?? `[matrix ${h}×${w}, ${options.cmap ?? "viridis"}]`);
}

/**
 * Show a JPEG file's bytes in the cell's output.
 *
 * @example
 * ```ts
 * import { showJpeg } from "./show.ts";
 * await showJpeg(await Deno.readFile("../shared/images/creative_commons_elephant.jpg"), "the elephants");
 * ```
 */
export async function showJpeg(jpeg: Uint8Array, caption = "[JPEG picture]"): Promise<void> {
  await display({ "image/jpeg": Buffer.from(jpeg).toString("base64"), "text/plain": caption });
}

/**
 * Write a picture tensor (h, w, 3) of 0–255 values, clipped, to a `.jpg` or
 * `.png` file as `cv2.imwrite` does (folders are created); returns the
 * file's bytes.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { imwrite } from "./show.ts";
 * await imwrite("data/results/gray.jpg", tf.fill([8, 8, 3], 128));
 * ```
 */
export async function imwrite(path: string, t: tf.Tensor): Promise<Uint8Array> {
  const img = tensorToImage(t, { range: [0, 255] });
  const ext = extname(path).toLowerCase();
  if (![".jpg", ".jpeg", ".png"].includes(ext)) {
    throw new RangeError(`imwrite writes .jpg or .png files, not ${JSON.stringify(path)}.`);
  }
  const bytes = ext === ".png" ? await encodePng(img) : await encodeJpeg(img);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return bytes;
}

/**
 * OpenCV's `cv2.applyColorMap(src, cv2.COLORMAP_JET)` for a (h, w) tensor of
 * 0–255 values: an (h, w, 3) float32 tensor of RGB colours 0–255 (OpenCV
 * gives BGR; here the picture is RGB throughout).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { applyColorMap } from "./show.ts";
 * applyColorMap(tf.tensor2d([[0, 255]]), "jet").shape; // [1, 2, 3]
 * ```
 */
export function applyColorMap(t: tf.Tensor, colormap: ColormapName = "jet"): tf.Tensor3D {
  if (t.rank !== 2) throw new RangeError(`applyColorMap colours a (h, w) tensor; got shape [${t.shape}].`);
  const [h, w] = t.shape;
  const img = applyColormap(Float32Array.from(t.dataSync(), (v) => v / 255), w, h, colormap);
  return tf.tensor3d(Float32Array.from(img.data), [h, w, 3]);
}

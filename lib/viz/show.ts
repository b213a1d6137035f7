/**
 * matplotlib's and OpenCV's picture calls of the book, for notebook cells:
 * `plt.imshow` → {@link imshow}, `plt.matshow` → {@link matshow},
 * `cv2.imwrite` → {@link imwrite}, and {@link showJpeg} for a JPEG file's bytes.
 * Pictures go to the cell's output, or nowhere outside Jupyter but a caption.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Buffer } from "node:buffer";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, extname } from "node:path";
import { display, showPng } from "../notebook/display.ts";
import { type PixelImage, resizeNearest } from "../preprocessing/image.ts";
import { applyColorMap, type ColormapName } from "./colormap.ts";
import { encodeJpeg, encodePng, tensorToImage } from "./encode.ts";
import { addTitle } from "./title.ts";

/** Options of {@link imshow} and {@link matshow}. */
export interface ShowOptions {
  /** {@link matshow}'s colormap (default `viridis`, matplotlib's). */
  cmap?: ColormapName;
  /** The text form of the output (and its only form outside Jupyter). */
  caption?: string;
  /** A title band above the picture (where a font renders). */
  title?: string;
  /** Integer zoom (default: 2 for pictures under 256 px, else 1; {@link matshow}: at least 224 px across). */
  scale?: number;
}

/** Zoom, title, and show as PNG. */
async function show(img: PixelImage, options: ShowOptions, minSide: number, caption: string): Promise<void> {
  const side = Math.max(img.width, img.height);
  const factor = options.scale ?? (side < minSide ? Math.max(2, Math.round(minSide / side)) : 1);
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`scale must be an integer ≥ 1, got ${factor}`);
  if (factor > 1) img = resizeNearest(img, [img.height * factor, img.width * factor]);
  await showPng(await encodePng(await addTitle(img, options.title ?? "")), options.caption ?? caption);
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
  const unit = t.dtype === "float32" && tf.tidy(() => t.max().dataSync()[0]) <= 1;
  const img = tensorToImage(t, { range: unit ? [0, 1] : [0, 255] });
  await show(img, options, 256, `[picture ${t.shape.join("×")}]`);
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
export async function matshow(t: tf.Tensor, options: ShowOptions = {}): Promise<void> {
  const shape = t.shape.filter((d, i) => !(d === 1 && (i === 0 || i === t.rank - 1)));
  if (shape.length !== 2) {
    throw new RangeError(`matshow shows a matrix (h, w); got shape [${t.shape}]. Slice one channel first.`);
  }
  const [h, w] = shape, cmap = options.cmap ?? "viridis";
  const values = t.dataSync();
  let lo = Infinity, hi = -Infinity;
  for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const scaled = tf.tensor2d(Float32Array.from(values, (v) => (hi > lo ? (255 * (v - lo)) / (hi - lo) : 0)), [h, w]);
  const colored = applyColorMap(scaled, cmap);
  const img = tensorToImage(colored);
  tf.dispose([scaled, colored]);
  await show(img, options, 224, `[matrix ${h}×${w}, ${cmap}]`);
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
  const ext = extname(path).toLowerCase();
  if (![".jpg", ".jpeg", ".png"].includes(ext)) {
    throw new RangeError(`imwrite writes .jpg or .png files, not ${JSON.stringify(path)}.`);
  }
  const img = tensorToImage(t, { range: [0, 255] });
  const bytes = ext === ".png" ? await encodePng(img) : await encodeJpeg(img);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return bytes;
}

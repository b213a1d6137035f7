/**
 * Colormaps, as OpenCV's `cv2.applyColorMap` applies them: JET (the book's
 * Grad-CAM overlay), viridis (matplotlib's default, the book's activation
 * plots) and gray.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The colormaps {@link applyColorMap} knows; `gray` maps v to (v, v, v). */
export type ColormapName = "jet" | "viridis" | "gray";

// viridis at 0, 1/8, …, 1 (matplotlib's colours).
// deno-fmt-ignore
const VIRIDIS = [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 144, 140], [39, 173, 129],
  [93, 200, 99], [170, 220, 50], [253, 231, 37]];

// Per colormap, per channel: the (x, value) anchors between which the colour is linear (matplotlib's segment data).
const ANCHORS: Record<ColormapName, [number, number][][]> = {
  jet: [
    [[0, 0], [0.35, 0], [0.66, 1], [0.89, 1], [1, 0.5]],
    [[0, 0], [0.125, 0], [0.375, 1], [0.64, 1], [0.91, 0], [1, 0]],
    [[0, 0.5], [0.11, 1], [0.34, 1], [0.65, 0], [1, 0]],
  ],
  viridis: [0, 1, 2].map((k) => VIRIDIS.map((rgb, i): [number, number] => [i / 8, rgb[k] / 255])),
  gray: [0, 1, 2].map(() => [[0, 0], [1, 1]]),
};

function segment(anchors: [number, number][], v: number): number {
  const i = anchors.findIndex(([x]) => v <= x);
  if (i <= 0) return anchors.at(i)![1]; // v at the first anchor (i = 0) or past the last (i = −1)
  const [[x0, y0], [x1, y1]] = [anchors[i - 1], anchors[i]];
  return y0 + (y1 - y0) * (v - x0) / (x1 - x0);
}

/** The 256 RGB colours of each colormap, for the values 0…255. */
const TABLES = Object.fromEntries(
  Object.entries(ANCHORS).map(([name, rgb]) => [
    name,
    Uint8Array.from({ length: 768 }, (_, i) => Math.round(255 * segment(rgb[i % 3], Math.floor(i / 3) / 255))),
  ]),
) as Record<ColormapName, Uint8Array>;

/**
 * OpenCV's `cv2.applyColorMap(src, cv2.COLORMAP_JET)` for a (h, w) tensor of
 * 0–255 values (rounded and clipped; NaN is 0): an (h, w, 3) float32 tensor
 * of RGB colours 0–255 (OpenCV gives BGR; here pictures are RGB throughout).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { applyColorMap } from "./colormap.ts";
 * applyColorMap(tf.tensor2d([[0, 255]]), "jet").shape; // [1, 2, 3]
 * ```
 */
export function applyColorMap(t: tf.Tensor, colormap: ColormapName = "jet"): tf.Tensor3D {
  if (t.rank !== 2) throw new RangeError(`applyColorMap colours a (h, w) tensor; got shape [${t.shape}].`);
  if (!(colormap in TABLES)) {
    throw new RangeError(`unknown colormap ${JSON.stringify(colormap)}: use "jet", "viridis" or "gray".`);
  }
  const [h, w] = t.shape as [number, number], lut = TABLES[colormap];
  const out = new Float32Array(t.size * 3);
  t.dataSync().forEach((v, i) => {
    const j = Number.isNaN(v) ? 0 : Math.min(255, Math.max(0, Math.round(v))) * 3;
    out.set(lut.subarray(j, j + 3), i * 3);
  });
  return tf.tensor3d(out, [h, w, 3]);
}

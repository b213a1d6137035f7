/**
 * Pictures out: a tensor's values as a {@link PixelImage}, and a picture as
 * PNG or JPEG bytes (sharp).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import type { PixelImage } from "../preprocessing/image.ts";

function toSharp(img: PixelImage): ReturnType<typeof sharp> {
  const want = img.width * img.height * img.channels;
  if (![1, 3, 4].includes(img.channels) || img.data.length !== want) {
    throw new RangeError(
      `picture data has ${img.data.length} bytes but ${img.height}×${img.width}×${img.channels} needs ${want}: ` +
        `pass HWC uint8 data that matches width, height and 1, 3 or 4 channels.`,
    );
  }
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
}

/**
 * Encode a picture as PNG.
 *
 * @example
 * ```ts
 * import { encodePng } from "./encode.ts";
 * const png = await encodePng({ data: new Uint8Array(6), width: 2, height: 3, channels: 1 });
 * ```
 */
export async function encodePng(img: PixelImage): Promise<Uint8Array> {
  return new Uint8Array(await toSharp(img).png().toBuffer());
}

/** Encode a picture as JPEG of quality 90 (an alpha channel is dropped). */
export async function encodeJpeg(img: PixelImage): Promise<Uint8Array> {
  return new Uint8Array(await toSharp(img).removeAlpha().jpeg({ quality: 90 }).toBuffer());
}

/**
 * A tensor's values as a picture: shape (h, w), (h, w, c) or (1, h, w, c)
 * with c ∈ {1, 3, 4}; values map linearly from `range` (default [0, 255])
 * to 0–255, clipped.
 */
export function tensorToImage(t: tf.Tensor, options: { range?: [number, number] } = {}): PixelImage {
  let shape = t.shape;
  if (shape.length === 4 && shape[0] === 1) shape = shape.slice(1);
  if (shape.length === 2) shape = [...shape, 1];
  if (shape.length !== 3 || ![1, 3, 4].includes(shape[2])) {
    throw new RangeError(
      `cannot show a tensor of shape [${t.shape}] as a picture: give (h, w), (h, w, c) or (1, h, w, c) with c = 1, 3 or 4.`,
    );
  }
  const [lo, hi] = options.range ?? [0, 255];
  const k = 255 / (hi - lo || 1);
  const data = Uint8Array.from(t.dataSync(), (v) => Math.min(255, Math.max(0, Math.round((v - lo) * k))));
  return { data, width: shape[1], height: shape[0], channels: shape[2] as 1 | 3 | 4 };
}

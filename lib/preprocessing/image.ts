/**
 * The lib's one picture type, {@link PixelImage}, and loading pictures like
 * Keras 2.0.8's `load_img` and `img_to_array` (PIL), decoded by sharp
 * (libvips, off the JavaScript thread); {@link PICTURE_EXTENSIONS} is the one
 * list of picture files, for the split and `flowFromDirectory` alike.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { PictureError } from "../io/errors.ts";

/**
 * The lib's one picture type, in HWC order (row by row, channels
 * interleaved): 8-bit as decoded, shown and encoded (the layout of
 * `tf.Tensor3D.dataSync()` and of sharp's `raw()`), or float after
 * augmentation.
 *
 * @example
 * ```ts
 * import type { PixelImage } from "./image.ts";
 * const red: PixelImage = { data: new Uint8Array([255, 0, 0]), height: 1, width: 1, channels: 3 };
 * ```
 */
export interface PixelImage<T extends Uint8Array | Float32Array = Uint8Array> {
  /** `height * width * channels` values. */
  data: T;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). */
  channels: 1 | 3 | 4;
}

/** Options of {@link loadImg}. */
export interface LoadImgOptions {
  /** `[height, width]` to resize to (nearest neighbour, like Keras); default: keep the file's size. */
  targetSize?: readonly [number, number] | null;
}

/**
 * The file extensions that are pictures (lower case, no dot): Keras 2.0.8's
 * `flow_from_directory` list (png, jpg, jpeg, bmp, ppm) and TIFF. Files with
 * other extensions (`.gif`, `.webp`, ...) are not pictures to the split or
 * the iterator.
 */
export const PICTURE_EXTENSIONS: readonly string[] = ["jpg", "jpeg", "png", "bmp", "ppm", "tif", "tiff"];

/** Whether a file name ends in one of {@link PICTURE_EXTENSIONS} (any case). */
export function isPictureName(name: string): boolean {
  const dot = name.lastIndexOf(".");
  return dot >= 0 && PICTURE_EXTENSIONS.includes(name.slice(dot + 1).toLowerCase());
}

/** The most pixels {@link loadImg} decodes (or resizes to): 16383 × 16383 (268 million), 805 MB as 8-bit RGB. */
export const MAX_PIXELS = 0x3fff * 0x3fff;

/** Throw the clearest error for a file that could not be decoded, when the file itself is the problem. */
async function explainFileError(path: string): Promise<void> {
  const info = await Deno.stat(path).catch((err) => {
    const missing = err instanceof Deno.errors.NotFound;
    const why = missing ? `no such picture file: ${path} (check the path)` : `cannot read ${path}: ${err.message}`;
    throw new PictureError(why, path, { cause: err });
  });
  if (!info.isFile) throw new PictureError(`not a file: ${path}`, path);
  if (info.size === 0) throw new PictureError(`not an image / corrupt: ${path} (empty file, 0 bytes)`, path);
}

function checkSize(targetSize: readonly [number, number]): void {
  const [h, w] = targetSize;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new RangeError(`targetSize must be [height, width] in whole pixels >= 1, got ${JSON.stringify(targetSize)}`);
  }
  if (h * w > MAX_PIXELS) {
    const what = `targetSize ${JSON.stringify(targetSize)} is ${h * w} pixels`;
    throw new RangeError(`${what}, over the ${MAX_PIXELS} (16383×16383) a picture may have`);
  }
}

/**
 * Decode a picture file (or its bytes) to 8-bit RGB, HWC, as Keras 2.0.8 with
 * PIL: greyscale, palette, 16-bit and CMYK files become sRGB (CMYK colours
 * differ slightly from PIL's naive formula); alpha is dropped, not
 * composited; EXIF orientation is not applied (PIL does not); `targetSize`
 * resizes with {@link resizeNearest}, PIL's `NEAREST`.
 *
 * @example
 * ```ts
 * import { loadImg } from "./image.ts";
 * const img = await loadImg("cat.0.jpg", { targetSize: [150, 150] });
 * console.log(img.height, img.width, img.channels, img.data.length); // 150 150 3 67500
 * ```
 * @throws {PictureError} for a missing, empty, corrupt or non-picture file, or one of more than {@link MAX_PIXELS} pixels.
 */
export async function loadImg(source: string | Uint8Array, options: LoadImgOptions = {}): Promise<PixelImage> {
  const label = typeof source === "string" ? source : "<bytes>";
  if (options.targetSize) checkSize(options.targetSize);
  if (typeof source !== "string" && source.length === 0) {
    throw new PictureError("not an image / corrupt: <bytes> (empty, 0 bytes)", label);
  }
  let decoded: { data: Uint8Array; width: number; height: number; channels: number };
  try {
    // Hand the file to libvips at once (no await before): decoding starts in its threads even
    // when the JavaScript thread is busy right after this call (prefetching relies on it).
    const { data, info } = await sharp(source, { failOn: "error", limitInputPixels: MAX_PIXELS })
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    decoded = {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
      channels: info.channels,
    };
  } catch (err) {
    if (typeof source === "string") await explainFileError(source);
    const reason = (err as Error).message.split("\n")[0].trim();
    if (/exceeds pixel limit/i.test(reason)) {
      const meta = await sharp(source, { limitInputPixels: false }).metadata().catch(() => undefined);
      const size = meta?.width && meta.height
        ? `${meta.width}×${meta.height} = ${(meta.width * meta.height / 1e6).toFixed(0)} million pixels`
        : "more pixels";
      const limit = `${(MAX_PIXELS / 1e6).toFixed(0)} million (16383×16383)`;
      throw new PictureError(
        `too many pixels: ${label} is ${size}, over the ${limit} that loadImg decodes. The file is not ` +
          `necessarily corrupt: shrink it first (e.g. sharp(file).resize(4000).toFile(...), or any image editor).`,
        label,
      );
    }
    throw new PictureError(`not an image / corrupt: ${label} (${reason})`, label, { cause: err });
  }
  if (decoded.channels !== 3) {
    throw new PictureError(
      `not an image / corrupt: ${label} (decoded to ${decoded.channels} channels, expected 3 after RGB conversion)`,
      label,
    );
  }
  let img: PixelImage = { data: decoded.data, height: decoded.height, width: decoded.width, channels: 3 };
  if (options.targetSize && (options.targetSize[0] !== img.height || options.targetSize[1] !== img.width)) {
    img = resizeNearest(img, options.targetSize);
  }
  return img;
}

/** Source index of each output index, for nearest-neighbour resizing as PIL does it. */
function nearestTable(from: number, to: number): Int32Array {
  const table = new Int32Array(to);
  const scale = from / to;
  let pos = scale * 0.5;
  for (let i = 0; i < to; i++) {
    table[i] = Math.min(from - 1, Math.floor(pos));
    pos += scale;
  }
  return table;
}

/**
 * Resize with nearest-neighbour sampling at pixel centres, exactly as PIL's
 * `resize(size, NEAREST)`: output pixel `x` takes source pixel
 * `floor((x + 0.5) * srcWidth / width)` (sharp's `nearest` rounds otherwise).
 * By a whole factor it repeats each pixel: the crisp zoom of `imshow`.
 */
export function resizeNearest(img: PixelImage, targetSize: readonly [number, number]): PixelImage {
  checkSize(targetSize);
  const [h, w] = targetSize, { channels: c, data: src } = img;
  const rows = nearestTable(img.height, h), cols = nearestTable(img.width, w);
  const out = new Uint8Array(h * w * c);
  for (let y = 0, o = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (rows[y] * img.width + cols[x]) * c;
      for (let k = 0; k < c; k++) out[o++] = src[s + k];
    }
  }
  return { data: out, height: h, width: w, channels: c };
}

/** The picture as float32 values 0..255 in HWC order (Keras `img_to_array`), optionally multiplied by `scale`. */
export function imgToFloat32(img: PixelImage, scale = 1): Float32Array {
  return Float32Array.from(img.data, (v) => v * scale);
}

/**
 * The picture as a `tf.Tensor3D` `[height, width, channels]`, float32 0..255 (Keras' `img_to_array`); the caller
 * disposes it.
 *
 * @example
 * ```ts
 * import { imgToArray, loadImg } from "./image.ts";
 * const x = imgToArray(await loadImg("cat.0.jpg", { targetSize: [150, 150] })); // [150, 150, 3] float32
 * ```
 */
export function imgToArray(img: PixelImage): tf.Tensor3D {
  return tf.tensor3d(imgToFloat32(img), [img.height, img.width, img.channels], "float32");
}

/**
 * Load pictures like Keras' `load_img` and `img_to_array` (Keras 2.0.8 with
 * PIL), decoding with sharp (libvips, native, off the JavaScript thread).
 *
 * What a loaded picture looks like, whatever the file:
 *
 * - RGB, 3 channels, 8 bits, HWC order. Greyscale, palette, 16-bit and CMYK
 *   files are converted to sRGB; an alpha channel is dropped, not
 *   composited, as PIL's `convert("RGB")` does. (CMYK goes through libvips'
 *   colour management, PIL uses a naive formula: the colours of CMYK files
 *   differ slightly from Keras'.)
 * - EXIF orientation is NOT applied, because PIL's `Image.open` does not apply
 *   it either: a phone picture stored sideways loads sideways, as in Keras.
 * - `targetSize` resizes with nearest-neighbour sampling at pixel centres,
 *   exactly like PIL's `resize(size, NEAREST)` (Keras 2.0.8's only
 *   interpolation): output pixel `x` takes source pixel
 *   `floor((x + 0.5) * srcWidth / width)`. (sharp's own `nearest` kernel rounds
 *   differently, so the resize is done here, in a cheap JavaScript loop.)
 *
 * {@link PICTURE_EXTENSIONS} is the one list of what counts as a picture file,
 * for the split and for `flowFromDirectory` alike.
 *
 * @example
 * ```ts
 * import { imgToArray, loadImg } from "./image.ts";
 * const img = await loadImg("data/cats_and_dogs_small/train/cats/cat.0.jpg", { targetSize: [150, 150] });
 * const x = imgToArray(img); // tf.Tensor3D [150, 150, 3], float32 in 0..255
 * console.log(x.shape);
 * x.dispose();
 * ```
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

/**
 * Whether a file name ends in one of {@link PICTURE_EXTENSIONS} (any case).
 *
 * @example
 * ```ts
 * import { isPictureName } from "./image.ts";
 * isPictureName("cat.0.JPG"); // true
 * isPictureName("cat.0.gif"); // false
 * ```
 */
export function isPictureName(name: string): boolean {
  const dot = name.lastIndexOf(".");
  return dot >= 0 && PICTURE_EXTENSIONS.includes(name.slice(dot + 1).toLowerCase());
}

/** The most pixels {@link loadImg} decodes (or resizes to): 16383 × 16383 (268 million), 805 MB as 8-bit RGB. */
export const MAX_PIXELS = 0x3fff * 0x3fff;

/** Throw the clearest error for a file that could not be decoded, when the file itself is the problem. */
async function explainFileError(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new PictureError(`no such picture file: ${path} (check the path)`, path, { cause: err });
    }
    throw new PictureError(`cannot read ${path}: ${(err as Error).message}`, path, { cause: err });
  }
  if (!info.isFile) throw new PictureError(`not a file: ${path}`, path);
  if (info.size === 0) throw new PictureError(`not an image / corrupt: ${path} (empty file, 0 bytes)`, path);
}

function checkSize(targetSize: readonly [number, number]): void {
  const [h, w] = targetSize;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new RangeError(`targetSize must be [height, width] in whole pixels >= 1, got ${JSON.stringify(targetSize)}`);
  }
  if (h * w > MAX_PIXELS) {
    throw new RangeError(
      `targetSize ${JSON.stringify(targetSize)} is ${
        h * w
      } pixels, over the ${MAX_PIXELS} (16383×16383) a picture may have`,
    );
  }
}

/**
 * Decode a picture file (or its bytes) to 8-bit RGB, optionally
 * resized; see the module doc for the exact Keras semantics.
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
      throw new PictureError(
        `too many pixels: ${label} is ${size}, over the ${
          (MAX_PIXELS / 1e6).toFixed(0)
        } million (16383×16383) that loadImg decodes. The file is not necessarily corrupt: shrink it first ` +
          `(e.g. sharp(file).resize(4000).toFile(...), or any image editor).`,
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
 * `Image.resize(size, NEAREST)` (what Keras 2.0.8's `load_img(target_size=...)` uses).
 * By a whole factor it repeats each pixel: the crisp zoom of `imshow` and `matshow`.
 *
 * @example
 * ```ts
 * import { resizeNearest } from "./image.ts";
 * const img = { data: new Uint8Array(4 * 4 * 3), height: 4, width: 4, channels: 3 as const };
 * console.log(resizeNearest(img, [2, 2]).data.length); // 12
 * ```
 */
export function resizeNearest(img: PixelImage, targetSize: readonly [number, number]): PixelImage {
  checkSize(targetSize);
  const [h, w] = targetSize;
  const c = img.channels;
  const rows = nearestTable(img.height, h);
  const cols = nearestTable(img.width, w);
  const out = new Uint8Array(h * w * c);
  const src = img.data;
  const srcRow = img.width * c;
  let o = 0;
  for (let y = 0; y < h; y++) {
    const base = rows[y] * srcRow;
    if (c === 3) {
      for (let x = 0; x < w; x++) {
        const s = base + cols[x] * 3;
        out[o++] = src[s];
        out[o++] = src[s + 1];
        out[o++] = src[s + 2];
      }
    } else if (c === 1) {
      for (let x = 0; x < w; x++) out[o++] = src[base + cols[x]];
    } else {
      for (let x = 0; x < w; x++) {
        const s = base + cols[x] * c;
        for (let k = 0; k < c; k++) out[o++] = src[s + k];
      }
    }
  }
  return { data: out, height: h, width: w, channels: c };
}

/**
 * The picture as float32 values 0..255 in HWC order (Keras `img_to_array`), optionally multiplied by `scale`.
 *
 * @example
 * ```ts
 * import { imgToFloat32 } from "./image.ts";
 * const x = imgToFloat32({ data: new Uint8Array([0, 128, 255]), height: 1, width: 1, channels: 3 }, 1 / 255);
 * console.log(x); // Float32Array [0, 0.50196..., 1]
 * ```
 */
export function imgToFloat32(img: PixelImage, scale = 1): Float32Array {
  const out = new Float32Array(img.data.length);
  const src = img.data;
  if (scale === 1) { for (let i = 0; i < src.length; i++) out[i] = src[i]; }
  else for (let i = 0; i < src.length; i++) out[i] = src[i] * scale;
  return out;
}

/**
 * The picture as a `tf.Tensor3D` `[height, width, channels]`, float32 0..255 (Keras' `img_to_array`); the caller
 * disposes it.
 *
 * @example
 * ```ts
 * import { imgToArray, loadImg } from "./image.ts";
 * const x = imgToArray(await loadImg("cat.0.jpg", { targetSize: [150, 150] }));
 * console.log(x.shape, x.dtype); // [150, 150, 3] float32
 * x.dispose();
 * ```
 */
export function imgToArray(img: PixelImage): tf.Tensor3D {
  return tf.tensor3d(imgToFloat32(img), [img.height, img.width, img.channels], "float32");
}

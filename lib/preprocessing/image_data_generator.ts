/**
 * Random augmentation with the meaning of Keras 2.0.8's `ImageDataGenerator`
 * (the book's version), as a tight JavaScript loop over HWC pixels; its
 * `flowFromDirectory` makes the batch iterator.
 *
 * @module
 */
import {
  DirectoryIterator,
  type FlowFromDirectoryOptions,
  type ImageTransformer,
  listDirectory,
} from "./directory_iterator.ts";
import type { PixelImage } from "./image.ts";
import { checkSeed, Random, randomSeed } from "./random.ts";

/** An 8-bit (decoded) or float (already transformed) picture: what the transforms accept. */
type AnyPixelImage = PixelImage<Uint8Array | Float32Array>;

/** How points outside the picture are filled (scipy/Keras `fill_mode`). */
export type FillMode = "nearest" | "constant" | "reflect" | "wrap";

const FILL_MODES: readonly FillMode[] = ["nearest", "constant", "reflect", "wrap"];

/** Options of {@link imageDataGenerator}, named like Keras' arguments in camelCase. */
export interface ImageDataGeneratorOptions {
  /** Multiply every value by this after augmenting (e.g. `1 / 255`); default none. */
  rescale?: number | null;
  /** Degrees; rotations are uniform in [-rotationRange, rotationRange]. */
  rotationRange?: number;
  /** Fraction of the width; horizontal shifts are uniform in ±width·widthShiftRange pixels. */
  widthShiftRange?: number;
  /** Fraction of the height; vertical shifts are uniform in ±height·heightShiftRange pixels. */
  heightShiftRange?: number;
  /** Radians (Keras 2.0.8; later Keras reads degrees); shear angles are uniform in ±shearRange. */
  shearRange?: number;
  /** `z` for [1 - z, 1 + z], or `[lo, hi]`; zx and zy are drawn independently. */
  zoomRange?: number | readonly [number, number];
  /** Flip left-right with probability 0.5. */
  horizontalFlip?: boolean;
  /** Flip upside down with probability 0.5. */
  verticalFlip?: boolean;
  /** Default `nearest`. */
  fillMode?: FillMode;
  /** The value for `fillMode: "constant"` (before rescaling, 0..255); default 0. */
  cval?: number;
  /** Seed of the draws (default: random). */
  seed?: number;
}

/**
 * One draw of {@link ImageDataGenerator.randomTransform}: rotation `theta` in
 * degrees (counter-clockwise on screen), shifts `tx` (rows) and `ty`
 * (columns) in pixels, `shear` in radians, zoom factors `zx` (rows) and `zy`
 * (columns), and the flips applied after the affine transform.
 */
export interface TransformParams {
  theta: number;
  tx: number;
  ty: number;
  shear: number;
  zx: number;
  zy: number;
  flipHorizontal: boolean;
  flipVertical: boolean;
}

/** The parameters that change nothing. */
export const IDENTITY_TRANSFORM: Readonly<TransformParams> = Object.freeze({
  ...{ theta: 0, tx: 0, ty: 0, shear: 0, zx: 1, zy: 1 },
  ...{ flipHorizontal: false, flipVertical: false },
});

/**
 * The 2×3 matrix `[a, b, c, d, e, f]` mapping an output pixel (row `i`, column `j`) to its source point
 * (`a·i + b·j + c`, `d·i + e·j + f`), as Keras 2.0.8 composes it: rotation · shift · shear · zoom about the
 * centre (`h/2 + 0.5`, as `transform_matrix_offset_center`).
 */
export function transformMatrix(params: TransformParams, height: number, width: number): Float64Array {
  // 3×3 row-major products, starting from the identity; only the non-identity parts multiply in.
  let m = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const mul = (a: number[], b: number[]) => {
    const r = new Array<number>(9);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    }
    return r;
  };
  if (params.theta !== 0) {
    const t = Math.PI / 180 * params.theta;
    m = mul(m, [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1]);
  }
  if (params.tx !== 0 || params.ty !== 0) m = mul(m, [1, 0, params.tx, 0, 1, params.ty, 0, 0, 1]);
  if (params.shear !== 0) m = mul(m, [1, -Math.sin(params.shear), 0, 0, Math.cos(params.shear), 0, 0, 0, 1]);
  if (params.zx !== 1 || params.zy !== 1) m = mul(m, [params.zx, 0, 0, 0, params.zy, 0, 0, 0, 1]);
  const [ox, oy] = [height / 2 + 0.5, width / 2 + 0.5]; // offset · m · reset
  const [a, b, c, d, e, f] = m;
  return new Float64Array([a, b, c + ox - a * ox - b * oy, d, e, f + oy - d * ox - e * oy]);
}

/** scipy.ndimage's (pre-1.6) `map_coordinate`: bring a coordinate outside [0, len-1] back in, or -1 for constant. */
function mapCoordinate(x: number, len: number, mode: FillMode): number {
  if (x >= 0 && x <= len - 1) return x;
  if (mode === "constant") return -1;
  if (mode === "nearest" || len <= 1) return x < 0 ? 0 : len - 1;
  if (mode === "wrap") {
    const sz = len - 1;
    return x < 0 ? x + sz * (Math.trunc(-x / sz) + 1) : x - sz * Math.trunc(x / sz);
  }
  const sz2 = 2 * len; // reflect
  if (x < 0) {
    if (x < -sz2) x = sz2 * Math.trunc(-x / sz2) + x;
    return x < -len ? x + sz2 : -x - 1;
  }
  x -= sz2 * Math.trunc(x / sz2);
  return x >= len ? sz2 - x - 1 : x;
}

/** Round a mapped coordinate to a pixel index (scipy order 0: floor(x + 0.5)), kept inside [0, len-1]. */
function toIndex(x: number, len: number): number {
  const i = Math.floor(x + 0.5);
  return i < 0 ? 0 : i >= len ? len - 1 : i;
}

function isIdentity(p: TransformParams): boolean {
  return p.theta === 0 && p.tx === 0 && p.ty === 0 && p.shear === 0 && p.zx === 1 && p.zy === 1;
}

/** Options of {@link transformInto} and {@link applyTransform}. */
export interface ApplyOptions {
  /** Default `nearest`. */
  fillMode?: FillMode;
  /** Fill value for `constant`, before `scale`; default 0. */
  cval?: number;
  /** Multiply every written value by this; default 1. */
  scale?: number;
}

/**
 * Write `image` transformed by `params` into `out` from `offset` (HWC), as
 * Keras 2.0.8 does: every output pixel takes the nearest source pixel
 * (`scipy.ndimage.affine_transform`, `order=0`; points exactly half a pixel
 * outside may round otherwise), outside points filled by `fillMode` (scipy's,
 * `wrap` with its historical period of size − 1), then the flips, then
 * `scale` (Keras' `standardize` rescales last).
 */
export function transformInto(
  image: AnyPixelImage,
  params: TransformParams,
  out: Float32Array,
  offset = 0,
  options: ApplyOptions = {},
): void {
  const { height: h, width: w, channels: c, data: src } = image;
  const mode = options.fillMode ?? "nearest";
  const scale = options.scale ?? 1;
  const fill = (options.cval ?? 0) * scale;
  if (src.length !== h * w * c) {
    throw new RangeError(`image data has ${src.length} values, but ${h}×${w}×${c} = ${h * w * c} were expected`);
  }
  if (offset + h * w * c > out.length) {
    throw new RangeError(`out has room for ${out.length - offset} values from ${offset}, the image needs ${h * w * c}`);
  }
  const rowStride = w * c;
  const hMax = h - 1;
  const wMax = w - 1;
  // Flips: write each output row backwards and/or the rows bottom-up.
  const step = params.flipHorizontal ? -c : c;
  const rowStart = params.flipHorizontal ? wMax * c : 0;
  if (isIdentity(params)) {
    for (let i = 0; i < h; i++) {
      let o = offset + (params.flipVertical ? hMax - i : i) * rowStride + rowStart;
      const base = i * rowStride;
      for (let s = base; s < base + rowStride; s += c, o += step) {
        for (let k = 0; k < c; k++) out[o + k] = src[s + k] * scale;
      }
    }
    return;
  }
  const [a, b, cc, d, e, f] = transformMatrix(params, h, w);
  for (let i = 0; i < h; i++) {
    let o = offset + (params.flipVertical ? hMax - i : i) * rowStride + rowStart;
    const r0 = a * i + cc;
    const q0 = d * i + f;
    for (let j = 0; j < w; j++, o += step) {
      const r = r0 + b * j;
      const q = q0 + e * j;
      let s: number;
      if (r >= 0 && r <= hMax && q >= 0 && q <= wMax) {
        s = ((r + 0.5) | 0) * rowStride + ((q + 0.5) | 0) * c;
      } else {
        const mr = mapCoordinate(r, h, mode);
        const mq = mapCoordinate(q, w, mode);
        if (mr === -1 || mq === -1) {
          for (let k = 0; k < c; k++) out[o + k] = fill;
          continue;
        }
        s = toIndex(mr, h) * rowStride + toIndex(mq, w) * c;
      }
      for (let k = 0; k < c; k++) out[o + k] = src[s + k] * scale;
    }
  }
}

/** `image` transformed by `params` as a new float picture (values as in the input; `scale` multiplies them). */
export function applyTransform(
  image: AnyPixelImage,
  params: TransformParams,
  options: ApplyOptions = {},
): PixelImage<Float32Array> {
  const out = new Float32Array(image.height * image.width * image.channels);
  transformInto(image, params, out, 0, options);
  return { data: out, height: image.height, width: image.width, channels: image.channels };
}

/**
 * A range option: a number from 0 to `max` (0 when absent). The bounds keep
 * every draw and pixel coordinate finite (a `rotationRange` of 1e308 would
 * make NaN pictures) and cover every meaningful value.
 */
function checkRange(name: string, value: number | undefined, max: number, why: string): number {
  const v = value ?? 0;
  if (typeof v !== "number" || !(v >= 0 && v <= max)) {
    throw new RangeError(`${name} must be a number from 0 to ${max} (${why}), got ${value}`);
  }
  return v;
}

/** `zoomRange` as `[lo, hi]`: `z` for `[1 - z, 1 + z]`, or `[lo, hi]` with 0 < lo <= hi <= 100. */
function zoomBounds(z: number | readonly [number, number]): readonly [number, number] {
  if (typeof z === "number") {
    checkRange("zoomRange", z, 100, "zoom factors 1 - z to 1 + z");
    return [1 - z, 1 + z];
  }
  if (Array.isArray(z) && z.length === 2 && z.every((v) => v > 0 && v <= 100) && z[0] <= z[1]) return [z[0], z[1]];
  throw new RangeError(
    `zoomRange must be a number z (for [1 - z, 1 + z]) or [lo, hi] with 0 < lo <= hi <= 100, got ${JSON.stringify(z)}`,
  );
}

/**
 * A configured generator; create it with {@link imageDataGenerator}. Its
 * `flowFromDirectory` makes the batch iterator, which always holds it: the
 * generator is the one place where pictures are augmented and rescaled.
 */
export class ImageDataGenerator implements ImageTransformer<TransformParams> {
  /** The options, checked (see {@link ImageDataGeneratorOptions}); `zoomRange` as `[lo, hi]`. */
  readonly rescale: number | null;
  readonly rotationRange: number;
  readonly widthShiftRange: number;
  readonly heightShiftRange: number;
  readonly shearRange: number;
  readonly zoomRange: readonly [number, number];
  readonly horizontalFlip: boolean;
  readonly verticalFlip: boolean;
  readonly fillMode: FillMode;
  readonly cval: number;
  /** The seed the draws started from. */
  readonly seed: number;
  #rng: Random;

  /** Prefer {@link imageDataGenerator}. */
  constructor(options: ImageDataGeneratorOptions = {}) {
    const rescale = options.rescale ?? null;
    if (rescale !== null && !Number.isFinite(rescale)) throw new RangeError(`rescale must be a number, got ${rescale}`);
    this.rescale = rescale === 0 ? null : rescale; // Keras: rescale=0 means none
    this.rotationRange = checkRange("rotationRange", options.rotationRange, 360, "degrees");
    this.widthShiftRange = checkRange("widthShiftRange", options.widthShiftRange, 1, "a fraction of the width");
    this.heightShiftRange = checkRange("heightShiftRange", options.heightShiftRange, 1, "a fraction of the height");
    this.shearRange = checkRange("shearRange", options.shearRange, Math.PI, "radians");
    this.zoomRange = zoomBounds(options.zoomRange ?? 0);
    this.horizontalFlip = options.horizontalFlip ?? false;
    this.verticalFlip = options.verticalFlip ?? false;
    this.fillMode = options.fillMode ?? "nearest";
    if (!FILL_MODES.includes(this.fillMode)) {
      throw new RangeError(`fillMode must be one of ${FILL_MODES.join(", ")}, got ${JSON.stringify(options.fillMode)}`);
    }
    this.cval = options.cval ?? 0;
    if (!Number.isFinite(this.cval)) throw new RangeError(`cval must be a finite number, got ${options.cval}`);
    if (options.seed !== undefined) checkSeed(options.seed);
    this.seed = options.seed ?? randomSeed();
    this.#rng = new Random(this.seed);
  }

  /**
   * Draw the parameters for one picture of `height × width` pixels, in Keras' order: rotation, shifts,
   * shear, the zoom factors `zx`, `zy` (independently; above 1 zooms out), then the flips (probability 0.5).
   */
  randomTransform(height: number, width: number): TransformParams {
    const rng = this.#rng;
    const theta = this.rotationRange ? rng.uniform(-this.rotationRange, this.rotationRange) : 0;
    const tx = this.heightShiftRange ? rng.uniform(-this.heightShiftRange, this.heightShiftRange) * height : 0;
    const ty = this.widthShiftRange ? rng.uniform(-this.widthShiftRange, this.widthShiftRange) * width : 0;
    const shear = this.shearRange ? rng.uniform(-this.shearRange, this.shearRange) : 0;
    const zoom = this.zoomRange[0] !== 1 || this.zoomRange[1] !== 1; // zx, then zy, from the same range
    const [zx, zy] = zoom ? [rng.uniform(...this.zoomRange), rng.uniform(...this.zoomRange)] : [1, 1];
    const flipHorizontal = this.horizontalFlip ? rng.next() < 0.5 : false;
    const flipVertical = this.verticalFlip ? rng.next() < 0.5 : false;
    return { theta, tx, ty, shear, zx, zy, flipHorizontal, flipVertical };
  }

  /** Apply given parameters with this generator's fill mode, without rescaling (values stay 0..255). */
  applyTransform(image: AnyPixelImage, params: TransformParams): PixelImage<Float32Array> {
    return applyTransform(image, params, { fillMode: this.fillMode, cval: this.cval });
  }

  /** Write `image` transformed by `params`, then rescaled, into `out` from `offset` (what the iterator calls). */
  transformInto(image: AnyPixelImage, params: TransformParams, out: Float32Array, offset: number): void {
    transformInto(image, params, out, offset, { fillMode: this.fillMode, cval: this.cval, scale: this.rescale ?? 1 });
  }

  /** The state of the random draws (the iterator saves it in its own), and continuing from one. */
  getState(): number {
    return this.#rng.getState();
  }

  setState(state: number): void {
    this.#rng.setState(state);
  }

  /**
   * List `directory`'s class folders, print `Found N images belonging to K classes.`, and return an
   * endless iterator of batches augmented and rescaled by this generator (Keras `flow_from_directory`).
   *
   * @throws {DataError} for a missing folder, or one without class subfolders.
   */
  async flowFromDirectory(directory: string, options: FlowFromDirectoryOptions = {}): Promise<DirectoryIterator> {
    return new DirectoryIterator(directory, this, await listDirectory(directory, options), options);
  }
}

/**
 * Configure random augmentation like Keras 2.0.8's `ImageDataGenerator(...)`
 * (`shearRange` in radians, as 2.0.8 reads it). Left out, as the chapter uses
 * none: featurewise/samplewise normalisation, ZCA whitening, channel shifts.
 *
 * @example
 * ```ts
 * import { imageDataGenerator } from "./image_data_generator.ts";
 * const testDatagen = imageDataGenerator({ rescale: 1 / 255 });
 * const trainDatagen = imageDataGenerator({ rescale: 1 / 255, rotationRange: 40, horizontalFlip: true });
 * ```
 * @throws {RangeError} for a range that is negative, NaN or too large, a bad zoom range, a NaN `cval`, a seed
 * outside 0 … 2³² − 1, or an unknown fill mode.
 */
export function imageDataGenerator(options: ImageDataGeneratorOptions = {}): ImageDataGenerator {
  return new ImageDataGenerator(options);
}

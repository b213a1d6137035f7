/**
 * Picture helpers shared by the visualisations: raw 8-bit pictures, PNG and
 * JPEG encoding (sharp), tiling equal-size tiles into a grid, colormaps (JET,
 * viridis), titles rendered from SVG text, and tensor → PNG.
 *
 * A {@link RawImage} is 8-bit, row-major, channels last (HWC): the layout
 * `tf.Tensor3D.dataSync()` gives and sharp's `raw()` reads.
 *
 * @example
 * ```ts
 * import { colormapJet, encodePng, tileGrid } from "./image.ts";
 * const [r, g, b] = colormapJet(1); // dark red
 * const tile = { data: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4, channels: 3 as const };
 * const grid = tileGrid([tile, tile, tile], { cols: 2, margin: 1 }); // 9×9 pixels
 * const png = await encodePng(grid);
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import { escapeXml } from "../notebook/svg_chart.ts";

type Sharp = ReturnType<typeof sharp>;

/** An 8-bit picture, row-major HWC: gray (1), RGB (3) or RGBA (4) channels. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** An RGB colour, each component 0–255. */
export type Rgb = [number, number, number];

function check(img: RawImage): void {
  if (![1, 3, 4].includes(img.channels)) {
    throw new RangeError(`a picture needs 1, 3 or 4 channels, got ${img.channels}: convert it to gray or RGB first.`);
  }
  const want = img.width * img.height * img.channels;
  if (img.data.length !== want) {
    throw new RangeError(
      `picture data has ${img.data.length} bytes but ${img.height}×${img.width}×${img.channels} needs ${want}: ` +
        `pass HWC uint8 data that matches width, height and channels.`,
    );
  }
}

function toSharp(img: RawImage): Sharp {
  check(img);
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
}

/**
 * Encode a picture as PNG.
 *
 * @example
 * ```ts
 * import { encodePng } from "./image.ts";
 * const png = await encodePng({ data: new Uint8Array(6), width: 2, height: 3, channels: 1 });
 * ```
 */
export async function encodePng(img: RawImage): Promise<Uint8Array> {
  return new Uint8Array(await toSharp(img).png().toBuffer());
}

/**
 * Encode a picture as JPEG (an alpha channel is dropped).
 *
 * @param options.quality 1–100 (default 90).
 * @example
 * ```ts
 * import { encodeJpeg } from "./image.ts";
 * const jpg = await encodeJpeg({ data: new Uint8Array(12).fill(255), width: 2, height: 2, channels: 3 });
 * ```
 */
export async function encodeJpeg(img: RawImage, options: { quality?: number } = {}): Promise<Uint8Array> {
  let s = toSharp(img);
  if (img.channels === 4) s = s.removeAlpha();
  return new Uint8Array(await s.jpeg({ quality: options.quality ?? 90 }).toBuffer());
}

/**
 * Nearest-neighbour upscaling by an integer factor (keeps activation pixels
 * crisp).
 *
 * @example
 * ```ts
 * import { upscale } from "./image.ts";
 * upscale({ data: new Uint8Array([0, 255]), width: 2, height: 1, channels: 1 }, 3).width; // 6
 * ```
 */
export function upscale(img: RawImage, factor: number): RawImage {
  check(img);
  if (!Number.isInteger(factor) || factor < 1) {
    throw new RangeError(`upscale factor must be an integer ≥ 1, got ${factor}`);
  }
  if (factor === 1) return img;
  const { width, height, channels: c } = img;
  const W = width * factor, H = height * factor;
  const out = new Uint8Array(W * H * c);
  for (let y = 0; y < H; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < W; x++) {
      const s = (sy * width + Math.floor(x / factor)) * c, d = (y * W + x) * c;
      for (let k = 0; k < c; k++) out[d + k] = img.data[s + k];
    }
  }
  return { data: out, width: W, height: H, channels: c };
}

/** Options of {@link tileGrid}. */
export interface TileGridOptions {
  /** Tiles per row (default: the square root, rounded up). */
  cols?: number;
  /** Pixels between tiles (not around the border), default 0. */
  margin?: number;
  /** Gray level or RGB colour of margins and empty cells (default 0, black). */
  background?: number | Rgb;
}

/**
 * Lay equal-size tiles out row by row: `cols·w + (cols−1)·margin` wide and
 * `rows·h + (rows−1)·margin` high, as the book's filter grid (8 tiles of 64 px
 * with 5 px margins → 547 px). Gray tiles become RGB when mixed with RGB tiles
 * or a coloured background.
 *
 * @example
 * ```ts
 * import { tileGrid } from "./image.ts";
 * const tile = { data: new Uint8Array(64 * 64 * 3), width: 64, height: 64, channels: 3 as const };
 * tileGrid(Array(64).fill(tile), { cols: 8, margin: 5 }).width; // 547
 * ```
 */
export function tileGrid(tiles: RawImage[], options: TileGridOptions = {}): RawImage {
  if (tiles.length === 0) throw new RangeError("tileGrid needs at least one tile");
  const { width: w, height: h } = tiles[0];
  for (const [i, t] of tiles.entries()) {
    check(t);
    if (t.width !== w || t.height !== h) {
      throw new RangeError(`tile ${i} is ${t.width}×${t.height} but tile 0 is ${w}×${h}: tiles must share one size.`);
    }
  }
  const cols = options.cols ?? Math.ceil(Math.sqrt(tiles.length));
  const margin = options.margin ?? 0;
  const background = options.background ?? 0;
  const rows = Math.ceil(tiles.length / cols);
  const coloured = Array.isArray(background) && !(background[0] === background[1] && background[1] === background[2]);
  const c = tiles.some((t) => t.channels > 1) || coloured ? 3 : 1;
  const W = cols * w + (cols - 1) * margin, H = rows * h + (rows - 1) * margin;
  const out = new Uint8Array(W * H * c);
  const bg = Array.isArray(background) ? background : [background, background, background];
  if (c === 1) out.fill(bg[0]);
  else if (bg.some((v) => v !== 0)) { for (let i = 0; i < out.length; i += 3) out.set(bg, i); }
  tiles.forEach((t, i) => {
    const x0 = (i % cols) * (w + margin), y0 = Math.floor(i / cols) * (h + margin);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = (y * w + x) * t.channels, d = ((y0 + y) * W + x0 + x) * c;
        if (c === 1) out[d] = t.data[s];
        else if (t.channels === 1) out[d] = out[d + 1] = out[d + 2] = t.data[s];
        else out.set(t.data.subarray(s, s + 3), d);
      }
    }
  });
  return { data: out, width: W, height: H, channels: c };
}

// matplotlib's "jet" segment data: (x, value) anchors per channel.
const JET: [number, number][][] = [
  [[0, 0], [0.35, 0], [0.66, 1], [0.89, 1], [1, 0.5]],
  [[0, 0], [0.125, 0], [0.375, 1], [0.64, 1], [0.91, 0], [1, 0]],
  [[0, 0.5], [0.11, 1], [0.34, 1], [0.65, 0], [1, 0]],
];

// viridis at 0, 1/8, …, 1 (matplotlib's default colormap, the book's activation plots).
const VIRIDIS: Rgb[] = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 144, 140],
  [39, 173, 129],
  [93, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

function segment(anchors: [number, number][], v: number): number {
  for (let i = 1; i < anchors.length; i++) {
    const [x1, y1] = anchors[i];
    if (v <= x1) {
      const [x0, y0] = anchors[i - 1];
      return y0 + (y1 - y0) * (v - x0) / (x1 - x0);
    }
  }
  return anchors[anchors.length - 1][1];
}

function unit(v: number): number {
  return Number.isNaN(v) ? 0 : Math.min(1, Math.max(0, v));
}

/**
 * The JET colormap (matplotlib's and OpenCV's `COLORMAP_JET`): 0 → dark blue
 * (0, 0, 128), 0.5 → green-ish, 1 → dark red (128, 0, 0). Values outside
 * [0, 1] are clipped.
 *
 * @example
 * ```ts
 * import { colormapJet } from "./image.ts";
 * colormapJet(0); // [0, 0, 128]
 * ```
 */
export function colormapJet(v: number): Rgb {
  const u = unit(v);
  return JET.map((a) => Math.round(255 * segment(a, u))) as Rgb;
}

/**
 * The viridis colormap (matplotlib's default, which the book's `imshow` plots
 * use): 0 → dark purple, 1 → yellow.
 *
 * @example
 * ```ts
 * import { colormapViridis } from "./image.ts";
 * colormapViridis(1); // [253, 231, 37]
 * ```
 */
export function colormapViridis(v: number): Rgb {
  const u = unit(v) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u)), f = u - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f)) as Rgb;
}

/** The colormaps {@link applyColormap} knows; `gray` maps v to (255v, 255v, 255v). */
export type ColormapName = "jet" | "viridis" | "gray";

/**
 * Map values in [0, 1] (row-major, `height`×`width`) through a colormap to
 * an RGB picture. Values are quantised to 256 levels first, as OpenCV's
 * `applyColorMap` does on `uint8(255·heatmap)`.
 *
 * @example
 * ```ts
 * import { applyColormap } from "./image.ts";
 * const img = applyColormap(new Float32Array([0, 0.5, 1, 0.25]), 2, 2, "jet");
 * ```
 */
export function applyColormap(
  values: ArrayLike<number>,
  width: number,
  height: number,
  colormap: ColormapName = "jet",
): RawImage {
  if (values.length !== width * height) {
    throw new RangeError(`applyColormap got ${values.length} values for a ${height}×${width} picture`);
  }
  const fn = colormap === "jet" ? colormapJet : colormap === "viridis" ? colormapViridis : (v: number): Rgb => {
    const g = Math.round(255 * unit(v));
    return [g, g, g];
  };
  const lut = Array.from({ length: 256 }, (_, i) => fn(i / 255));
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < values.length; i++) out.set(lut[Math.round(255 * unit(values[i]))], i * 3);
  return { data: out, width, height, channels: 3 };
}

/**
 * Copy a tensor's values into a picture: shape (h, w), (h, w, c) or
 * (1, h, w, c) with c ∈ {1, 3, 4}. Values map linearly from `range`
 * (default [0, 255]) to 0–255, clipped.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { tensorToImage } from "./image.ts";
 * tensorToImage(tf.ones([2, 2, 3]), { range: [0, 1] }).data[0]; // 255
 * ```
 */
export function tensorToImage(t: tf.Tensor, options: { range?: [number, number] } = {}): RawImage {
  let shape = t.shape;
  if (shape.length === 4 && shape[0] === 1) shape = shape.slice(1);
  if (shape.length === 2) shape = [...shape, 1];
  if (shape.length !== 3 || ![1, 3, 4].includes(shape[2])) {
    throw new RangeError(
      `cannot show a tensor of shape [${t.shape}] as a picture: give (h, w), (h, w, c) or (1, h, w, c) with c = 1, 3 or 4.`,
    );
  }
  const [lo, hi] = options.range ?? [0, 255];
  const values = t.dataSync();
  const data = new Uint8Array(values.length);
  const k = 255 / (hi - lo || 1);
  for (let i = 0; i < values.length; i++) data[i] = Math.min(255, Math.max(0, Math.round((values[i] - lo) * k)));
  return { data, width: shape[1], height: shape[0], channels: shape[2] as 1 | 3 | 4 };
}

let fontCheck: Promise<boolean> | undefined;

async function renderText(text: string, width: number, height: number, fontSize: number): Promise<Uint8Array> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<text x="4" y="${
      Math.round(height / 2 + fontSize * 0.35)
    }" font-family="DejaVu Sans, Liberation Sans, sans-serif" ` +
    `font-size="${fontSize}" fill="black">${escapeXml(text)}</text></svg>`;
  // Grey level = 255 − alpha of the black text.
  const alpha = await sharp(new TextEncoder().encode(svg)).ensureAlpha().extractChannel(3).raw().toBuffer();
  return new Uint8Array(alpha.length).map((_, i) => 255 - alpha[i]);
}

/**
 * Whether SVG text renders on this machine (librsvg finds a font). Checked
 * once; without a font {@link addTitle} returns the picture unchanged.
 *
 * @example
 * ```ts
 * import { canRenderText } from "./image.ts";
 * if (!(await canRenderText())) console.log("titles go into captions only");
 * ```
 */
export function canRenderText(): Promise<boolean> {
  fontCheck ??= renderText("Ag", 40, 24, 16).then((g) => g.some((v) => v < 128)).catch(() => false);
  return fontCheck;
}

/**
 * Put a one-line title in a white band above a picture. Where no font can
 * render, the picture comes back unchanged (put the title in the caption).
 *
 * @param options.fontSize pixels (default 14).
 * @example
 * ```ts
 * import { addTitle } from "./image.ts";
 * const img = { data: new Uint8Array(100 * 50 * 3), width: 100, height: 50, channels: 3 as const };
 * const titled = await addTitle(img, "conv2d_1"); // 100 wide, 50 + band high
 * ```
 */
export async function addTitle(img: RawImage, title: string, options: { fontSize?: number } = {}): Promise<RawImage> {
  check(img);
  if (!title || !(await canRenderText())) return img;
  const fontSize = options.fontSize ?? 14;
  const band = Math.ceil(fontSize * 1.6);
  const text = await renderText(title, img.width, band, fontSize);
  const c = img.channels === 1 ? 1 : 3;
  const out = new Uint8Array(img.width * (img.height + band) * c);
  for (let i = 0; i < text.length; i++) for (let k = 0; k < c; k++) out[i * c + k] = text[i];
  if (img.channels === c) out.set(img.data, text.length * c);
  else {
    for (let i = 0; i < img.width * img.height; i++) {
      out.set(img.data.subarray(i * 4, i * 4 + 3), (text.length + i) * 3);
    }
  }
  return { data: out, width: img.width, height: img.height + band, channels: c };
}

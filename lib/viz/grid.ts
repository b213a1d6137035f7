/**
 * Equal-size pictures laid out in a grid, as the book's filter and
 * augmentation figures are.
 *
 * @module
 */
import type { PixelImage } from "../preprocessing/image.ts";

/** Options of {@link tileGrid}. */
export interface TileGridOptions {
  /** Tiles per row (default: the square root, rounded up). */
  cols?: number;
  /** Pixels between tiles (not around the border), default 0. */
  margin?: number;
  /** Gray level or RGB colour of margins and empty cells (default 0, black). */
  background?: number | [number, number, number];
}

/**
 * Lay equal-size tiles out row by row: `cols·w + (cols−1)·margin` wide and
 * `rows·h + (rows−1)·margin` high, as the book's filter grid (8 tiles of 64 px
 * with 5 px margins → 547 px). The grid is gray when every tile and the
 * background are, else RGB (an alpha channel is dropped).
 *
 * @example
 * ```ts
 * import { tileGrid } from "./grid.ts";
 * const tile = { data: new Uint8Array(64 * 64 * 3), width: 64, height: 64, channels: 3 as const };
 * tileGrid(Array(64).fill(tile), { cols: 8, margin: 5 }).width; // 547
 * ```
 */
export function tileGrid(tiles: PixelImage[], options: TileGridOptions = {}): PixelImage {
  if (tiles.length === 0) throw new RangeError("tileGrid needs at least one tile");
  const { width: w, height: h } = tiles[0];
  for (const [i, t] of tiles.entries()) {
    if (t.width !== w || t.height !== h || t.data.length !== w * h * t.channels) {
      throw new RangeError(
        `tile ${i} is ${t.width}×${t.height}×${t.channels} with ${t.data.length} bytes but tile 0 is ${w}×${h}: ` +
          `tiles must share one size, with HWC data to match.`,
      );
    }
  }
  const { cols = Math.ceil(Math.sqrt(tiles.length)), margin = 0, background = 0 } = options;
  const bg = typeof background === "number" ? [background, background, background] : background;
  const c = tiles.some((t) => t.channels > 1) || bg[0] !== bg[1] || bg[1] !== bg[2] ? 3 : 1;
  const rows = Math.ceil(tiles.length / cols);
  const W = cols * w + (cols - 1) * margin, H = rows * h + (rows - 1) * margin;
  const out = new Uint8Array(W * H * c);
  const px = bg.slice(0, c);
  for (let i = 0; i < out.length; i += c) out.set(px, i);
  tiles.forEach((t, i) => {
    const x0 = (i % cols) * (w + margin), y0 = Math.floor(i / cols) * (h + margin);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = (y * w + x) * t.channels, d = ((y0 + y) * W + x0 + x) * c;
        if (t.channels === 1) out.fill(t.data[s], d, d + c);
        else out.set(t.data.subarray(s, s + c), d);
      }
    }
  });
  return { data: out, width: W, height: H, channels: c };
}

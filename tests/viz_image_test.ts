/**
 * The picture helpers of lib/viz: PNG/JPEG encoding, tensors as pictures,
 * tile grids, colormaps, titles, and the nearest-neighbour zoom they share
 * with loading (`resizeNearest`).
 */
import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import assert from "node:assert/strict";
import { initBackend } from "@ch5/engine";
import { type PixelImage, resizeNearest } from "../lib/preprocessing/image.ts";
import { applyColorMap } from "../lib/viz/colormap.ts";
import { encodeJpeg, encodePng, tensorToImage } from "../lib/viz/encode.ts";
import { tileGrid } from "../lib/viz/grid.ts";
import { addTitle, canRenderText } from "../lib/viz/title.ts";

await initBackend({ backend: "cpu" });

function solid(width: number, height: number, rgb: [number, number, number]): PixelImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { data, width, height, channels: 3 };
}

Deno.test("tileGrid: 8×8 tiles of 64 px with 5 px margins make the book's 547×547 grid", () => {
  const tiles = Array.from({ length: 64 }, (_, i) => solid(64, 64, [i, 200, 100]));
  const grid = tileGrid(tiles, { cols: 8, margin: 5 });
  assert.equal(grid.width, 547);
  assert.equal(grid.height, 547);
  assert.equal(grid.channels, 3);
  const at = (x: number, y: number) => Array.from(grid.data.subarray((y * 547 + x) * 3, (y * 547 + x) * 3 + 3));
  assert.deepEqual(at(0, 0), [0, 200, 100]); // tile 0, top left
  assert.deepEqual(at(64, 10), [0, 0, 0]); // margin, black by default
  assert.deepEqual(at(69, 0), [1, 200, 100]); // tile 1 starts after 64 + 5
  assert.deepEqual(at(546, 546), [63, 200, 100]); // tile 63, bottom right
  assert.deepEqual(at(0, 69), [8, 200, 100]); // row 1 holds tile 8
});

Deno.test("tileGrid: rows round up, empty cells take the background; gray tiles stay gray unless mixed", () => {
  const gray: PixelImage = { data: new Uint8Array(4).fill(7), width: 2, height: 2, channels: 1 };
  const grid = tileGrid([gray, gray, gray], { cols: 2, margin: 1, background: 255 });
  assert.deepEqual([grid.width, grid.height, grid.channels], [5, 5, 1]);
  assert.equal(grid.data[4 * 5 + 4], 255); // the empty fourth cell
  assert.equal(grid.data[3 * 5 + 0], 7); // third tile
  const mixed = tileGrid([gray, solid(2, 2, [1, 2, 3])], { cols: 2, background: [9, 0, 0] });
  assert.deepEqual([mixed.channels, ...mixed.data.subarray(0, 3), ...mixed.data.subarray(6, 9)], [3, 7, 7, 7, 1, 2, 3]);
  assert.throws(() => tileGrid([gray, solid(3, 3, [0, 0, 0])]), /tile 1 is 3×3×3 with 27 bytes but tile 0 is 2×2/);
  assert.throws(() => tileGrid([]), /at least one tile/);
});

Deno.test("applyColorMap: JET from dark blue to dark red, viridis and gray, as matplotlib/OpenCV", () => {
  const colours = (cmap: "jet" | "viridis" | "gray", values: number[]) => {
    const t = applyColorMap(tf.tensor2d([values]), cmap);
    assert.deepEqual(t.shape, [1, values.length, 3]);
    return (t.arraySync() as number[][][])[0];
  };
  const [zero, one, middle, below, nan, above] = colours("jet", [0, 255, 128, -3, NaN, 300]);
  assert.deepEqual([zero, one], [[0, 0, 128], [128, 0, 0]]);
  assert.ok(middle[1] > 200 && middle[0] < 200 && middle[2] < 200, `jet(128) = ${middle}`);
  assert.deepEqual([below, nan, above], [zero, zero, one], "clipped, NaN as 0");
  assert.deepEqual(colours("viridis", [0, 255]), [[68, 1, 84], [253, 231, 37]]);
  assert.deepEqual(colours("gray", [128]), [[128, 128, 128]]);
  assert.throws(() => applyColorMap(tf.zeros([2, 2, 1])), /\(h, w\) tensor; got shape \[2,2,1\]/);
  assert.throws(() => applyColorMap(tf.zeros([2, 2]), "hot" as never), /unknown colormap "hot"/);
});

Deno.test("encodePng and encodeJpeg round-trip through sharp", async () => {
  const img = solid(20, 10, [255, 0, 0]);
  const png = await encodePng(img);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["png", 20, 10]);
  const back = await sharp(png).raw().toBuffer();
  assert.deepEqual(new Uint8Array(back), img.data);
  const jpg = await encodeJpeg(img);
  assert.deepEqual([jpg[0], jpg[1]], [0xff, 0xd8]);
  const j = await sharp(jpg).raw().toBuffer();
  assert.ok(j[0] > 240 && j[1] < 20, "red survives JPEG");
  const rgba = await encodeJpeg({ data: new Uint8Array(16).fill(255), width: 2, height: 2, channels: 4 });
  assert.equal((await sharp(rgba).metadata()).channels, 3, "JPEG drops the alpha channel");
  await assert.rejects(() => encodePng({ ...img, channels: 1 }), /600 bytes but 10×20×1 needs 200/);
});

Deno.test("tensorToImage accepts (h,w), (h,w,c) and (1,h,w,c) with a value range", () => {
  const t = tf.tensor3d([[[0, 0.5, 1]]]);
  assert.deepEqual(Array.from(tensorToImage(t, { range: [0, 1] }).data), [0, 128, 255]);
  assert.deepEqual(tensorToImage(tf.zeros([1, 4, 5, 1])).width, 5);
  assert.deepEqual(tensorToImage(tf.fill([3, 2], 300)).data[0], 255);
  assert.deepEqual(tensorToImage(tf.zeros([6, 7, 3])).width, 7);
  assert.throws(() => tensorToImage(tf.zeros([2, 4, 4, 3])), /\(1, h, w, c\)/);
});

Deno.test("resizeNearest by a whole factor repeats each pixel (the zoom of imshow and matshow)", () => {
  const up = resizeNearest({ data: new Uint8Array([1, 2]), width: 2, height: 1, channels: 1 }, [2, 4]);
  assert.deepEqual(Array.from(up.data), [1, 1, 2, 2, 1, 1, 2, 2]);
  const rgb = resizeNearest(solid(3, 2, [4, 5, 6]), [6, 9]);
  assert.deepEqual([rgb.width, rgb.height, rgb.data.length], [9, 6, 162]);
  assert.ok(rgb.data.every((v, i) => v === 4 + (i % 3)));
});

Deno.test("addTitle adds a band with text above the picture, or nothing without a font", async () => {
  const img = solid(120, 30, [0, 0, 255]);
  const titled = await addTitle(img, "conv2d_1 <&>");
  if (await canRenderText()) {
    assert.equal(titled.width, 120);
    assert.ok(titled.height > 30);
    const band = titled.data.subarray(0, (titled.height - 30) * 120 * 3);
    assert.ok(band.some((v) => v < 100), "some dark text pixels");
    assert.deepEqual(Array.from(titled.data.subarray(titled.data.length - 3)), [0, 0, 255]);
  } else {
    assert.equal(titled, img);
  }
  assert.equal(await addTitle(img, ""), img, "no title, no band");
});

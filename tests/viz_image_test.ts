import * as tf from "@tensorflow/tfjs";
import sharp from "sharp";
import assert from "node:assert/strict";
import { initBackend } from "@ch5/engine";
import {
  addTitle,
  applyColormap,
  canRenderText,
  colormapJet,
  colormapViridis,
  encodeJpeg,
  encodePng,
  type RawImage,
  tensorToImage,
  tileGrid,
  upscale,
} from "../lib/viz/image.ts";

await initBackend({ backend: "cpu" });

function solid(width: number, height: number, rgb: [number, number, number]): RawImage {
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

Deno.test("tileGrid: rows round up, empty cells take the background; gray tiles stay gray", () => {
  const gray: RawImage = { data: new Uint8Array(4).fill(7), width: 2, height: 2, channels: 1 };
  const grid = tileGrid([gray, gray, gray], { cols: 2, margin: 1, background: 255 });
  assert.deepEqual([grid.width, grid.height, grid.channels], [5, 5, 1]);
  assert.equal(grid.data[4 * 5 + 4], 255); // the empty fourth cell
  assert.equal(grid.data[3 * 5 + 0], 7); // third tile
  assert.throws(() => tileGrid([gray, solid(3, 3, [0, 0, 0])]), /tile 1 is 3×3 but tile 0 is 2×2/);
});

Deno.test("colormapJet: 0 is dark blue, 1 dark red, the middle green-ish, as matplotlib/OpenCV", () => {
  assert.deepEqual(colormapJet(0), [0, 0, 128]);
  assert.deepEqual(colormapJet(1), [128, 0, 0]);
  const [r, g, b] = colormapJet(0.5);
  assert.ok(g > 200 && r < 200 && b < 200, `jet(0.5) = ${[r, g, b]}`);
  assert.deepEqual(colormapJet(-3), colormapJet(0));
  assert.deepEqual(colormapJet(Number.NaN), colormapJet(0));
  assert.deepEqual(colormapViridis(0), [68, 1, 84]);
  assert.deepEqual(colormapViridis(1), [253, 231, 37]);
});

Deno.test("applyColormap maps each value to its colour", () => {
  const img = applyColormap([0, 1, 0.5, 1], 2, 2, "jet");
  assert.deepEqual([img.width, img.height, img.channels], [2, 2, 3]);
  assert.deepEqual(Array.from(img.data.subarray(0, 6)), [0, 0, 128, 128, 0, 0]);
  const gray = applyColormap([0.5], 1, 1, "gray");
  assert.deepEqual(Array.from(gray.data), [128, 128, 128]);
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

Deno.test("upscale repeats each pixel", () => {
  const up = upscale({ data: new Uint8Array([1, 2]), width: 2, height: 1, channels: 1 }, 2);
  assert.deepEqual(Array.from(up.data), [1, 1, 2, 2, 1, 1, 2, 2]);
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
});

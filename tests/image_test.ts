import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { crc32, deflateSync } from "node:zlib";
import { initBackend } from "@ch5/engine";
import { ROOT } from "../lib/io/profile.ts";
import { PictureError } from "../lib/io/errors.ts";
import {
  imgToArray,
  imgToFloat32,
  isPictureName,
  loadImg,
  MAX_PIXELS,
  PICTURE_EXTENSIONS,
  resizeNearest,
} from "../lib/preprocessing/image.ts";

await initBackend({ backend: "cpu" });

/** Values computed by PIL (tests/fixtures/keras_preprocessing_golden.py). */
const GOLDEN = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/keras_preprocessing_golden.json", import.meta.url)),
) as { resize: { size: [number, number]; expected: number[] }[]; grey: number[] };
const GH = 8, GW = 10;
const goldenSource = Uint8Array.from({ length: GH * GW * 3 }, (_, p) => {
  const c = p % 3, j = Math.floor(p / 3) % GW, i = Math.floor(p / 3 / GW);
  return (i * 37 + j * 11 + c * 71) % 256;
});

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ch5_image_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadImg: targetSize resizes exactly like PIL's resize(NEAREST)", async () => {
  await withTempDir(async (dir) => {
    const png = join(dir, "golden.png");
    await sharp(goldenSource, { raw: { width: GW, height: GH, channels: 3 } }).png().toFile(png);
    const full = await loadImg(png);
    assert.deepEqual([full.height, full.width, full.channels], [GH, GW, 3]);
    assert.deepEqual(full.data, goldenSource);
    for (const { size, expected } of GOLDEN.resize) {
      const img = await loadImg(png, { targetSize: size });
      assert.deepEqual([img.height, img.width], size);
      assert.deepEqual(Array.from(img.data), expected, `resize to ${size}`);
    }
  });
});

Deno.test("loadImg: a real JPEG of the split loads at 150×150 RGB", {
  ignore: !(await Deno.stat(resolve(ROOT, "../shared/datasets/cats_and_dogs_small")).then(() => true, () => false)),
}, async () => {
  const img = await loadImg(resolve(ROOT, "../shared/datasets/cats_and_dogs_small/train/cats/cat.0.jpg"), {
    targetSize: [150, 150],
  });
  assert.deepEqual([img.height, img.width, img.channels, img.data.length], [150, 150, 3, 67500]);
});

Deno.test("loadImg: alpha is dropped (not composited), grey/16-bit/CMYK/palette files become 8-bit RGB", async () => {
  await withTempDir(async (dir) => {
    // RGBA with half transparency: PIL's convert("RGB") keeps the colour values and drops alpha.
    const rgba = new Uint8Array([10, 20, 30, 128, 200, 100, 50, 0]);
    await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toFile(join(dir, "alpha.png"));
    const a = await loadImg(join(dir, "alpha.png"));
    assert.equal(a.channels, 3);
    assert.deepEqual(Array.from(a.data), [10, 20, 30, 200, 100, 50]);

    const grey = new Uint8Array([0, 50, 100, 150, 200, 250]);
    await sharp(grey, { raw: { width: 3, height: 2, channels: 1 } }).toColourspace("b-w").png().toFile(
      join(dir, "grey.png"),
    );
    assert.equal((await sharp(join(dir, "grey.png")).metadata()).channels, 1, "the file really is greyscale");
    const g = await loadImg(join(dir, "grey.png"));
    assert.equal(g.channels, 3);
    assert.deepEqual(Array.from(g.data), Array.from(grey).flatMap((v) => [v, v, v]));

    await sharp(grey, { raw: { width: 3, height: 2, channels: 1 } }).toColourspace("b-w").jpeg({ quality: 100 })
      .toFile(join(dir, "grey.jpg"));
    const gj = await loadImg(join(dir, "grey.jpg"));
    assert.equal(gj.channels, 3);
    for (let p = 0; p < 6; p++) assert.equal(gj.data[3 * p], gj.data[3 * p + 2]);

    const colour = { create: { width: 4, height: 3, channels: 3 as const, background: { r: 200, g: 100, b: 50 } } };
    await sharp(colour).toColourspace("rgb16").png().toFile(join(dir, "deep.png"));
    assert.equal((await sharp(join(dir, "deep.png")).metadata()).depth, "ushort");
    assert.deepEqual(Array.from((await loadImg(join(dir, "deep.png"))).data.slice(0, 3)), [200, 100, 50]);

    await sharp(colour).toColourspace("cmyk").jpeg({ quality: 100 }).toFile(join(dir, "cmyk.jpg"));
    assert.equal((await sharp(join(dir, "cmyk.jpg")).metadata()).space, "cmyk");
    const cmyk = await loadImg(join(dir, "cmyk.jpg"));
    assert.equal(cmyk.channels, 3);
    const [r, gg, b] = cmyk.data;
    assert.ok(Math.abs(r - 200) < 12 && Math.abs(gg - 100) < 12 && Math.abs(b - 50) < 35, `CMYK → ${[r, gg, b]}`);

    await sharp(colour).png({ palette: true }).toFile(join(dir, "palette.png"));
    assert.deepEqual(Array.from((await loadImg(join(dir, "palette.png"))).data.slice(0, 3)), [200, 100, 50]);
  });
});

Deno.test("loadImg: EXIF orientation is not applied (as PIL's Image.open does not)", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "rotated.jpg");
    await sharp({ create: { width: 6, height: 2, channels: 3, background: "#808080" } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(path);
    assert.equal((await sharp(path).metadata()).orientation, 6);
    const img = await loadImg(path);
    assert.deepEqual([img.height, img.width], [2, 6]);
  });
});

Deno.test("loadImg: missing, empty, truncated and non-picture files are clear errors naming the file", async () => {
  await withTempDir(async (dir) => {
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#336699" } }).jpeg()
      .toBuffer();
    await Deno.writeFile(join(dir, "cut.jpg"), jpeg.subarray(0, jpeg.length >> 1));
    await Deno.writeFile(join(dir, "empty.jpg"), new Uint8Array(0));
    await Deno.writeTextFile(join(dir, "text.jpg"), "hello, not a picture");
    const cases: [string, RegExp][] = [
      ["missing.jpg", /no such picture file: .*missing\.jpg/],
      ["empty.jpg", /not an image \/ corrupt: .*empty\.jpg \(empty file, 0 bytes\)/],
      ["cut.jpg", /not an image \/ corrupt: .*cut\.jpg \(.+\)/],
      ["text.jpg", /not an image \/ corrupt: .*text\.jpg \(.+\)/],
    ];
    for (const [name, pattern] of cases) {
      await assert.rejects(loadImg(join(dir, name)), (err: Error) => {
        assert.ok(err instanceof PictureError, `${name}: ${err}`);
        assert.match(err.message, pattern);
        assert.equal(err.path, join(dir, name));
        return true;
      });
    }
    await assert.rejects(loadImg(join(dir, "cut.jpg"), { targetSize: [0, 5] }), RangeError);
  });
});

Deno.test("imgToArray / imgToFloat32: HWC float32 0..255, optionally scaled", () => {
  const img = { data: goldenSource, height: GH, width: GW, channels: 3 as const };
  const x = imgToArray(img);
  try {
    assert.deepEqual(x.shape, [GH, GW, 3]);
    assert.equal(x.dtype, "float32");
    assert.deepEqual(Array.from(x.dataSync()), Array.from(goldenSource));
  } finally {
    x.dispose();
  }
  const scaled = imgToFloat32(img, 1 / 255);
  assert.ok(Math.abs(scaled[1] - goldenSource[1] / 255) < 1e-7);
  assert.equal(resizeNearest(img, [GH, GW]).data.length, goldenSource.length);
});

/** A PNG whose header says `width`×`height` (greyscale), with a tiny, incomplete image stream. */
function pngHeader(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)) >>> 0);
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr[8] = 8; // 8-bit greyscale
  return new Uint8Array([
    ...[137, 80, 78, 71, 13, 10, 26, 10],
    ...chunk("IHDR", ihdr),
    ...chunk("IDAT", deflateSync(new Uint8Array(width + 1))),
    ...chunk("IEND", new Uint8Array(0)),
  ]);
}

Deno.test("loadImg: a 20000×20000 picture is 'too many pixels', not 'corrupt'; so is a targetSize over the limit", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "huge.png");
    await Deno.writeFile(path, pngHeader(20000, 20000));
    for (const source of [path, await Deno.readFile(path)]) {
      await assert.rejects(loadImg(source), (err: Error) => {
        assert.ok(err instanceof PictureError, String(err));
        assert.match(err.message, /too many pixels: .* is 20000×20000 = 400 million pixels, over the 268 million/);
        assert.match(err.message, /not necessarily corrupt: shrink it first/);
        assert.doesNotMatch(err.message, /not an image \/ corrupt/);
        return true;
      });
    }
    assert.equal(MAX_PIXELS, 16383 * 16383);
    // A targetSize of 100000×100000 would need 30 GB for one picture: refused before any allocation.
    await assert.rejects(
      loadImg(path, { targetSize: [100000, 100000] }),
      (err: Error) =>
        err instanceof RangeError && /targetSize \[100000,100000\] is 10000000000 pixels/.test(err.message),
    );
  });
});

Deno.test("PICTURE_EXTENSIONS: Keras 2.0.8's list and TIFF, any case; .gif and .webp are not pictures", () => {
  assert.deepEqual(PICTURE_EXTENSIONS, ["jpg", "jpeg", "png", "bmp", "ppm", "tif", "tiff"]);
  for (const name of ["cat.0.jpg", "dog.1.JPEG", "x.PNG", "scan.tif"]) assert.ok(isPictureName(name), name);
  for (const name of ["cat.0.gif", "cat.0.webp", "jpg", "notes.txt", "Thumbs.db"]) {
    assert.ok(!isPictureName(name), name);
  }
});

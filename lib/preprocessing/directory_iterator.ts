/**
 * Endless batches of pictures read from one subfolder per class, like Keras
 * 2.0.8's `ImageDataGenerator.flow_from_directory` (its `DirectoryIterator`).
 *
 * Keras semantics:
 *
 * - classes are the subfolders of `directory` in sorted order (or the
 *   `classes` option, in its order); `classIndices` maps names to numbers;
 * - pictures are the files ending in `.png`, `.jpg`, `.jpeg`, `.bmp`, `.ppm`
 *   (Keras 2.0.8's list) or `.tif`/`.tiff` (any case), found recursively,
 *   sorted per folder; `filenames` holds them relative to `directory`
 *   (`"cats/cat.0.jpg"`) and `classes` their labels;
 * - batches cycle forever through the pictures; each epoch is reshuffled
 *   (when `shuffle`), and its last batch is smaller when the batch size does
 *   not divide the number of pictures, exactly as Keras does; with a `seed`
 *   the order is the same on every run;
 * - each picture is loaded with `loadImg` (RGB, nearest-neighbour resize to
 *   `targetSize`), augmented by the `generator` if any, then rescaled.
 *
 * Differences: folders whose name starts with a dot (`.ipynb_checkpoints`)
 * are not classes (Keras would count them); labels are float32 tensors shaped
 * for tfjs' losses (see {@link ClassMode}); a folder without class subfolders
 * is an error at once.
 *
 * Decoding runs in libvips' native threads: when batch k is handed out,
 * batch k + 1 is already being decoded, so reading overlaps training.
 *
 * Every batch's tensors belong to the caller: dispose them (`model.fitDataset`
 * does it for the batches of {@link DirectoryIterator.toDataset}).
 *
 * @example
 * ```ts
 * import { flowFromDirectory } from "./directory_iterator.ts";
 * const train = await flowFromDirectory("data/cats_and_dogs_small/train", {
 *   targetSize: [150, 150],
 *   batchSize: 20,
 *   classMode: "binary",
 *   rescale: 1 / 255,
 * }); // Found 2000 images belonging to 2 classes.
 * const { xs, ys } = await train.next();
 * console.log(xs.shape, ys!.shape); // [20, 150, 150, 3] [20, 1]
 * xs.dispose();
 * ys!.dispose();
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join, relative, sep } from "node:path";
import { ImageLoadError, type LoadedImage, loadImg } from "./image.ts";
import type { ImageTransformer } from "./image_data_generator.ts";
import { mixSeed, Random, randomSeed } from "./random.ts";

/**
 * How labels are returned:
 *
 * - `categorical`: one-hot, float32 `[n, numClasses]`;
 * - `binary`: float32 `[n, 1]` of 0/1 (tfjs' `binaryCrossentropy` wants the
 *   same shape as the model's `[n, 1]` output; Keras gives `[n]`);
 * - `sparse`: class numbers as float32 `[n]`;
 * - `null`: no labels (pictures only, e.g. for `predict`).
 */
export type ClassMode = "categorical" | "binary" | "sparse" | null;

/** The file extensions taken as pictures (lower case, without the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = ["png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff"];

/** Options of {@link flowFromDirectory}, named like Keras' arguments in camelCase. */
export interface FlowFromDirectoryOptions {
  /** `[height, width]` every picture is resized to; default `[256, 256]` as in Keras. */
  targetSize?: readonly [number, number];
  /** `rgb` (default, 3 channels) or `grayscale` (1 channel). */
  colorMode?: "rgb" | "grayscale";
  /** Class folder names to use, in this order (default: all subfolders, sorted). */
  classes?: readonly string[];
  /** Default `categorical`. */
  classMode?: ClassMode;
  /** Pictures per batch; default 32. */
  batchSize?: number;
  /** Reshuffle at every epoch; default true. */
  shuffle?: boolean;
  /** Seed of the shuffles (default: random). */
  seed?: number;
  /** Multiply the pixels by this (e.g. `1 / 255`) when no `generator` does it. */
  rescale?: number | null;
  /** Augmentation applied to every picture (an `ImageDataGenerator`); it rescales too. */
  generator?: ImageTransformer;
  /** Decode the next batch while the current one is used; default true. */
  prefetch?: boolean;
  /** Follow symbolic links to folders; default false (Keras `follow_links`). */
  followLinks?: boolean;
  /** Where "Found N images ..." goes; default `console.log`. */
  log?: (line: string) => void;
}

/** One batch. The tensors belong to the caller. */
export interface Batch {
  /** `[n, height, width, channels]` float32. */
  xs: tf.Tensor4D;
  /** Labels as {@link ClassMode} says; absent for `classMode: null`. */
  ys?: tf.Tensor;
  /** Which pictures (indices into `filenames`) the batch holds, in order. */
  indices: Int32Array;
}

/** Raised for a missing folder, a folder without class subfolders, or iterating over no pictures. */
export class DirectoryIteratorError extends Error {
  override name = "DirectoryIteratorError";
}

interface Prepared {
  x: Float32Array;
  labels: Int32Array;
  indices: Int32Array;
}

interface Pending {
  promise: Promise<Prepared>;
  totalBatchesSeen: number;
}

async function listPictures(root: string, classDir: string, followLinks: boolean): Promise<string[]> {
  // Keras: os.walk sorted by folder path, files sorted within each folder.
  const folders: { path: string; files: string[] }[] = [];
  const walk = async (dir: string) => {
    const files: string[] = [];
    const subdirs: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      let isFile = entry.isFile;
      let isDir = entry.isDirectory;
      if (entry.isSymlink) {
        try {
          const info = await Deno.stat(join(dir, entry.name));
          isFile = info.isFile;
          isDir = info.isDirectory && followLinks;
        } catch {
          continue; // a dangling link
        }
      }
      if (isDir) subdirs.push(join(dir, entry.name));
      else if (isFile) {
        const dot = entry.name.lastIndexOf(".");
        if (dot >= 0 && IMAGE_EXTENSIONS.includes(entry.name.slice(dot + 1).toLowerCase())) files.push(entry.name);
      }
    }
    folders.push({ path: dir, files: files.sort() });
    for (const sub of subdirs) await walk(sub);
  };
  await walk(classDir);
  folders.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const out: string[] = [];
  for (const folder of folders) {
    for (const name of folder.files) out.push(relative(root, join(folder.path, name)).split(sep).join("/"));
  }
  return out;
}

/**
 * An endless source of batches; create it with {@link flowFromDirectory} or
 * `ImageDataGenerator.flowFromDirectory`.
 */
export class DirectoryIterator implements AsyncIterable<Batch> {
  /** The folder the pictures come from. */
  readonly directory: string;
  /** Class names in label order. */
  readonly classNames: readonly string[];
  /** Class name to label, like Keras' `class_indices`. */
  readonly classIndices: Readonly<Record<string, number>>;
  /** Picture paths relative to `directory`, `/`-separated, in label then file order. */
  readonly filenames: readonly string[];
  /** The label of each picture of `filenames`. */
  readonly classes: Int32Array;
  /** Number of pictures. */
  readonly samples: number;
  /** Pictures per batch. */
  readonly batchSize: number;
  /** `[height, width]` of every picture. */
  readonly targetSize: readonly [number, number];
  /** `[height, width, channels]` of one picture in a batch. */
  readonly imageShape: readonly [number, number, number];
  /** How labels are returned. */
  readonly classMode: ClassMode;
  /** Whether each epoch is reshuffled. */
  readonly shuffle: boolean;
  /** The seed of the shuffles. */
  readonly seed: number;
  /** Whether the next batch is decoded ahead. */
  readonly prefetch: boolean;
  readonly #grayscale: boolean;
  readonly #rescale: number | null;
  readonly #generator?: ImageTransformer;
  readonly #seeded: boolean;
  readonly #random: Random;
  #batchIndex = 0;
  #totalBatchesSeen = 0;
  #indexArray: Int32Array = new Int32Array(0);
  #pending?: Pending;

  /** Prefer {@link flowFromDirectory}, which lists the folder. */
  constructor(
    directory: string,
    classNames: readonly string[],
    filenames: readonly string[],
    classes: Int32Array,
    options: FlowFromDirectoryOptions = {},
  ) {
    this.directory = directory;
    this.classNames = classNames;
    this.classIndices = Object.fromEntries(classNames.map((name, i) => [name, i]));
    this.filenames = filenames;
    this.classes = classes;
    this.samples = filenames.length;
    this.batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new RangeError(`batchSize must be a whole number >= 1, got ${options.batchSize}`);
    }
    const targetSize = options.targetSize ?? [256, 256];
    if (targetSize.length !== 2 || !targetSize.every((v) => Number.isInteger(v) && v > 0)) {
      throw new RangeError(`targetSize must be [height, width] in whole pixels, got ${JSON.stringify(targetSize)}`);
    }
    this.targetSize = [targetSize[0], targetSize[1]];
    const colorMode = options.colorMode ?? "rgb";
    if (colorMode !== "rgb" && colorMode !== "grayscale") {
      throw new RangeError(`colorMode must be "rgb" or "grayscale", got ${JSON.stringify(colorMode)}`);
    }
    this.#grayscale = colorMode === "grayscale";
    this.imageShape = [targetSize[0], targetSize[1], this.#grayscale ? 1 : 3];
    const classMode = options.classMode === undefined ? "categorical" : options.classMode;
    if (![null, "categorical", "binary", "sparse"].includes(classMode)) {
      throw new RangeError(
        `classMode must be "categorical", "binary", "sparse" or null, got ${JSON.stringify(classMode)}`,
      );
    }
    if (classMode === "binary" && classNames.length > 2) {
      throw new DirectoryIteratorError(
        `classMode "binary" needs 2 class folders, but ${directory} has ${classNames.length} ` +
          `(${classNames.join(", ")}); use "categorical" or "sparse", or pass classes: [a, b]`,
      );
    }
    this.classMode = classMode;
    this.shuffle = options.shuffle ?? true;
    this.#seeded = options.seed !== undefined;
    this.seed = options.seed ?? randomSeed();
    this.#random = new Random(this.seed);
    this.prefetch = options.prefetch ?? true;
    this.#generator = options.generator;
    const rescale = options.rescale ?? null;
    if (rescale !== null && this.#generator?.rescale != null) {
      throw new RangeError(
        "rescale is given twice (to the generator and to flowFromDirectory): give it in one place only",
      );
    }
    this.#rescale = rescale === 0 ? null : rescale;
  }

  /** Number of classes. */
  get numClasses(): number {
    return this.classNames.length;
  }

  /** Batches in one pass over the pictures (Keras `len(iterator)`). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.samples / this.batchSize);
  }

  /** Batches handed out or prepared so far (Keras `total_batches_seen`). */
  get totalBatchesSeen(): number {
    return this.#totalBatchesSeen;
  }

  /** Absolute path of picture `i` of `filenames`. */
  filepath(i: number): string {
    return join(this.directory, this.filenames[i]);
  }

  /** Keras' `_flow_index`: the indices of the next batch, advancing the epoch state. */
  #nextIndices(): Int32Array {
    const n = this.samples;
    if (this.#batchIndex === 0) {
      if (this.shuffle) {
        const rng = this.#seeded ? new Random(mixSeed(this.seed, this.#totalBatchesSeen)) : this.#random;
        this.#indexArray = rng.permutation(n);
      } else if (this.#indexArray.length !== n) {
        this.#indexArray = Int32Array.from({ length: n }, (_, i) => i);
      }
    }
    const current = (this.#batchIndex * this.batchSize) % n;
    let size: number;
    if (n > current + this.batchSize) {
      size = this.batchSize;
      this.#batchIndex++;
    } else {
      size = n - current;
      this.#batchIndex = 0;
    }
    this.#totalBatchesSeen++;
    return this.#indexArray.slice(current, current + size);
  }

  async #prepare(indices: Int32Array): Promise<Prepared> {
    const [h, w, c] = this.imageShape;
    const per = h * w * c;
    const images = await Promise.all(
      Array.from(indices, async (i): Promise<LoadedImage> => {
        try {
          return await loadImg(this.filepath(i), { targetSize: this.targetSize, grayscale: this.#grayscale });
        } catch (err) {
          if (err instanceof ImageLoadError) {
            throw new ImageLoadError(
              `${err.message}; flowFromDirectory(${this.directory}) cannot make its batch: ` +
                `remove or replace ${this.filenames[i]}`,
              err.path,
            );
          }
          throw err;
        }
      }),
    );
    const x = new Float32Array(indices.length * per);
    const scale = this.#rescale ?? 1;
    images.forEach((img, k) => {
      if (this.#generator) {
        this.#generator.transformInto(img, x, k * per);
      } else {
        const src = img.data;
        const o = k * per;
        for (let p = 0; p < per; p++) x[o + p] = src[p] * scale;
      }
    });
    if (this.#generator && this.#rescale !== null) {
      for (let p = 0; p < x.length; p++) x[p] *= this.#rescale;
    }
    const labels = Int32Array.from(indices, (i) => this.classes[i]);
    return { x, labels, indices };
  }

  #schedule(): Pending {
    const totalBatchesSeen = this.#totalBatchesSeen;
    const promise = this.#prepare(this.#nextIndices());
    promise.catch(() => {}); // handled when awaited in next(); never an unhandled rejection
    return { promise, totalBatchesSeen };
  }

  #labels(labels: Int32Array): tf.Tensor | undefined {
    const n = labels.length;
    switch (this.classMode) {
      case "binary":
        return tf.tensor2d(Float32Array.from(labels), [n, 1], "float32");
      case "sparse":
        return tf.tensor1d(Float32Array.from(labels), "float32");
      case "categorical": {
        const k = this.numClasses;
        const y = new Float32Array(n * k);
        for (let i = 0; i < n; i++) y[i * k + labels[i]] = 1;
        return tf.tensor2d(y, [n, k], "float32");
      }
      default:
        return undefined;
    }
  }

  /**
   * The next batch (Keras `next(iterator)`): pictures `[n, h, w, c]` float32
   * and labels. Starts decoding the batch after it before returning.
   *
   * @example
   * ```ts
   * import { flowFromDirectory } from "./directory_iterator.ts";
   * const it = await flowFromDirectory("data/cats_and_dogs_small/validation", { targetSize: [150, 150], classMode: "binary" });
   * const { xs, ys } = await it.next();
   * xs.dispose();
   * ys?.dispose();
   * ```
   * @throws {DirectoryIteratorError} when the folder holds no pictures.
   * @throws {ImageLoadError} when a picture of the batch cannot be read (the message names it).
   */
  async next(): Promise<Batch> {
    if (this.samples === 0) {
      throw new DirectoryIteratorError(
        `no pictures to iterate over in ${this.directory}: its class folders (${this.classNames.join(", ")}) ` +
          `hold no files ending in ${IMAGE_EXTENSIONS.map((e) => "." + e).join(", ")}`,
      );
    }
    const current = this.#pending ?? this.#schedule();
    this.#pending = this.prefetch ? this.#schedule() : undefined;
    const { x, labels, indices } = await current.promise;
    const [h, w, c] = this.imageShape;
    const xs = tf.tensor4d(x, [indices.length, h, w, c], "float32");
    const ys = this.#labels(labels);
    return ys ? { xs, ys, indices } : { xs, indices };
  }

  /**
   * Start the next batch at a fresh epoch (reshuffled), like Keras'
   * `reset()`. A batch prepared ahead is dropped (its augmentation draws are
   * not replayed).
   *
   * @example
   * ```ts
   * import { flowFromDirectory } from "./directory_iterator.ts";
   * const it = await flowFromDirectory("data/cats_and_dogs_small/test", { shuffle: false });
   * it.reset(); // the next batch holds the first pictures again
   * ```
   */
  reset(): void {
    if (this.#pending) {
      this.#totalBatchesSeen = this.#pending.totalBatchesSeen;
      this.#pending = undefined;
    }
    this.#batchIndex = 0;
  }

  /**
   * Endless `for await` over batches (break out of the loop to stop; dispose
   * each batch's tensors).
   *
   * @example
   * ```ts
   * import { flowFromDirectory } from "./directory_iterator.ts";
   * const it = await flowFromDirectory("data/cats_and_dogs_small/train", { targetSize: [150, 150], batchSize: 20 });
   * let seen = 0;
   * for await (const { xs, ys } of it) {
   *   xs.dispose();
   *   ys?.dispose();
   *   if (++seen === 3) break;
   * }
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Batch, never, undefined> {
    while (true) yield await this.next();
  }

  /**
   * A `tf.data.Dataset` of `{xs, ys}` batches (or `xs` alone for
   * `classMode: null`) for `model.fitDataset` / `evaluateDataset`. It is
   * endless unless `batches` is given: pass `batchesPerEpoch` (Keras
   * `steps_per_epoch`) to `fitDataset` and `validationBatches` or `batches`
   * (`validation_steps`) to the evaluation. Every iterator of the dataset
   * draws from this one stream of batches, as Keras' `fit_generator` shares
   * one generator across epochs.
   *
   * @example
   * ```ts
   * import { flowFromDirectory } from "./directory_iterator.ts";
   * const train = await flowFromDirectory("data/cats_and_dogs_small/train", { targetSize: [150, 150], batchSize: 20, classMode: "binary", rescale: 1 / 255 });
   * const validation = await flowFromDirectory("data/cats_and_dogs_small/validation", { targetSize: [150, 150], batchSize: 20, classMode: "binary", rescale: 1 / 255 });
   * // await model.fitDataset(train.toDataset(), { batchesPerEpoch: 100, epochs: 30, validationData: validation.toDataset(), validationBatches: 50 });
   * ```
   */
  toDataset(options: { batches?: number } = {}): tf.data.Dataset<tf.TensorContainer> {
    const limit = options.batches ?? Infinity;
    const nullMode = this.classMode === null;
    // deno-lint-ignore no-this-alias
    const self = this;
    return tf.data.generator(
      async function* () {
        for (let i = 0; i < limit; i++) {
          const { xs, ys } = await self.next();
          yield nullMode ? xs : { xs, ys: ys! };
        }
      } as () => AsyncIterator<tf.TensorContainer>,
    );
  }
}

/**
 * List `directory`'s class subfolders and pictures, print
 * `Found N images belonging to K classes.`, and return an endless batch
 * iterator (Keras `flow_from_directory`).
 *
 * @example
 * ```ts
 * import { flowFromDirectory } from "./directory_iterator.ts";
 * const test = await flowFromDirectory("data/cats_and_dogs_small/test", {
 *   targetSize: [150, 150],
 *   batchSize: 20,
 *   classMode: "binary",
 *   rescale: 1 / 255,
 *   shuffle: false,
 * });
 * console.log(test.classIndices, test.filenames[0]); // { cats: 0, dogs: 1 } cats/cat.1500.jpg
 * ```
 * @throws {DirectoryIteratorError} for a missing folder, or one without class subfolders.
 */
export async function flowFromDirectory(
  directory: string,
  options: FlowFromDirectoryOptions = {},
): Promise<DirectoryIterator> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(directory);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new DirectoryIteratorError(
        `flowFromDirectory: no such folder: ${directory}` +
          (directory.includes("cats_and_dogs_small") ? " (build it with `deno task data`)" : ""),
      );
    }
    throw err;
  }
  if (!info.isDirectory) throw new DirectoryIteratorError(`flowFromDirectory: not a folder: ${directory}`);
  let classNames: string[];
  if (options.classes) {
    classNames = [...options.classes];
    if (new Set(classNames).size !== classNames.length) {
      throw new DirectoryIteratorError(`flowFromDirectory: classes lists a folder twice: ${classNames.join(", ")}`);
    }
    for (const name of classNames) {
      const ok = await Deno.stat(join(directory, name)).then((i) => i.isDirectory, () => false);
      if (!ok) {
        throw new DirectoryIteratorError(`flowFromDirectory: class folder ${name} is not in ${directory}`);
      }
    }
  } else {
    classNames = [];
    for await (const entry of Deno.readDir(directory)) {
      if (entry.name.startsWith(".")) continue;
      const isDir = entry.isDirectory ||
        (entry.isSymlink && await Deno.stat(join(directory, entry.name)).then((i) => i.isDirectory, () => false));
      if (isDir) classNames.push(entry.name);
    }
    classNames.sort();
  }
  if (classNames.length === 0) {
    throw new DirectoryIteratorError(
      `flowFromDirectory: ${directory} has no class subfolders; put the pictures of each class in a folder ` +
        `of its own (e.g. train/cats/*.jpg, train/dogs/*.jpg), or for unlabelled pictures one folder such as ` +
        `test/all/ with classMode: null`,
    );
  }
  const filenames: string[] = [];
  const labels: number[] = [];
  for (let k = 0; k < classNames.length; k++) {
    const files = await listPictures(directory, join(directory, classNames[k]), options.followLinks ?? false);
    for (const f of files) {
      filenames.push(f);
      labels.push(k);
    }
  }
  const log = options.log ?? ((line: string) => console.log(line));
  log(`Found ${filenames.length} images belonging to ${classNames.length} classes.`);
  return new DirectoryIterator(directory, classNames, filenames, Int32Array.from(labels), options);
}

/**
 * Endless batches of pictures read from one subfolder per class, like Keras
 * 2.0.8's `DirectoryIterator`, which `ImageDataGenerator.flowFromDirectory`
 * returns. As in Keras, the iterator always holds a generator: it draws the
 * augmentation of every picture and applies it with its `rescale` (the one
 * place where pixels are rescaled).
 *
 * Keras semantics:
 *
 * - classes are the subfolders of `directory` in sorted order (or the
 *   `classes` option, in its order); `classIndices` maps names to numbers;
 * - pictures are the files with an extension of `PICTURE_EXTENSIONS` (Keras
 *   2.0.8's list and TIFF, any case), found recursively (links to folders
 *   are not followed, as Keras' default), sorted per folder; `filenames`
 *   holds them relative to `directory` (`"cats/cat.0.jpg"`), `classes` their labels;
 * - batches cycle forever through the pictures; each epoch is reshuffled
 *   (when `shuffle`), and its last batch is smaller when the batch size does
 *   not divide the number of pictures, exactly as Keras does; with a `seed`
 *   the order is the same on every run;
 * - each picture is loaded with `loadImg` (RGB, nearest-neighbour resize to
 *   `targetSize`), then transformed and rescaled by the generator.
 *
 * Seeds are whole numbers from 0 to 2³² − 1, as NumPy's.
 *
 * Differences: folders whose name starts with a dot (`.ipynb_checkpoints`)
 * are not classes (Keras would count them); labels are float32 tensors shaped
 * for tfjs' losses (see {@link ClassMode}); a folder without class subfolders
 * is an error at once, and an empty class folder a warning.
 *
 * Decoding runs in libvips' native threads: when batch k is handed out,
 * batch k + 1 is already being decoded, so reading overlaps training. Decoded
 * pictures are kept in memory (`cache`, on when they fit in 512 MiB), so from
 * the second epoch on a batch costs no decoding at all. The
 * augmentation of a batch is drawn when the batch is scheduled, in batch
 * order, so a seed gives the same pictures whatever the decoding times.
 * {@link DirectoryIterator.getState} / `setState` save and restore the
 * position and random state between epochs (for resumable training).
 *
 * Every batch's tensors belong to the caller: dispose them (`model.fitDataset`
 * does it for the batches of {@link DirectoryIterator.toDataset}).
 *
 * @example
 * ```ts
 * import { imageDataGenerator } from "./image_data_generator.ts";
 * const train = await imageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory("data/cats_and_dogs_small/train", {
 *   targetSize: [150, 150],
 *   batchSize: 20,
 *   classMode: "binary",
 * }); // Found 2000 images belonging to 2 classes.
 * const { xs, ys } = await train.next();
 * console.log(xs.shape, ys!.shape); // [20, 150, 150, 3] [20, 1]
 * xs.dispose();
 * ys!.dispose();
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join, relative, resolve, sep } from "node:path";
import { DataError, PictureError } from "../io/errors.ts";
import { isPictureName, loadImg, PICTURE_EXTENSIONS, type PixelImage } from "./image.ts";
import { checkSeed, mixSeed, Random, randomSeed } from "./random.ts";

/**
 * How labels are returned:
 *
 * - `categorical`: one-hot, float32 `[n, numClasses]`;
 * - `binary`: float32 `[n, 1]` of 0/1. Keras gives `[n]`, but tfjs'
 *   `fitDataset` and `evaluateDataset` refuse labels `[n]` for a model whose
 *   output is `[n, 1]` ("logits and labels must have the same shape"; only
 *   `model.fit` on whole tensors reshapes them), so every binary label in
 *   this workbook is `[n, 1]`;
 * - `sparse`: class numbers as float32 `[n]`;
 * - `null`: no labels (pictures only, e.g. for `predict`).
 */
export type ClassMode = "categorical" | "binary" | "sparse" | null;

/**
 * What the iterator needs from its generator (an `ImageDataGenerator`): draw
 * one picture's random transformation, apply it with the generator's
 * rescaling, and save/restore the random state. `P` is the generator's draw.
 */
export interface ImageTransformer<P = unknown> {
  /** Draw the transformation of one picture of `height × width` pixels (advances the random state). */
  randomTransform(height: number, width: number): P;
  /** Write `image` transformed by `params` and rescaled into `out` from `offset`. */
  transformInto(image: PixelImage, params: P, out: Float32Array, offset: number): void;
  /** The random state of the draws. */
  getState(): number;
  /** Continue the draws from a state of {@link ImageTransformer.getState}. */
  setState(state: number): void;
}

/**
 * Where an iterator stands, as JSON-able numbers: enough to continue with the
 * same batches and the same augmentation after a restart.
 */
export interface IteratorState {
  /** Number of pictures (a state only fits an iterator over the same pictures). */
  samples: number;
  /** Pictures per batch (the position counts batches of this size). */
  batchSize: number;
  /** A hash of the picture paths and labels (FNV-1a, hex), to recognise the same pictures. */
  files: string;
  /** The iterator's seed, adopted by `setState`. */
  seed: number;
  /** Whether the seed was given (then each epoch's order derives from it), adopted by `setState`. */
  seeded: boolean;
  /** Batch position within the epoch. */
  batchIndex: number;
  /** Batches handed out so far. */
  totalBatchesSeen: number;
  /** The current epoch's picture order. */
  indexArray: number[];
  /** The shuffle generator's state. */
  random: number;
  /** The augmentation generator's state. */
  generator: number;
}

/** Options of `ImageDataGenerator.flowFromDirectory`, named like Keras' arguments in camelCase. */
export interface FlowFromDirectoryOptions {
  /** `[height, width]` every picture is resized to; default `[256, 256]` as in Keras. */
  targetSize?: readonly [number, number];
  /** Class folder names to use, in this order (default: all subfolders, sorted). */
  classes?: readonly string[];
  /** Default `categorical`. */
  classMode?: ClassMode;
  /** Pictures per batch; default 32. */
  batchSize?: number;
  /** Reshuffle at every epoch; default true. */
  shuffle?: boolean;
  /** Seed of the shuffles, a whole number from 0 to 2³² − 1 (default: random). */
  seed?: number;
  /** Decode the next batch while the current one is used; default true. */
  prefetch?: boolean;
  /**
   * Keep every decoded picture in memory after its first use, so that later
   * epochs skip decoding (the pictures are then read once, not at every
   * epoch as in Keras). Default: on when all decoded pictures fit in 512 MiB
   * (the book's 2000 training pictures at 150×150 take 135 MB).
   */
  cache?: boolean;
  /** Where "Found N images ..." goes; default `console.log`. */
  log?: (line: string) => void;
}

/** Up to this many bytes of decoded pictures (all of an iterator's) are kept by default: 512 MiB. */
const DECODED_CACHE_LIMIT = 512 * 1024 * 1024;
/** The largest batch: 4 GiB of float32 values (what one wasm heap, or one tfjs tensor, can hold). */
const MAX_BATCH_BYTES = 4 * 1024 ** 3;

/** The pictures of a folder tree: what {@link listDirectory} finds. */
export interface DirectoryListing {
  /** Class names in label order. */
  classNames: readonly string[];
  /** Picture paths relative to the folder, `/`-separated. */
  filenames: readonly string[];
  /** The label of each picture. */
  classes: Int32Array;
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

interface Prepared {
  x: Float32Array;
  labels: Int32Array;
  indices: Int32Array;
}

interface Pending {
  promise: Promise<Prepared>;
  /** The state before this batch was scheduled. */
  before: IteratorState;
}

/** FNV-1a (32-bit) over the paths and labels, as 8 hex digits. */
function filesHash(filenames: readonly string[], classes: Int32Array): string {
  let h = 0x811c9dc5;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  };
  filenames.forEach((name, i) => mix(`${name}\t${classes[i]}\n`));
  return (h >>> 0).toString(16).padStart(8, "0");
}

async function listPictures(root: string, classDir: string): Promise<string[]> {
  // Keras: os.walk sorted by folder path, files sorted within each folder; links to folders are not followed.
  const folders: { path: string; files: string[] }[] = [];
  const walk = async (dir: string) => {
    const files: string[] = [];
    const subdirs: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) subdirs.push(join(dir, entry.name));
      else if (isPictureName(entry.name)) {
        const isFile = entry.isFile || await Deno.stat(join(dir, entry.name)).then((i) => i.isFile, () => false);
        if (isFile) files.push(entry.name);
      }
    }
    folders.push({ path: dir, files: files.sort() });
    for (const sub of subdirs) await walk(sub);
  };
  await walk(classDir);
  folders.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return folders.flatMap((f) => f.files.map((name) => relative(root, join(f.path, name)).split(sep).join("/")));
}

/** The iterator's options, checked and with their defaults. */
function checkOptions(directory: string, numClasses: number, options: FlowFromDirectoryOptions) {
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a whole number >= 1, got ${options.batchSize}`);
  }
  const targetSize = options.targetSize ?? [256, 256];
  if (targetSize.length !== 2 || !targetSize.every((v) => Number.isInteger(v) && v > 0)) {
    throw new RangeError(`targetSize must be [height, width] in whole pixels, got ${JSON.stringify(targetSize)}`);
  }
  const [h, w] = targetSize;
  const pictureBytes = h * w * 3 * 4;
  if (batchSize * pictureBytes > MAX_BATCH_BYTES) {
    throw new RangeError(
      `targetSize [${h}, ${w}] with batchSize ${batchSize} needs ${(batchSize * pictureBytes / 1e9).toFixed(1)} GB ` +
        `per batch (${batchSize} × ${h} × ${w} × 3 float32 values), over the ${MAX_BATCH_BYTES / 1024 ** 3} GiB ` +
        `a batch may take: use a smaller targetSize (the book uses [150, 150]) or batchSize`,
    );
  }
  if (options.seed !== undefined) checkSeed(options.seed);
  const classMode = options.classMode === undefined ? "categorical" : options.classMode;
  if (![null, "categorical", "binary", "sparse"].includes(classMode)) {
    throw new RangeError(
      `classMode must be "categorical", "binary", "sparse" or null, got ${JSON.stringify(classMode)}`,
    );
  }
  if (classMode === "binary" && numClasses > 2) {
    throw new DataError(
      `classMode "binary" needs 2 class folders, but ${directory} has ${numClasses}; ` +
        `use "categorical" or "sparse", or pass classes: [a, b]`,
    );
  }
  return { batchSize, targetSize: [h, w] as const, classMode, pictureBytes };
}

/**
 * An endless source of batches; create it with
 * `imageDataGenerator(...).flowFromDirectory(directory, options)`.
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
  /** The seed of the shuffles (a restored state brings its own). */
  get seed(): number {
    return this.#seed;
  }
  /** Whether the next batch is decoded ahead. */
  readonly prefetch: boolean;
  /** Whether decoded pictures are kept for later epochs. */
  readonly cache: boolean;
  readonly #decoded = new Map<number, PixelImage>();
  /** The generator that transforms and rescales every picture. */
  readonly generator: ImageTransformer;
  #seed: number;
  #seeded: boolean;
  readonly #files: string;
  readonly #random: Random;
  #batchIndex = 0;
  #totalBatchesSeen = 0;
  #indexArray: Int32Array = new Int32Array(0);
  #pending?: Pending;

  /** Prefer `ImageDataGenerator.flowFromDirectory`, which lists the folder ({@link listDirectory}) and logs. */
  constructor(
    directory: string,
    generator: ImageTransformer,
    listing: DirectoryListing,
    options: FlowFromDirectoryOptions = {},
  ) {
    const { classNames, filenames, classes } = listing;
    this.directory = directory;
    this.generator = generator;
    this.classNames = classNames;
    this.classIndices = Object.fromEntries(classNames.map((name, i) => [name, i]));
    this.filenames = filenames;
    this.classes = classes;
    this.samples = filenames.length;
    const checked = checkOptions(directory, classNames.length, options);
    this.batchSize = checked.batchSize;
    this.targetSize = checked.targetSize;
    this.imageShape = [...checked.targetSize, 3];
    this.classMode = checked.classMode;
    this.shuffle = options.shuffle ?? true;
    this.#seeded = options.seed !== undefined;
    this.#seed = options.seed ?? randomSeed();
    this.#random = new Random(this.#seed);
    this.#files = filesHash(filenames, classes);
    this.prefetch = options.prefetch ?? true;
    this.cache = options.cache ?? this.samples * checked.pictureBytes / 4 <= DECODED_CACHE_LIMIT;
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
        const rng = this.#seeded ? new Random(mixSeed(this.#seed, this.#totalBatchesSeen)) : this.#random;
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

  async #prepare(indices: Int32Array, params: unknown[]): Promise<Prepared> {
    const [h, w, c] = this.imageShape;
    const per = h * w * c;
    const images = await Promise.all(
      Array.from(indices, async (i): Promise<PixelImage> => {
        const cached = this.#decoded.get(i);
        if (cached) return cached;
        try {
          const img = await loadImg(this.filepath(i), { targetSize: this.targetSize });
          if (this.cache) this.#decoded.set(i, img);
          return img;
        } catch (err) {
          if (!(err instanceof PictureError)) throw err;
          throw new PictureError(
            `${err.message}; flowFromDirectory(${this.directory}) cannot make its batch: ` +
              `remove or replace ${this.filenames[i]}`,
            err.path,
            { cause: err },
          );
        }
      }),
    );
    const x = new Float32Array(indices.length * per);
    images.forEach((img, k) => this.generator.transformInto(img, params[k], x, k * per));
    const labels = Int32Array.from(indices, (i) => this.classes[i]);
    return { x, labels, indices };
  }

  #schedule(): Pending {
    const before = this.#snapshot();
    const indices = this.#nextIndices();
    // Draw now, in batch order, so the augmentation does not depend on which decode finishes first.
    const [h, w] = this.targetSize;
    const params = Array.from(indices, () => this.generator.randomTransform(h, w));
    const promise = this.#prepare(indices, params);
    promise.catch(() => {}); // handled when awaited in next(); never an unhandled rejection
    return { promise, before };
  }

  #snapshot(): IteratorState {
    return {
      samples: this.samples,
      batchSize: this.batchSize,
      files: this.#files,
      seed: this.#seed,
      seeded: this.#seeded,
      batchIndex: this.#batchIndex,
      totalBatchesSeen: this.#totalBatchesSeen,
      indexArray: Array.from(this.#indexArray),
      random: this.#random.getState(),
      generator: this.generator.getState(),
    };
  }

  /**
   * Where the iterator stands after the batches handed out so far (a batch
   * decoded ahead does not count): pass it to {@link DirectoryIterator.setState}
   * to continue, in this or a new process, with the same batches and
   * augmentation as if nothing had stopped.
   *
   * @example
   * ```ts
   * import { imageDataGenerator } from "./image_data_generator.ts";
   * const it = await imageDataGenerator({ rescale: 1 / 255, rotationRange: 40, seed: 1 })
   *   .flowFromDirectory("data/cats_and_dogs_small/train", { targetSize: [150, 150], seed: 2 });
   * const saved = JSON.stringify(it.getState());
   * const a = await it.next();
   * it.setState(JSON.parse(saved));
   * const b = await it.next(); // the same pictures, augmented the same way, as a
   * ```
   */
  getState(): IteratorState {
    return this.#pending ? structuredClone(this.#pending.before) : this.#snapshot();
  }

  /**
   * Continue from a state of {@link DirectoryIterator.getState} taken from an
   * iterator over the same pictures (same paths and labels), in this process
   * or an earlier one: the state's seed and random states replace this
   * iterator's, so the batches go on exactly as they would have (like Keras'
   * `BackupAndRestore`, whatever seed this iterator was made with). A batch
   * decoded ahead is dropped.
   *
   * @throws {DataError} when the state is not a state, or one of other pictures or another batch size.
   */
  setState(state: IteratorState): void {
    const s = state as Partial<IteratorState> | null;
    const whole = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max;
    const refuse = (why: string) =>
      new DataError(`setState: ${why}; start afresh without the saved state (delete the checkpoint)`);
    if (s?.samples !== undefined && (s.samples !== this.samples || s.files !== this.#files)) {
      throw refuse(
        `the state is of an iterator over other pictures (${s.samples} pictures, list hash ${s.files}), but ` +
          `${this.directory} has ${this.samples} pictures (list hash ${this.#files}): the folder changed since the state was saved`,
      );
    }
    if (whole(s?.batchSize, Number.MAX_SAFE_INTEGER) && s!.batchSize !== this.batchSize) {
      throw new DataError(
        `setState: the state was saved by an iterator with batchSize ${s!.batchSize}, and its position counts ` +
          `batches of that size; this iterator has batchSize ${this.batchSize}. Make it with batchSize ` +
          `${s!.batchSize} to resume, or start afresh without the saved state (delete the checkpoint)`,
      );
    }
    if (
      !s || typeof s !== "object" || !whole(s.batchIndex, this.batchesPerEpoch) ||
      !whole(s.totalBatchesSeen, Number.MAX_SAFE_INTEGER) || !whole(s.random, 0xffff_ffff) ||
      !whole(s.generator, 0xffff_ffff) || !whole(s.seed, 0xffff_ffff) || typeof s.seeded !== "boolean" ||
      !Array.isArray(s.indexArray) || !s.indexArray.every((i) => whole(i, this.samples - 1))
    ) {
      throw refuse(
        `not a DirectoryIterator state (expected what getState() returns): ${JSON.stringify(state)?.slice(0, 200)}`,
      );
    }
    this.#pending = undefined;
    this.#seed = s.seed!;
    this.#seeded = s.seeded!;
    this.#batchIndex = s.batchIndex!;
    this.#totalBatchesSeen = s.totalBatchesSeen!;
    this.#indexArray = Int32Array.from(s.indexArray);
    this.#random.setState(s.random!);
    this.generator.setState(s.generator!);
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
   * import { imageDataGenerator } from "./image_data_generator.ts";
   * const it = await imageDataGenerator({ rescale: 1 / 255 })
   *   .flowFromDirectory("data/cats_and_dogs_small/validation", { targetSize: [150, 150], classMode: "binary" });
   * const { xs, ys } = await it.next();
   * xs.dispose();
   * ys?.dispose();
   * ```
   * @throws {DataError} when the folder holds no pictures.
   * @throws {PictureError} when a picture of the batch cannot be read (the message names it).
   */
  async next(): Promise<Batch> {
    if (this.samples === 0) {
      throw new DataError(
        `no pictures to iterate over in ${this.directory}: its class folders (${this.classNames.join(", ")}) ` +
          `hold no files ending in ${PICTURE_EXTENSIONS.map((e) => "." + e).join(", ")}`,
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
   * `reset()`. A batch prepared ahead is dropped, and its draws with it.
   *
   * @example
   * ```ts
   * import { imageDataGenerator } from "./image_data_generator.ts";
   * const it = await imageDataGenerator().flowFromDirectory("data/cats_and_dogs_small/test", { shuffle: false });
   * it.reset(); // the next batch holds the first pictures again
   * ```
   */
  reset(): void {
    if (this.#pending) this.setState(this.#pending.before);
    this.#batchIndex = 0;
  }

  /**
   * Endless `for await` over batches (break out of the loop to stop; dispose
   * each batch's tensors).
   *
   * @example
   * ```ts
   * import { imageDataGenerator } from "./image_data_generator.ts";
   * const it = await imageDataGenerator().flowFromDirectory("data/cats_and_dogs_small/train", {
   *   targetSize: [150, 150],
   *   batchSize: 20,
   * });
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
   * import { imageDataGenerator } from "./image_data_generator.ts";
   * const datagen = imageDataGenerator({ rescale: 1 / 255 });
   * const options = { targetSize: [150, 150], batchSize: 20, classMode: "binary" } as const;
   * const train = await datagen.flowFromDirectory("data/cats_and_dogs_small/train", options);
   * const validation = await datagen.flowFromDirectory("data/cats_and_dogs_small/validation", options);
   * const trainData = train.toDataset();
   * const saved = trainData.getState(); // the iterator's state, for a checkpoint
   * // await model.fitDataset(trainData, { batchesPerEpoch: 100, epochs: 30, validationData: validation.toDataset(), validationBatches: 50 });
   * ```
   */
  toDataset(options: { batches?: number } = {}): StatefulDataset {
    const limit = options.batches ?? Infinity;
    const nullMode = this.classMode === null;
    // deno-lint-ignore no-this-alias
    const self = this;
    const dataset = tf.data.generator(
      async function* () {
        for (let i = 0; i < limit; i++) {
          const { xs, ys } = await self.next();
          yield nullMode ? xs : { xs, ys: ys! };
        }
      } as () => AsyncIterator<tf.TensorContainer>,
    );
    return Object.assign(dataset, {
      getState: (): IteratorState => self.getState(),
      setState: (state: IteratorState): void => self.setState(state),
    });
  }
}

/** A dataset of {@link DirectoryIterator.toDataset}: its batches' state can be saved and restored. */
export type StatefulDataset = tf.data.Dataset<tf.TensorContainer> & {
  /** The iterator's {@link DirectoryIterator.getState}. */
  getState(): IteratorState;
  /** The iterator's {@link DirectoryIterator.setState}. */
  setState(state: IteratorState): void;
};

/** The class folders of `directory`: `classes` (checked), else every subfolder not starting with a dot, sorted. */
async function classFolders(directory: string, classes?: readonly string[]): Promise<string[]> {
  const info = await Deno.stat(directory).catch((err) => {
    const hint = directory.includes("cats_and_dogs_small") ? " (build it with `deno task data`)" : "";
    throw new DataError(`flowFromDirectory: no such folder: ${directory}${hint}`, { cause: err });
  });
  if (!info.isDirectory) throw new DataError(`flowFromDirectory: not a folder: ${directory}`);
  const isFolder = (name: string) => Deno.stat(join(directory, name)).then((i) => i.isDirectory, () => false);
  if (classes) {
    if (new Set(classes).size !== classes.length) {
      throw new DataError(`flowFromDirectory: classes lists a folder twice: ${classes.join(", ")}`);
    }
    for (const name of classes) {
      if (!(await isFolder(name))) {
        throw new DataError(`flowFromDirectory: class folder ${name} is not in ${directory}`);
      }
    }
    return [...classes];
  }
  const names: string[] = [];
  for await (const entry of Deno.readDir(directory)) {
    if (!entry.name.startsWith(".") && (entry.isDirectory || (entry.isSymlink && await isFolder(entry.name)))) {
      names.push(entry.name);
    }
  }
  if (names.length === 0) {
    throw new DataError(
      `flowFromDirectory: ${directory} has no class subfolders; put the pictures of each class in a folder ` +
        `of its own (e.g. train/cats/*.jpg, train/dogs/*.jpg), or for unlabelled pictures one folder such as ` +
        `test/all/ with classMode: null`,
    );
  }
  return names.sort();
}

/**
 * List `directory`'s class subfolders and pictures as Keras'
 * `DirectoryIterator` does, warn (`console.warn`) about class folders without
 * pictures, and print `Found N images belonging to K classes.` (what
 * `ImageDataGenerator.flowFromDirectory` calls before it makes the iterator).
 *
 * @example
 * ```ts
 * import { listDirectory } from "./directory_iterator.ts";
 * const { classNames, filenames } = await listDirectory("data/cats_and_dogs_small/test");
 * console.log(classNames, filenames[0]); // ["cats", "dogs"] cats/cat.1500.jpg
 * ```
 * @throws {DataError} for a missing folder, or one without class subfolders.
 */
export async function listDirectory(
  directory: string,
  options: Pick<FlowFromDirectoryOptions, "classes" | "log"> = {},
): Promise<DirectoryListing> {
  const classNames = await classFolders(directory, options.classes);
  const filenames: string[] = [];
  const labels: number[] = [];
  for (let k = 0; k < classNames.length; k++) {
    const files = await listPictures(directory, join(directory, classNames[k]));
    if (files.length === 0) {
      console.warn(
        `flowFromDirectory: class folder ${resolve(directory, classNames[k])} holds no pictures ` +
          `(${PICTURE_EXTENSIONS.map((e) => "." + e).join("/")}); its label ${k} never occurs, so every batch has ` +
          `only the other labels. Put pictures in it or remove the folder.`,
      );
    }
    filenames.push(...files);
    labels.push(...files.map(() => k));
  }
  (options.log ?? console.log)(`Found ${filenames.length} images belonging to ${classNames.length} classes.`);
  return { classNames, filenames, classes: Int32Array.from(labels) };
}

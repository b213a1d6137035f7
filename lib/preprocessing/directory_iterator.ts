/**
 * Endless batches of pictures from one subfolder per class, like Keras
 * 2.0.8's `DirectoryIterator` (what `flowFromDirectory` returns): decoded
 * ahead, kept when small, resumable.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join, relative, resolve, sep } from "node:path";
import { DataError, PictureError } from "../io/errors.ts";
import { isPictureName, loadImg, PICTURE_EXTENSIONS, type PixelImage } from "./image.ts";
import { checkSeed, mixSeed, Random, randomSeed } from "./random.ts";

/**
 * How labels are returned: `categorical` one-hot float32 `[n, classes]`;
 * `binary` float32 `[n, 1]` (Keras gives `[n]`, which tfjs' `fitDataset`
 * refuses for a model whose output is `[n, 1]`); `sparse` class numbers as
 * float32 `[n]`; `null` no labels (pictures only, e.g. for `predict`).
 */
export type ClassMode = "categorical" | "binary" | "sparse" | null;

/** What the iterator needs from its generator (an `ImageDataGenerator`); `P` is one picture's draw. */
export interface ImageTransformer<P = unknown> {
  /** Draw the transformation of one picture of `height × width` pixels (advances the random state). */
  randomTransform(height: number, width: number): P;
  /** Write `image` transformed by `params` and rescaled into `out` from `offset`. */
  transformInto(image: PixelImage, params: P, out: Float32Array, offset: number): void;
  /** The random state of the draws, and continuing from one. */
  getState(): number;
  setState(state: number): void;
}

/**
 * Where an iterator stands, as JSON-able numbers: the pictures (count, and an
 * FNV-1a hash of paths and labels), the batch size, the seed, the position
 * (batch in the epoch, batches handed out) and the generator's random state.
 */
export interface IteratorState {
  samples: number;
  files: string;
  batchSize: number;
  seed: number;
  batchIndex: number;
  totalBatchesSeen: number;
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
  /** Where "Found N images ..." goes; default `console.log`. */
  log?: (line: string) => void;
}

/** What {@link listDirectory} finds: class names in label order, picture paths (relative, `/`), their labels. */
export interface DirectoryListing {
  classNames: readonly string[];
  filenames: readonly string[];
  classes: Int32Array;
}

/** One batch. The tensors belong to the caller. */
export interface Batch {
  /** `[n, height, width, 3]` float32. */
  xs: tf.Tensor4D;
  /** Labels as {@link ClassMode} says; absent for `classMode: null`. */
  ys?: tf.Tensor;
  /** Which pictures (indices into `filenames`) the batch holds, in order. */
  indices: Int32Array;
}

/** A dataset of {@link DirectoryIterator.toDataset}: its iterator's state can be saved and restored. */
export type StatefulDataset = tf.data.Dataset<tf.TensorContainer> & {
  getState(): IteratorState;
  setState(state: IteratorState): void;
};

/** A batch being decoded, and the iterator's state before it was scheduled. */
type Pending = { promise: Promise<{ x: Float32Array; indices: Int32Array }>; before: IteratorState };

/** Decoded pictures kept by default: up to 512 MiB. */
const DECODED_CACHE_LIMIT = 512 * 1024 * 1024;
/** The largest batch: 4 GiB of float32 values (what one wasm heap, or one tfjs tensor, can hold). */
const MAX_BATCH_BYTES = 4 * 1024 ** 3;

/** FNV-1a (32-bit) over the paths and labels, as 8 hex digits. */
function filesHash(filenames: readonly string[], classes: Int32Array): string {
  let h = 0x811c9dc5;
  filenames.forEach((name, i) => {
    const text = `${name}\t${classes[i]}\n`;
    for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  });
  return (h >>> 0).toString(16).padStart(8, "0");
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
  if (batchSize * h * w * 12 > MAX_BATCH_BYTES) {
    throw new RangeError(
      `targetSize [${h}, ${w}] with batchSize ${batchSize} needs ${(batchSize * h * w * 12 / 1e9).toFixed(1)} GB ` +
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
  return { batchSize, targetSize: [h, w] as const, classMode };
}

/**
 * An endless source of batches; make it with
 * `imageDataGenerator(...).flowFromDirectory(directory, options)`. As in
 * Keras: classes are the subfolders, sorted (or `classes`); pictures are the
 * files with one of `PICTURE_EXTENSIONS`, found recursively (links to folders
 * not followed), sorted per folder; each epoch is reshuffled, its last batch
 * smaller. Unlike Keras: dot folders are not classes; labels are float32
 * shaped for tfjs' losses ({@link ClassMode}); the next batch is decoded
 * while the current one trains; augmentation is drawn when a batch is
 * scheduled, so a seed gives the same pictures whatever the timing. Every
 * batch's tensors belong to the caller.
 *
 * @example
 * ```ts
 * import { imageDataGenerator } from "./image_data_generator.ts";
 * const train = await imageDataGenerator({ rescale: 1 / 255 })
 *   .flowFromDirectory("data/cats_and_dogs_small/train", { targetSize: [150, 150], classMode: "binary" });
 * const { xs, ys } = await train.next(); // [32, 150, 150, 3] and [32, 1]
 * ```
 */
export class DirectoryIterator implements AsyncIterable<Batch> {
  /** The folder the pictures come from. */
  readonly directory: string;
  /** Class names in label order, and name to label (Keras' `class_indices`). */
  readonly classNames: readonly string[];
  readonly classIndices: Readonly<Record<string, number>>;
  /** Picture paths relative to `directory`, `/`-separated, in label then file order, and their labels. */
  readonly filenames: readonly string[];
  readonly classes: Int32Array;
  /** Number of pictures. */
  readonly samples: number;
  readonly batchSize: number;
  readonly targetSize: readonly [number, number];
  readonly classMode: ClassMode;
  /** Whether decoded pictures are kept for later epochs: when all fit in 512 MiB (the book's 2000 at 150×150: 135 MB). */
  readonly cache: boolean;
  readonly #generator: ImageTransformer;
  readonly #shuffle: boolean;
  readonly #files: string;
  readonly #decoded = new Map<number, PixelImage>();
  #seed: number;
  #batchIndex = 0;
  #totalBatchesSeen = 0;
  #order: Int32Array = new Int32Array(0);
  #pending?: Pending;

  /** Prefer `ImageDataGenerator.flowFromDirectory`, which lists the folder ({@link listDirectory}) and logs. */
  constructor(
    directory: string,
    generator: ImageTransformer,
    listing: DirectoryListing,
    options: FlowFromDirectoryOptions = {},
  ) {
    const { classNames, filenames, classes } = listing;
    const { batchSize, targetSize, classMode } = checkOptions(directory, classNames.length, options);
    [this.batchSize, this.targetSize, this.classMode] = [batchSize, targetSize, classMode];
    this.directory = directory;
    this.classNames = classNames;
    this.classIndices = Object.fromEntries(classNames.map((name, i) => [name, i]));
    this.filenames = filenames;
    this.classes = classes;
    this.samples = filenames.length;
    this.#generator = generator;
    this.#shuffle = options.shuffle ?? true;
    this.#seed = options.seed ?? randomSeed();
    this.#files = filesHash(filenames, classes);
    this.cache = this.samples * this.targetSize[0] * this.targetSize[1] * 3 <= DECODED_CACHE_LIMIT;
  }

  /** The seed of the shuffles (a restored state brings its own). */
  get seed(): number {
    return this.#seed;
  }

  /** Batches in one pass over the pictures (Keras `len(iterator)`). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.samples / this.batchSize);
  }

  /** Absolute path of picture `i` of `filenames`. */
  filepath(i: number): string {
    return join(this.directory, this.filenames[i]);
  }

  /** The picture order of the epoch that starts at batch `start`: a permutation drawn from the seed, or as listed. */
  #epochOrder(start: number): Int32Array {
    if (this.#shuffle) return new Random(mixSeed(this.#seed, start)).permutation(this.samples);
    return Int32Array.from({ length: this.samples }, (_, i) => i);
  }

  /** Keras' `_flow_index`: the indices of the next batch, advancing the epoch state. */
  #nextIndices(): Int32Array {
    const n = this.samples;
    if (this.#batchIndex === 0 || this.#order.length !== n) {
      this.#order = this.#epochOrder(this.#totalBatchesSeen - this.#batchIndex);
    }
    const current = this.#batchIndex * this.batchSize;
    const size = Math.min(this.batchSize, n - current);
    this.#batchIndex = current + size < n ? this.#batchIndex + 1 : 0;
    this.#totalBatchesSeen++;
    return this.#order.slice(current, current + size);
  }

  async #decode(i: number): Promise<PixelImage> {
    const cached = this.#decoded.get(i);
    if (cached) return cached;
    try {
      const img = await loadImg(this.filepath(i), { targetSize: this.targetSize });
      if (this.cache) this.#decoded.set(i, img);
      return img;
    } catch (err) {
      if (!(err instanceof PictureError)) throw err;
      const fix = `flowFromDirectory(${this.directory}) cannot make its batch: remove or replace ${this.filenames[i]}`;
      throw new PictureError(`${err.message}; ${fix}`, err.path, { cause: err });
    }
  }

  /** Take the next batch's pictures and draw their augmentation now, in batch order; decode them in the background. */
  #schedule(): Pending {
    const before = this.#snapshot();
    const indices = this.#nextIndices();
    const [h, w] = this.targetSize;
    const params = Array.from(indices, () => this.#generator.randomTransform(h, w));
    const promise = Promise.all(Array.from(indices, (i) => this.#decode(i))).then((images) => {
      const per = h * w * 3;
      const x = new Float32Array(indices.length * per);
      images.forEach((img, k) => this.#generator.transformInto(img, params[k], x, k * per));
      return { x, indices };
    });
    promise.catch(() => {}); // handled when awaited in next(); never an unhandled rejection
    return { promise, before };
  }

  /**
   * Where the iterator stands after the batches handed out so far (a batch
   * decoded ahead does not count): {@link DirectoryIterator.setState} continues
   * from it, in this or a new process, with the same batches and augmentation.
   *
   * @example
   * ```ts
   * import { imageDataGenerator } from "./image_data_generator.ts";
   * const it = await imageDataGenerator({ rotationRange: 40 }).flowFromDirectory("data/cats_and_dogs_small/train");
   * const saved = JSON.stringify(it.getState());
   * it.setState(JSON.parse(saved)); // the next batch again, augmented the same way
   * ```
   */
  getState(): IteratorState {
    return this.#pending ? { ...this.#pending.before } : this.#snapshot();
  }

  #snapshot(): IteratorState {
    const { samples, batchSize } = this, generator = this.#generator.getState();
    const position = { batchIndex: this.#batchIndex, totalBatchesSeen: this.#totalBatchesSeen };
    return { samples, files: this.#files, batchSize, seed: this.#seed, ...position, generator };
  }

  /**
   * Continue from a state of {@link DirectoryIterator.getState} of an iterator
   * over the same pictures (same paths and labels) and batch size: its seed
   * and random state replace this iterator's, so the batches go on exactly as
   * they would have (Keras' `BackupAndRestore`). A batch decoded ahead is dropped.
   *
   * @throws {DataError} for what is not a state, or one of other pictures or another batch size.
   */
  setState(state: IteratorState): void {
    const s = state as Partial<IteratorState> | null;
    const whole = (v: unknown, max = 0xffff_ffff) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max;
    const afresh = "start afresh without the saved state (delete the checkpoint)";
    if (s?.samples !== undefined && (s.samples !== this.samples || s.files !== this.#files)) {
      throw new DataError(
        `setState: the state is of an iterator over other pictures (${s.samples} pictures, list hash ${s.files}), ` +
          `but ${this.directory} has ${this.samples} pictures (list hash ${this.#files}): the folder changed since ` +
          `the state was saved; ${afresh}`,
      );
    }
    if (whole(s?.batchSize) && s!.batchSize !== this.batchSize) {
      throw new DataError(
        `setState: the state was saved by an iterator with batchSize ${s!.batchSize}, and its position counts ` +
          `batches of that size; this iterator has batchSize ${this.batchSize}. Make it with batchSize ` +
          `${s!.batchSize} to resume, or ${afresh}`,
      );
    }
    if (
      !whole(s?.batchSize) || !whole(s?.batchIndex, this.batchesPerEpoch - 1) || !whole(s?.seed) ||
      !whole(s?.generator) || !whole(s?.totalBatchesSeen, Number.MAX_SAFE_INTEGER) ||
      s!.totalBatchesSeen! < s!.batchIndex!
    ) {
      const what = JSON.stringify(state)?.slice(0, 200);
      throw new DataError(`setState: not a DirectoryIterator state (what getState() returns): ${what}; ${afresh}`);
    }
    this.#pending = undefined;
    this.#seed = s!.seed!;
    this.#batchIndex = s!.batchIndex!;
    this.#totalBatchesSeen = s!.totalBatchesSeen!;
    this.#order = new Int32Array(0); // drawn again from the seed
    this.#generator.setState(s!.generator!);
  }

  #labels(indices: Int32Array): tf.Tensor | undefined {
    const n = indices.length, k = this.classNames.length;
    const labels = Float32Array.from(indices, (i) => this.classes[i]);
    if (this.classMode === "binary") return tf.tensor2d(labels, [n, 1], "float32");
    if (this.classMode === "sparse") return tf.tensor1d(labels, "float32");
    if (this.classMode === null) return undefined;
    const y = new Float32Array(n * k);
    labels.forEach((label, i) => y[i * k + label] = 1);
    return tf.tensor2d(y, [n, k], "float32");
  }

  /**
   * The next batch (Keras `next(iterator)`): pictures `[n, h, w, 3]` float32
   * and labels. Starts decoding the batch after it before returning.
   *
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
    this.#pending = this.#schedule();
    const { x, indices } = await current.promise;
    const xs = tf.tensor4d(x, [indices.length, ...this.targetSize, 3], "float32");
    const ys = this.#labels(indices);
    return ys ? { xs, ys, indices } : { xs, indices };
  }

  /** Start the next batch at a fresh epoch (reshuffled), like Keras' `reset()`; a batch prepared ahead is dropped. */
  reset(): void {
    if (this.#pending) this.setState(this.#pending.before);
    this.#batchIndex = 0;
  }

  /** Endless `for await` over batches (break out of the loop to stop; dispose each batch's tensors). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Batch, never, undefined> {
    while (true) yield await this.next();
  }

  /**
   * A `tf.data.Dataset` of `{xs, ys}` batches (`xs` alone for `classMode:
   * null`) for `model.fitDataset` / `evaluateDataset`, endless unless
   * `batches` is given, with the iterator's `getState`/`setState`. Every
   * iterator of the dataset draws from this one stream of batches, as Keras'
   * `fit_generator` shares one generator across epochs.
   *
   * @example
   * ```ts
   * import { imageDataGenerator } from "./image_data_generator.ts";
   * const train = await imageDataGenerator({ rescale: 1 / 255 }).flowFromDirectory("data/cats_and_dogs_small/train");
   * const trainData = train.toDataset(); // model.fitDataset(trainData, { batchesPerEpoch: 100, epochs: 30 })
   * ```
   */
  toDataset(options: { batches?: number } = {}): StatefulDataset {
    const next = () => this.next();
    const nullMode = this.classMode === null;
    const limit = options.batches ?? Infinity;
    const dataset = tf.data.generator(
      async function* () {
        for (let i = 0; i < limit; i++) {
          const { xs, ys } = await next();
          yield nullMode ? xs : { xs, ys: ys! };
        }
      } as () => AsyncIterator<tf.TensorContainer>,
    );
    return Object.assign(dataset, {
      getState: () => this.getState(),
      setState: (s: IteratorState) => this.setState(s),
    });
  }
}

/** The picture files under `classDir` (relative to `root`, `/`-separated): Keras' sorted `os.walk`, links to folders not followed. */
async function listPictures(root: string, classDir: string): Promise<string[]> {
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
 * pictures, and print `Found N images belonging to K classes.`.
 *
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

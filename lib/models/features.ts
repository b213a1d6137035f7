/**
 * Fast feature extraction with a pretrained convolutional base, as the
 * book's listing 5.17 (`extract_features`) does: run the base once over the
 * pictures of a directory iterator and keep its outputs (`(N, 4, 4, 512)`
 * for VGG16 on 150×150 pictures) and the labels, so that a small dense
 * classifier can be trained on them in seconds.
 *
 * Running VGG16 on a CPU is slow (a few pictures a second), so the features
 * are cached on disk as `data/features/<cacheName>.bin` (float32, little
 * endian) plus `<cacheName>.json` (shape, labels, how fast they were made,
 * and the key). The key holds:
 *
 * - a fingerprint of the base's weights (SHA-256 of their values), so that
 *   features of a randomly initialised base are never mistaken for ImageNet
 *   ones, and a new random base never reuses an old one's features;
 * - the number of pictures, the input size, the folder, its picture count,
 *   the iterator's shuffle and seed;
 * - a fingerprint of the first batch (its picture indices and pixel values),
 *   which catches a different rescaling or preprocessing.
 *
 * A run whose key matches reads the features back and says so; any other run
 * says which part of the key changed and computes them again.
 *
 * Batches come from the iterator as they are (its `batchSize`); with
 * `shuffle` (the default of Keras' `flow_from_directory`, which the book
 * uses) give it a `seed` so that a second run reads the same pictures and can
 * use the cache.
 *
 * @example
 * ```ts
 * import { extractFeatures } from "./features.ts";
 * import { vgg16 } from "./vgg16.ts";
 * import { flowFromDirectory } from "../preprocessing/directory_iterator.ts";
 *
 * const convBase = await vgg16({ weights: "imagenet", includeTop: false, inputShape: [150, 150, 3] });
 * const iterator = await flowFromDirectory("data/cats_and_dogs_small/train", {
 *   targetSize: [150, 150],
 *   batchSize: 20,
 *   classMode: "binary",
 *   rescale: 1 / 255,
 *   seed: 1,
 * });
 * const train = await extractFeatures(convBase, iterator, 2000, { cacheName: "vgg16_train" });
 * console.log(train.features.shape, train.labels.shape); // [2000, 4, 4, 512] [2000]
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { dataPath } from "../io/profile.ts";
import { Progress } from "../notebook/progress.ts";
import type { Batch, DirectoryIterator } from "../preprocessing/directory_iterator.ts";
import { writeAtomically } from "../io/fs.ts";

/** Raised for a sample count the iterator cannot give, a bad cache name, or a base whose output shape is not fixed. */
export class FeatureExtractionError extends Error {
  override name = "FeatureExtractionError";
}

/** Options of {@link extractFeatures}. */
export interface ExtractFeaturesOptions {
  /**
   * Cache the features as `<cacheDir>/<cacheName>.{bin,json}` and reuse them
   * when the key matches; without it nothing is cached. Letters, digits,
   * `.`, `_` and `-` only.
   */
  cacheName?: string;
  /** The cache folder (default `data/features`, under `CH5_DATA_DIR` when set). */
  cacheDir?: string;
  /** A word about the weights kept in the cache record for people (e.g. `"imagenet"`, `"random"`); not part of the key. */
  weightsLabel?: string;
  /** Where the summary lines go (default `console.log`). */
  log?: (line: string) => void;
  /** Show a live progress line while extracting (default true). */
  progress?: boolean;
}

/** What {@link extractFeatures} returns. The tensors belong to the caller. */
export interface ExtractedFeatures {
  /** The base's outputs, `[N, ...outputShape]` float32, e.g. `[2000, 4, 4, 512]`. */
  features: tf.Tensor;
  /** The class number of each picture (0/1 for cats/dogs), float32 `[N]`. */
  labels: tf.Tensor1D;
  /** True when the features were read from the cache. */
  fromCache: boolean;
  /** Pictures a second through the base, measured when the features were computed (read from the record on a hit). */
  imagesPerSecond: number;
  /** Seconds the extraction took when the features were computed. */
  extractSeconds: number;
  /** Seconds this call took (reading the cache, or extracting). */
  seconds: number;
  /** The tfjs backend that computed the features. */
  backend: string;
  /** The `.bin` file of the cache, when cached. */
  cachePath?: string;
}

/** What identifies a set of features; stored in the cache record. */
export interface FeatureCacheKey {
  /** SHA-256 (first 32 hex digits) of the base's weight shapes and values. */
  weights: string;
  sampleCount: number;
  /** `[height, width, channels]` of a picture. */
  inputShape: number[];
  /** The base's output shape for one picture. */
  outputShape: number[];
  /** The iterator's folder (absolute). */
  directory: string;
  /** Pictures in that folder. */
  samples: number;
  shuffle: boolean;
  /** The iterator's seed, when it shuffles. */
  seed: number | null;
  /** SHA-256 (first 32 hex digits) of the first batch's indices and pixel values. */
  firstBatch: string;
}

/** The `.json` record beside the features. */
export interface FeatureCacheRecord {
  format: 1;
  key: FeatureCacheKey;
  /** `[N, ...outputShape]`. */
  shape: number[];
  labels: number[];
  imagesPerSecond: number;
  extractSeconds: number;
  backend: string;
  weightsLabel?: string;
  createdAt: string;
}

const FORMAT = 1;
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

function hex(hash: ReturnType<typeof createHash>): string {
  return hash.digest("hex").slice(0, 32);
}

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A fingerprint of a model's weights: SHA-256 (first 32 hex digits) of every
 * weight's shape and values, in order. Two models with the same architecture
 * and the same weights get the same one, whatever their variable names.
 *
 * @example
 * ```ts
 * import { weightsFingerprint } from "./features.ts";
 * import { buildVgg16 } from "./vgg16.ts";
 * const a = await weightsFingerprint(buildVgg16({ includeTop: false, inputShape: [32, 32, 3] }));
 * const b = await weightsFingerprint(buildVgg16({ includeTop: false, inputShape: [32, 32, 3] }));
 * a === b; // false: two random initialisations
 * ```
 */
export async function weightsFingerprint(model: tf.LayersModel): Promise<string> {
  const hash = createHash("sha256");
  for (const w of model.weights) {
    hash.update(`${w.dtype}[${w.shape.join(",")}];`);
    const values = await w.read().data();
    hash.update(bytesOf(values as Float32Array));
  }
  return hex(hash);
}

function batchFingerprint(batch: Batch, values: Float32Array): string {
  const hash = createHash("sha256");
  hash.update(bytesOf(batch.indices));
  hash.update(`[${batch.xs.shape.join(",")}];`);
  hash.update(bytesOf(values));
  return hex(hash);
}

function keyDifferences(want: FeatureCacheKey, have: Partial<FeatureCacheKey>): string[] {
  const why: Record<keyof FeatureCacheKey, string> = {
    weights: "the conv base's weights differ (random weights are new on every run)",
    sampleCount: "the number of pictures differs",
    inputShape: "the input size differs",
    outputShape: "the base's output shape differs",
    directory: "the folder differs",
    samples: "the folder holds another number of pictures",
    shuffle: "the iterator's shuffle differs",
    seed: "the iterator's seed differs",
    firstBatch: "the first pictures or their preprocessing (e.g. rescale) differ",
  };
  return (Object.keys(why) as (keyof FeatureCacheKey)[])
    .filter((k) => JSON.stringify(want[k]) !== JSON.stringify(have[k]))
    .map((k) => `${why[k]} (${k}: cached ${JSON.stringify(have[k])}, now ${JSON.stringify(want[k])})`);
}

function shapeText(shape: readonly number[]): string {
  return `(${shape.join(", ")})`;
}

async function readCache(
  binPath: string,
  jsonPath: string,
  key: FeatureCacheKey,
): Promise<{ record: FeatureCacheRecord; values: Float32Array } | { miss: string }> {
  let record: FeatureCacheRecord;
  try {
    record = JSON.parse(await Deno.readTextFile(jsonPath));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { miss: "no cache yet" };
    return { miss: `the cache record ${jsonPath} cannot be read (${(err as Error).message})` };
  }
  if (record.format !== FORMAT || !record.key) return { miss: `the cache record ${jsonPath} has another format` };
  const differences = keyDifferences(key, record.key);
  if (differences.length) return { miss: `the cache was made for other inputs: ${differences.join("; ")}` };
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(binPath);
  } catch (err) {
    return { miss: `the cache's data ${binPath} cannot be read (${(err as Error).message})` };
  }
  const expected = record.shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== expected * 4 || record.labels.length !== record.shape[0]) {
    return { miss: `${binPath} holds ${bytes.byteLength} bytes, not the ${expected * 4} its record says: damaged` };
  }
  const values = new Float32Array(expected);
  bytesOf(values).set(bytes);
  return { record, values };
}

/**
 * Run `convBase` over the first `sampleCount` pictures of `iterator` and
 * return the features and labels (Keras' listing 5.17), reading them from
 * the cache when an earlier run made them with the same key (see the module
 * doc). Shows a progress line while extracting and logs one summary line:
 * shapes, seconds, pictures a second, and whether the cache was used.
 *
 * The iterator is left at its start on a cache hit; otherwise it has handed
 * out the batches that were read.
 *
 * @throws {FeatureExtractionError} when `sampleCount` is not a whole number
 * from 1 to the iterator's number of pictures, when `cacheName` has other
 * characters than letters, digits, `.`, `_`, `-`, or when the base's output
 * shape is not fixed.
 *
 * @example
 * ```ts
 * import { extractFeatures } from "./features.ts";
 * import { buildVgg16 } from "./vgg16.ts";
 * import { flowFromDirectory } from "../preprocessing/directory_iterator.ts";
 * const base = buildVgg16({ includeTop: false, inputShape: [150, 150, 3] });
 * const it = await flowFromDirectory("data/cats_and_dogs_small/validation", {
 *   targetSize: [150, 150], batchSize: 20, classMode: "binary", rescale: 1 / 255, seed: 1,
 * });
 * const { features, labels, imagesPerSecond } = await extractFeatures(base, it, 40);
 * console.log(features.shape, labels.shape, imagesPerSecond); // [40, 4, 4, 512] [40] 1.2
 * ```
 */
export async function extractFeatures(
  convBase: tf.LayersModel,
  iterator: DirectoryIterator,
  sampleCount: number,
  options: ExtractFeaturesOptions = {},
): Promise<ExtractedFeatures> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const name = options.cacheName;
  const label = name ?? iterator.directory.split(/[\\/]/).filter(Boolean).pop() ?? "features";
  if (!Number.isInteger(sampleCount) || sampleCount < 1 || sampleCount > iterator.samples) {
    throw new FeatureExtractionError(
      `sampleCount must be a whole number from 1 to ${iterator.samples} (the pictures in ${iterator.directory}); ` +
        `got ${sampleCount}. Ask for fewer pictures, or point the iterator at a folder that has more.`,
    );
  }
  if (name !== undefined && !NAME_PATTERN.test(name)) {
    throw new FeatureExtractionError(
      `cacheName ${JSON.stringify(name)} may hold only letters, digits, ".", "_" and "-" (it names a file); ` +
        `e.g. "vgg16_train".`,
    );
  }

  // The first batch: its pixels are part of the key, and it is the first batch of the extraction.
  const first = await iterator.next();
  first.ys?.dispose();
  const firstValues = await first.xs.data() as Float32Array;
  const inputShape = first.xs.shape.slice(1);
  const outputShape = (convBase.computeOutputShape([1, ...inputShape]) as number[]).slice(1);
  if (!outputShape.every((d) => Number.isInteger(d) && d > 0)) {
    first.xs.dispose();
    throw new FeatureExtractionError(
      `the conv base's output shape for ${shapeText(inputShape)} pictures is ${JSON.stringify(outputShape)}, ` +
        `not fixed numbers; build the base for a fixed picture size (e.g. inputShape: [150, 150, 3])`,
    );
  }
  const perSample = outputShape.reduce((a, b) => a * b, 1);

  let binPath: string | undefined;
  let jsonPath: string | undefined;
  let key: FeatureCacheKey | undefined;
  if (name !== undefined) {
    const dir = resolve(options.cacheDir ?? dataPath("features"));
    binPath = join(dir, `${name}.bin`);
    jsonPath = join(dir, `${name}.json`);
    key = {
      weights: await weightsFingerprint(convBase),
      sampleCount,
      inputShape,
      outputShape,
      directory: resolve(iterator.directory),
      samples: iterator.samples,
      shuffle: iterator.shuffle,
      seed: iterator.shuffle ? iterator.seed : null,
      firstBatch: batchFingerprint(first, firstValues),
    };
    const cached = await readCache(binPath, jsonPath, key);
    if ("record" in cached) {
      first.xs.dispose();
      iterator.reset();
      const { record, values } = cached;
      const seconds = (performance.now() - started) / 1000;
      log(
        `${label}: features ${shapeText(record.shape)} and labels (${record.labels.length}) read from the cache ` +
          `${binPath} (made ${record.createdAt} at ${record.imagesPerSecond.toFixed(2)} images/s on ` +
          `${record.backend}); delete it to extract them again`,
      );
      return {
        features: tf.tensor(values, record.shape, "float32"),
        labels: tf.tensor1d(record.labels, "float32"),
        fromCache: true,
        imagesPerSecond: record.imagesPerSecond,
        extractSeconds: record.extractSeconds,
        seconds,
        backend: record.backend,
        cachePath: binPath,
      };
    }
    log(`${label}: extracting features (${cached.miss})`);
  }

  // Listing 5.17: predict batch after batch until sampleCount pictures are done.
  const values = new Float32Array(sampleCount * perSample);
  const labels = new Float32Array(sampleCount);
  const bar = options.progress === false
    ? undefined
    : await Progress.start({ total: sampleCount, label: `${label} features`, unit: "image" });
  const extractStart = performance.now();
  let done = 0;
  let batch: Batch | undefined = first;
  try {
    while (done < sampleCount) {
      batch ??= await iterator.next();
      batch.ys?.dispose();
      const take = Math.min(batch.xs.shape[0], sampleCount - done);
      const xs = batch.xs;
      const out = tf.tidy(() => {
        const input = take < xs.shape[0] ? xs.slice([0], [take]) : xs;
        return convBase.predict(input) as tf.Tensor;
      });
      values.set(await out.data() as Float32Array, done * perSample);
      out.dispose();
      for (let k = 0; k < take; k++) labels[done + k] = iterator.classes[batch.indices[k]];
      xs.dispose();
      batch = undefined;
      done += take;
      const rate = done / ((performance.now() - extractStart) / 1000);
      await bar?.update(done, { "images/s": rate });
    }
  } finally {
    batch?.xs.dispose();
  }
  const extractSeconds = (performance.now() - extractStart) / 1000;
  const imagesPerSecond = sampleCount / extractSeconds;
  await bar?.done({ "images/s": imagesPerSecond });
  const backend = tf.getBackend();
  const shape = [sampleCount, ...outputShape];

  let cacheNote = "";
  if (binPath && jsonPath && key) {
    await Deno.mkdir(dirname(binPath), { recursive: true });
    const record: FeatureCacheRecord = {
      format: FORMAT,
      key,
      shape,
      labels: Array.from(labels),
      imagesPerSecond,
      extractSeconds,
      backend,
      ...(options.weightsLabel ? { weightsLabel: options.weightsLabel } : {}),
      createdAt: new Date().toISOString(),
    };
    await Deno.remove(jsonPath).catch(() => {}); // the record marks a complete cache: drop it before the data changes
    await writeAtomically(binPath, bytesOf(values));
    await writeAtomically(jsonPath, JSON.stringify(record) + "\n");
    cacheNote = `; cached in ${binPath}`;
  }
  log(
    `${label}: features ${shapeText(shape)} and labels (${sampleCount}) in ${extractSeconds.toFixed(1)} s ` +
      `(${imagesPerSecond.toFixed(2)} images/s on ${backend})${cacheNote}`,
  );
  return {
    features: tf.tensor(values, shape, "float32"),
    labels: tf.tensor1d(labels, "float32"),
    fromCache: false,
    imagesPerSecond,
    extractSeconds,
    seconds: (performance.now() - started) / 1000,
    backend,
    ...(binPath ? { cachePath: binPath } : {}),
  };
}

/**
 * The VGG16 ImageNet weights: Keras' own `.h5` files, cached in `data/weights/`
 * (`CH5_WEIGHTS_DIR`) or downloaded once, checked against Keras' md5 sums.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { downloadFile } from "../io/download.ts";
import { DownloadError } from "../io/errors.ts";
import { statOrNull } from "../io/fs.ts";
import { markH5Verified } from "../io/h5.ts";
import { fileHash } from "../io/integrity.ts";
import { dataPath, dirSetting } from "../io/profile.ts";

/** Where Keras 2 downloads the VGG16 weights from. */
const WEIGHTS_BASE_URL = "https://github.com/fchollet/deep-learning-models/releases/download/v0.1/";

/** One weights file: its name in Keras' cache (`~/.keras/models/`) and the md5 Keras checks (`file_hash`). */
export interface WeightsFile {
  file: string;
  md5: string;
}

/** Keras' VGG16 ImageNet weights, with (`top`) and without (`notop`) the classifier. */
export const VGG16_WEIGHTS: { top: WeightsFile; notop: WeightsFile } = {
  top: { file: "vgg16_weights_tf_dim_ordering_tf_kernels.h5", md5: "64373286793e3c8b2b4e3219cbf3544b" },
  notop: { file: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", md5: "6d6bbae143d832006294945121d1f1fc" },
};

/**
 * The folder of cached weights: `CH5_WEIGHTS_DIR` (a relative value starts at
 * the project root), else `data/weights`.
 */
export function weightsDir(): string {
  return dirSetting("CH5_WEIGHTS_DIR", dataPath("weights"));
}

/** Options of {@link cachedWeights} and {@link vgg16WeightsPath}. */
export interface CachedWeightsOptions {
  /** The cache folder (default {@link weightsDir}). */
  dir?: string;
  /** Where to download from (default {@link WEIGHTS_BASE_URL}); the file name is appended. */
  baseUrl?: string;
  /** Return `null` (random weights) when the file can be had neither way (default: `CH5_ALLOW_RANDOM_WEIGHTS=1`). */
  allowRandom?: boolean;
  /** The `fetch` to use (tests inject one). */
  fetch?: typeof fetch;
  /** Where download progress lines go (default `console.log`). */
  log?: (line: string) => void;
}

/** Whether `CH5_ALLOW_RANDOM_WEIGHTS` is set (`1`, `true` or `yes`): models may keep random weights. */
export function allowRandomWeights(): boolean {
  const value = (Deno.env.get("CH5_ALLOW_RANDOM_WEIGHTS") ?? "").trim().toLowerCase();
  return value === "1" || value === "true" || value === "yes";
}

/**
 * The path of a weights file in the cache folder, downloading it (resumably,
 * see {@link downloadFile}) when it is absent or its md5 differs; a checked
 * file is not hashed again on later calls. When it cannot be had: a
 * {@link DownloadError} that says which file to put where, or, with
 * `allowRandom`, `null` and a warning.
 */
export async function cachedWeights(weights: WeightsFile, options: CachedWeightsOptions = {}): Promise<string | null> {
  const dir = resolve(options.dir ?? weightsDir());
  const dest = join(dir, weights.file);
  const url = (options.baseUrl ?? WEIGHTS_BASE_URL).replace(/\/?$/, "/") + weights.file;
  let problem: string;
  const before = await statOrNull(dest);
  try {
    const { fetch, log } = options;
    const got = await downloadFile(url, dest, { md5: weights.md5, onMismatch: "replace", fetch, log });
    await markH5Verified(got.path); // its md5 is Keras' own: no need to probe it before HDF5 opens it
    return got.path;
  } catch (err) {
    if (!(err instanceof DownloadError)) throw err;
    problem = err.message.replace(/\.$/, "");
  }
  // A file that is there but failed its md5 (and could not be replaced by a download) is damaged or another file.
  const present = before?.isFile ? await statOrNull(dest) : null;
  const damaged = present ? await fileHash(dest, "md5") : undefined;
  const badFile = damaged && damaged !== weights.md5
    ? `the file at ${dest} is damaged or a different file (md5 ${damaged}, expected ${weights.md5}; ` +
      `${present!.size} bytes) and was NOT used`
    : undefined;
  if (options.allowRandom ?? allowRandomWeights()) {
    const fix = badFile ? `Replace ${dest} with a good copy (md5 ${weights.md5})` : `Put the file at ${dest}`;
    console.warn(
      `WARNING: ${weights.file} is not available (${badFile ? `${badFile}; ` : ""}${problem}). ` +
        `CH5_ALLOW_RANDOM_WEIGHTS is set, so the model keeps RANDOM weights: its predictions, features and ` +
        `accuracies mean nothing. ${fix} for real results.`,
    );
    return null;
  }
  const random = "To run the code with random weights instead (its numbers then mean nothing), set " +
    "CH5_ALLOW_RANDOM_WEIGHTS=1.";
  if (badFile) {
    throw new DownloadError(
      `Could not use the ImageNet weights ${weights.file}: ${badFile}, and a fresh download failed: ${problem}.\n` +
        `Fix: delete ${dest} (and ${dest}.json) and run again with internet, or replace it with a good copy from ` +
        `${url} (md5 ${weights.md5}).\n${random}`,
    );
  }
  throw new DownloadError(
    `Could not get the ImageNet weights ${weights.file}: ${problem}.\nPut the file at:\n  ${dest}\n` +
      `Get it from ${url} on a machine with internet (md5 ${weights.md5}), ` +
      `or set CH5_WEIGHTS_DIR to a folder that already holds it.\n${random}`,
  );
}

/**
 * The VGG16 ImageNet weights file (with or without the classifier on top),
 * from the cache or downloaded; `null` only with `allowRandom`.
 */
export function vgg16WeightsPath(options: CachedWeightsOptions & { includeTop: boolean }): Promise<string | null> {
  return cachedWeights(options.includeTop ? VGG16_WEIGHTS.top : VGG16_WEIGHTS.notop, options);
}

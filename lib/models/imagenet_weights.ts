/**
 * The VGG16 ImageNet weights: Keras' own `.h5` files, found in a cache
 * folder or downloaded once, checked against Keras' md5 sums, and written
 * atomically (a temporary file renamed into place).
 *
 * The cache is `data/weights/` (override with `CH5_WEIGHTS_DIR`). Offline,
 * the error says which file to put where and where to get it. With
 * `CH5_ALLOW_RANDOM_WEIGHTS=1` the model keeps random weights instead, with a
 * warning that its numbers then mean nothing.
 *
 * @example
 * ```ts
 * import { vgg16WeightsPath } from "./imagenet_weights.ts";
 * const path = await vgg16WeightsPath({ includeTop: false });
 * console.log(path); // .../data/weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { dataPath } from "../profile.ts";
import { fileHash } from "../fs.ts";

/** Where Keras 2 downloads the VGG16 weights from. */
export const WEIGHTS_BASE_URL = "https://github.com/fchollet/deep-learning-models/releases/download/v0.1/";

/** One weights file: its name and Keras' md5 of it. */
export interface WeightsFile {
  /** The file name, as in Keras' cache (`~/.keras/models/`). */
  file: string;
  /** The md5 sum Keras checks (`file_hash`). */
  md5: string;
}

/** Keras' VGG16 ImageNet weights, with (`top`) and without (`notop`) the classifier. */
export const VGG16_WEIGHTS: { top: WeightsFile; notop: WeightsFile } = {
  top: { file: "vgg16_weights_tf_dim_ordering_tf_kernels.h5", md5: "64373286793e3c8b2b4e3219cbf3544b" },
  notop: { file: "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", md5: "6d6bbae143d832006294945121d1f1fc" },
};

/** Raised when a weights file can be neither found nor downloaded intact. */
export class WeightsUnavailableError extends Error {
  override name = "WeightsUnavailableError";
}

/**
 * The folder of cached weights: `CH5_WEIGHTS_DIR`, else `data/weights`.
 *
 * @example
 * ```ts
 * import { weightsDir } from "./imagenet_weights.ts";
 * console.log(weightsDir());
 * ```
 */
export function weightsDir(): string {
  const env = Deno.env.get("CH5_WEIGHTS_DIR");
  return env ? resolve(env) : dataPath("weights");
}

/**
 * The md5 sum of a file, read in chunks (the VGG16 file with the top is 528 MiB).
 *
 * @example
 * ```ts
 * import { md5File } from "./imagenet_weights.ts";
 * console.log(await md5File("deno.json"));
 * ```
 */
export function md5File(path: string): Promise<string> {
  return fileHash(path, "md5");
}

/** Progress of a download, as {@link DownloadOptions.onProgress} gets it. */
export interface DownloadProgress {
  /** The file being downloaded. */
  file: string;
  /** Bytes received so far. */
  received: number;
  /** Bytes in all, when the server says (`content-length`). */
  total?: number;
  /** Milliseconds since the download started. */
  elapsedMs: number;
  /** Whether this is the last report. */
  done: boolean;
}

/**
 * One progress line: `file: 12.3 / 58.9 MB (20.9%), 8.1 MB/s`.
 *
 * @example
 * ```ts
 * import { progressLine } from "./imagenet_weights.ts";
 * progressLine({ file: "w.h5", received: 5e6, total: 1e7, elapsedMs: 1000, done: false });
 * // "w.h5: 5.0 / 10.0 MB (50.0%), 5.0 MB/s"
 * ```
 */
export function progressLine(p: DownloadProgress): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const rate = p.elapsedMs > 0 ? p.received / 1e6 / (p.elapsedMs / 1000) : 0;
  const size = p.total
    ? `${mb(p.received)} / ${mb(p.total)} MB (${(100 * p.received / p.total).toFixed(1)}%)`
    : `${mb(p.received)} MB`;
  return `${p.file}: ${size}, ${rate.toFixed(1)} MB/s`;
}

function printProgress(): (p: DownloadProgress) => void {
  const encoder = new TextEncoder();
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (!p.done && now - last < 250) return;
    last = now;
    Deno.stdout.writeSync(encoder.encode(`\r${progressLine(p)}${p.done ? "\n" : ""}`));
  };
}

/** Options of {@link downloadVerified}. */
export interface DownloadOptions {
  /** The `fetch` to use (tests inject one). */
  fetch?: typeof fetch;
  /** Gets the progress a few times a second; default: one line on stdout updated in place. */
  onProgress?: (progress: DownloadProgress) => void;
}

/**
 * Download `url` to `dest`: streamed to a temporary file beside it, md5
 * checked when `md5` is given, then renamed into place, so that `dest` is
 * either absent or complete.
 *
 * @throws {Error} when the request fails, the server answers an error, or the md5 differs.
 *
 * @example
 * ```ts
 * import { downloadVerified } from "./imagenet_weights.ts";
 * await downloadVerified("https://example.com/w.h5", "data/weights/w.h5", "0123456789abcdef0123456789abcdef");
 * ```
 */
export async function downloadVerified(
  url: string,
  dest: string,
  md5: string | undefined,
  options: DownloadOptions = {},
): Promise<string> {
  const doFetch = options.fetch ?? fetch;
  const onProgress = options.onProgress ?? printProgress();
  const file = dest.split(/[\\/]/).pop()!;
  const response = await doFetch(url);
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new Error(`the server answered ${response.status} ${response.statusText} for ${url}`);
  }
  const total = Number(response.headers.get("content-length")) || undefined;
  await Deno.mkdir(resolve(dest, ".."), { recursive: true });
  const temp = `${dest}.${crypto.randomUUID().slice(0, 8)}.part`;
  const hash = createHash("md5");
  const start = performance.now();
  let received = 0;
  try {
    const out = await Deno.open(temp, { write: true, create: true, truncate: true });
    try {
      for await (const chunk of response.body) {
        hash.update(chunk);
        let written = 0;
        while (written < chunk.length) written += await out.write(chunk.subarray(written));
        received += chunk.length;
        onProgress({ file, received, total, elapsedMs: performance.now() - start, done: false });
      }
    } finally {
      out.close();
    }
    onProgress({ file, received, total, elapsedMs: performance.now() - start, done: true });
    const sum = hash.digest("hex");
    if (md5 && sum !== md5) {
      throw new Error(`the downloaded file's md5 is ${sum}, not ${md5} (${received} bytes received): it is damaged`);
    }
    await Deno.rename(temp, dest);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  return dest;
}

/** Options of {@link cachedWeights} and {@link vgg16WeightsPath}. */
export interface CachedWeightsOptions extends DownloadOptions {
  /** The cache folder (default {@link weightsDir}). */
  dir?: string;
  /** Where to download from (default {@link WEIGHTS_BASE_URL}); the file name is appended. */
  baseUrl?: string;
  /**
   * Return `null` (keep random weights) instead of failing when the file can
   * be neither found nor downloaded (default: `CH5_ALLOW_RANDOM_WEIGHTS=1`).
   */
  allowRandom?: boolean;
}

function allowRandomFromEnv(): boolean {
  const value = (Deno.env.get("CH5_ALLOW_RANDOM_WEIGHTS") ?? "").trim().toLowerCase();
  return value === "1" || value === "true" || value === "yes";
}

/**
 * The path of a weights file in the cache folder, downloading it when it is
 * absent or its md5 differs. When it cannot be had: a
 * {@link WeightsUnavailableError} that says which file to put where, or, with
 * `allowRandom`, `null` and a warning.
 *
 * @example
 * ```ts
 * import { cachedWeights, VGG16_WEIGHTS } from "./imagenet_weights.ts";
 * const path = await cachedWeights(VGG16_WEIGHTS.notop);
 * ```
 */
export async function cachedWeights(weights: WeightsFile, options: CachedWeightsOptions = {}): Promise<string | null> {
  const dir = resolve(options.dir ?? weightsDir());
  const dest = join(dir, weights.file);
  const url = (options.baseUrl ?? WEIGHTS_BASE_URL).replace(/\/?$/, "/") + weights.file;
  let problem: string;
  const cached = await Deno.stat(dest).then((s) => s.isFile, () => false);
  if (cached) {
    const sum = await md5File(dest);
    if (sum === weights.md5) return dest;
    problem = `the cached copy's md5 is ${sum}, not ${weights.md5}; downloading it again`;
    console.warn(`warning: ${dest}: ${problem}`);
  }
  try {
    console.log(`Downloading ${url}`);
    return await downloadVerified(url, dest, weights.md5, options);
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  const allowRandom = options.allowRandom ?? allowRandomFromEnv();
  if (allowRandom) {
    console.warn(
      `WARNING: ${weights.file} is not available (${problem}). CH5_ALLOW_RANDOM_WEIGHTS is set, so the model ` +
        `keeps RANDOM weights: its predictions, features and accuracies mean nothing. ` +
        `Put the file at ${dest} for real results.`,
    );
    return null;
  }
  throw new WeightsUnavailableError(
    `Could not get the ImageNet weights ${weights.file}: ${problem}.\n` +
      `Put the file at:\n  ${dest}\n` +
      `Get it from ${url} on a machine with internet (md5 ${weights.md5}), ` +
      `or set CH5_WEIGHTS_DIR to a folder that already holds it.\n` +
      `To run the code with random weights instead (its numbers then mean nothing), set CH5_ALLOW_RANDOM_WEIGHTS=1.`,
  );
}

/**
 * The VGG16 ImageNet weights file (with or without the classifier on top),
 * from the cache or downloaded; `null` only with `allowRandom`.
 *
 * @example
 * ```ts
 * import { vgg16WeightsPath } from "./imagenet_weights.ts";
 * const notop = await vgg16WeightsPath({ includeTop: false });
 * ```
 */
export function vgg16WeightsPath(options: CachedWeightsOptions & { includeTop: boolean }): Promise<string | null> {
  return cachedWeights(options.includeTop ? VGG16_WEIGHTS.top : VGG16_WEIGHTS.notop, options);
}

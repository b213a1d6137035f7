/**
 * Download a file once into a cache, resuming an interrupted download with an
 * HTTP `Range` request and checking its size (and SHA-256 or md5, when known).
 *
 * The file grows as `<dest>.part` and is renamed to `<dest>` only when it is
 * complete and checked, so `<dest>` is never a half-written file. A sidecar
 * `<dest>.json` records the URL, size and sums, so a later call reuses the
 * file without downloading or hashing it again; a file put there by hand is
 * hashed once.
 *
 * @example
 * ```ts
 * import { downloadFile } from "./download.ts";
 * const got = await downloadFile("https://example.com/big.zip", "data/downloads/big.zip");
 * console.log(got.cached ? "already there" : `downloaded ${got.size} bytes`, got.sha256);
 * ```
 * @module
 */
import { dirname } from "node:path";
import { describeFsError, fileHash, isFsError, statOrNull } from "./fs.ts";

/** Raised when a download cannot start, breaks off, or gives a file that fails its checks. */
export class DownloadError extends Error {
  override name = "DownloadError";
}

/** Options of {@link downloadFile}. */
export interface DownloadFileOptions {
  /** The size the file must have, in bytes (default: what the server announces). */
  expectedSize?: number;
  /** The SHA-256 (hex) the file must have; checked after the download. */
  sha256?: string;
  /** The md5 (hex) the file must have, as Keras' `file_hash` checks it. */
  md5?: string;
  /**
   * What to do with a file already at `dest` that fails the checks: `"error"`
   * (default; the file is left alone) or `"replace"` (download it again; the
   * file is replaced only by a download that passes).
   */
  onMismatch?: "error" | "replace";
  /** Where progress lines go (default `console.log`); `() => {}` silences them. */
  log?: (line: string) => void;
  /** A sentence added to network errors, e.g. what to do offline. */
  hint?: string;
  /** Cancels the download; the `.part` file stays, to be resumed later. */
  signal?: AbortSignal;
  /** Give up when no byte arrives for this long, in ms (default 60 000); the `.part` file stays. */
  stallTimeoutMs?: number;
  /** The `fetch` to use (default the global one). */
  fetch?: typeof fetch;
}

/** The result of {@link downloadFile}. */
export interface DownloadFileResult {
  /** The complete file. */
  path: string;
  /** Its size in bytes. */
  size: number;
  /** Its SHA-256, hex. */
  sha256: string;
  /** True when the file was already there and nothing was downloaded. */
  cached: boolean;
  /** True when an earlier partial download was continued. */
  resumed: boolean;
}

interface Sidecar {
  url: string;
  size: number;
  sha256?: string;
  md5?: string;
  savedAt: string;
}

async function readSidecar(path: string): Promise<Sidecar | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

/**
 * Fill in the sums `record` lacks (hashing `path`: always SHA-256, md5 when
 * one is expected) and return what differs from the expected ones, if any.
 */
async function checkSums(path: string, record: Sidecar, options: DownloadFileOptions): Promise<string | undefined> {
  record.sha256 ??= await fileHash(path, "sha256");
  if (options.md5) record.md5 ??= await fileHash(path, "md5");
  const wrong = [];
  if (options.sha256 && options.sha256.toLowerCase() !== record.sha256) {
    wrong.push(`SHA-256 ${record.sha256}, expected ${options.sha256}`);
  }
  if (options.md5 && options.md5.toLowerCase() !== record.md5) wrong.push(`md5 ${record.md5}, expected ${options.md5}`);
  return wrong.length ? wrong.join("; ") : undefined;
}

function megabytes(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

function parseContentRange(value: string | null): { start: number; total?: number } | null {
  const m = value?.match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!m) return null;
  return { start: m[1] === undefined ? -1 : Number(m[1]), total: m[2] === "*" ? undefined : Number(m[2]) };
}

/**
 * Download `url` to `dest` unless it is already there; resume a `.part` file
 * left by an interrupted run.
 *
 * @example
 * ```ts
 * import { downloadFile } from "./download.ts";
 * await downloadFile("https://example.com/a.zip", "data/downloads/a.zip", { expectedSize: 1234 });
 * ```
 * @throws {DownloadError} when the server cannot be reached, answers with an
 * error, the connection breaks (run again to resume), or the finished file has
 * the wrong size or sum (it is then deleted), or a file already at `dest` fails its checks (unless `onMismatch: "replace"`).
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadFileOptions = {},
): Promise<DownloadFileResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const sidecarPath = `${dest}.json`;
  const partPath = `${dest}.part`;
  const hint = options.hint ? ` ${options.hint}` : "";

  const fsError = (err: unknown, path: string) =>
    new DownloadError(`cannot save the download of ${url}: ${describeFsError(err, path)}`);
  const done = await statOrNull(dest).catch((err) => {
    throw fsError(err, dest);
  });
  if (done) {
    const sidecar = await readSidecar(sidecarPath);
    const record: Sidecar = sidecar?.size === done.size && sidecar.url === url
      ? { ...sidecar }
      : { url, size: done.size, savedAt: new Date().toISOString() }; // put there by hand: hash it once
    const wrongSize = options.expectedSize !== undefined && options.expectedSize !== done.size;
    const wrong = wrongSize
      ? `size ${done.size}, expected ${options.expectedSize}`
      : await checkSums(dest, record, options);
    if (!wrong) {
      if (JSON.stringify(record) !== JSON.stringify(sidecar)) {
        // Remember the sums; a read-only cache folder only means hashing again next time.
        await Deno.writeTextFile(sidecarPath, JSON.stringify(record, null, 2)).catch(() => {});
      }
      return { path: dest, size: done.size, sha256: record.sha256!, cached: true, resumed: false };
    }
    if (options.onMismatch !== "replace") {
      throw new DownloadError(
        `${dest} is there but does not match what was expected (${wrong}); ` +
          `delete it (and ${sidecarPath}) to download it again`,
      );
    }
    log(`download: ${dest} does not match what was expected (${wrong}); downloading it again`);
  }

  await Deno.mkdir(dirname(dest), { recursive: true }).catch((err) => {
    throw fsError(err, dirname(dest));
  });
  let have = (await statOrNull(partPath))?.size ?? 0;
  const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
  // Abort on the caller's signal, or when the connection stalls.
  const stall = new AbortController();
  const stallMs = options.stallTimeoutMs ?? 60_000;
  let timer = setTimeout(() => stall.abort(), stallMs);
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), stallMs);
  };
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  const why = (err: unknown) => {
    if (stall.signal.aborted) return `no data for ${stallMs / 1000} s`;
    const e = err as Error & { cause?: Error };
    return e.cause?.message ? `${e.message} (${e.cause.message})` : e.message;
  };
  try {
    return await fetchToPart();
  } finally {
    clearTimeout(timer);
  }

  async function fetchToPart(): Promise<DownloadFileResult> {
    let response: Response;
    try {
      response = await (options.fetch ?? fetch)(url, { headers, signal });
    } catch (err) {
      throw new DownloadError(`cannot download ${url}: ${why(err)}.${hint}`);
    }

    let total: number | undefined;
    let resumed = false;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get("content-range"));
      if (!range || range.start !== have) {
        await response.body?.cancel();
        throw new DownloadError(
          `${url} answered a resume request with an unexpected range (${response.headers.get("content-range")}); ` +
            `delete ${partPath} to start over`,
        );
      }
      total = range.total;
      resumed = true;
      log(`download: resuming ${url} at ${megabytes(have)}`);
    } else if (response.status === 416 && have > 0) {
      await response.body?.cancel();
      const range = parseContentRange(response.headers.get("content-range"));
      if (range?.total !== undefined && range.total === have) {
        total = have;
        resumed = true;
      } else {
        await Deno.remove(partPath);
        throw new DownloadError(`${partPath} did not match the file on the server and was deleted; run again`);
      }
    } else if (response.ok) {
      if (have > 0) log(`download: ${url} cannot be resumed (the server ignores Range); starting over`);
      have = 0;
      const length = response.headers.get("content-length");
      total = length === null ? undefined : Number(length);
      log(`download: ${url}${total ? ` (${megabytes(total)})` : ""} -> ${dest}`);
    } else {
      await response.body?.cancel();
      throw new DownloadError(`cannot download ${url}: HTTP ${response.status} ${response.statusText}.${hint}`);
    }

    if (options.expectedSize !== undefined && total !== undefined && total !== options.expectedSize) {
      await response.body?.cancel();
      throw new DownloadError(
        `${url} announces ${total} bytes but ${options.expectedSize} were expected; the file on the server changed`,
      );
    }

    if (response.status !== 416 && response.body) {
      const file = await Deno.open(partPath, { write: true, create: true, append: have > 0, truncate: have === 0 })
        .catch((err) => {
          throw fsError(err, partPath);
        });
      let got = have;
      let nextReport = got + Math.max(1, Math.floor((total ?? 50e6) / 20));
      let lastTime = performance.now();
      try {
        for await (const chunk of response.body) {
          poke();
          let written = 0;
          while (written < chunk.length) written += await file.write(chunk.subarray(written));
          got += chunk.length;
          if (got >= nextReport || performance.now() - lastTime > 10_000) {
            log(
              `download: ${megabytes(got)}${
                total ? ` of ${megabytes(total)} (${Math.round(100 * got / total)} %)` : ""
              }`,
            );
            nextReport = got + Math.max(1, Math.floor((total ?? 50e6) / 20));
            lastTime = performance.now();
          }
        }
      } catch (err) {
        if (isFsError(err) || /no space left|read-only file system/i.test(String(err))) {
          throw new DownloadError(
            `cannot save the download of ${url} after ${megabytes(got)}: ${describeFsError(err, partPath)} ` +
              `Then run again to resume from ${partPath}.`,
          );
        }
        throw new DownloadError(
          `the download of ${url} broke off after ${megabytes(got)}: ${why(err)}. ` +
            `Run again to resume from ${partPath}.${hint}`,
        );
      } finally {
        file.close();
      }
    }

    const size = (await Deno.stat(partPath)).size;
    const wanted = options.expectedSize ?? total;
    if (wanted !== undefined && size !== wanted) {
      throw new DownloadError(
        `the download of ${url} stopped at ${size} of ${wanted} bytes; run again to resume from ${partPath}`,
      );
    }
    const record: Sidecar = { url, size, savedAt: new Date().toISOString() };
    const wrong = await checkSums(partPath, record, options);
    if (wrong) {
      await Deno.remove(partPath);
      throw new DownloadError(`${url} downloaded with ${wrong}; the damaged file was deleted, run again`);
    }
    await Deno.rename(partPath, dest);
    await Deno.writeTextFile(sidecarPath, JSON.stringify(record, null, 2));
    const sha256 = record.sha256!;
    log(`download: done, ${megabytes(size)}, sha256 ${sha256}`);
    return { path: dest, size, sha256, cached: false, resumed };
  }
}

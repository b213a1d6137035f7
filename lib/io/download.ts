/**
 * Download a file once into a cache, resumable (HTTP `Range`), checked by size
 * and SHA-256 or md5. The file grows as `<dest>.part`, renamed to `<dest>` when
 * complete and checked; a sidecar `<dest>.json` (an integrity manifest with the
 * URL) lets later calls reuse it without hashing it again.
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { DownloadError } from "./errors.ts";
import { describeFsError, statOrNull } from "./fs.ts";
import { differs, type FileRecord, fileRecord, type Manifest, readManifest } from "./integrity.ts";

/** Options of {@link downloadFile}. */
export interface DownloadFileOptions {
  /** The SHA-256 and md5 (hex) the file must have (md5 as Keras' `file_hash` checks it). */
  sha256?: string;
  md5?: string;
  /** A file already at `dest` that fails the checks: `"error"` (default; left alone) or `"replace"` (downloaded again). */
  onMismatch?: "error" | "replace";
  /** Where progress lines go (default `console.log`). */
  log?: (line: string) => void;
  /** A sentence added to network errors, e.g. what to do offline. */
  hint?: string;
  /** Cancels the download; the `.part` file stays, to be resumed later. */
  signal?: AbortSignal;
  /** The `fetch` to use (default the global one). */
  fetch?: typeof fetch;
}

/** The complete file, its size and SHA-256; `cached`: nothing was downloaded; `resumed`: a partial download went on. */
export interface DownloadFileResult {
  path: string;
  size: number;
  sha256: string;
  cached: boolean;
  resumed: boolean;
}

/** A connection that delivers no byte for this long is given up. */
const STALL_MS = 60_000;

const megabytes = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** The step's context: what every step of one download needs. */
interface Job {
  url: string;
  dest: string;
  part: string;
  options: DownloadFileOptions;
  log: (line: string) => void;
  hint: string;
}

const saveError = (job: Job, err: unknown, path: string) =>
  new DownloadError(`cannot save the download of ${job.url}: ${describeFsError(err, path) ?? String(err)}`, {
    cause: err,
  });

/**
 * Download `url` to `dest` unless it is already there (a file put there by
 * hand is hashed once); resume a `.part` file left by an interrupted run. A
 * connection that delivers no byte for 60 s is given up; the `.part` stays.
 *
 * @throws {DownloadError} when the server cannot be reached or answers with an
 * error, the connection breaks or stalls (run again to resume), the finished
 * file fails its checks (it is then deleted), or a file already at `dest`
 * fails them (unless `onMismatch: "replace"`).
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadFileOptions = {},
): Promise<DownloadFileResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const job: Job = { url, dest, part: `${dest}.part`, options, log, hint: options.hint ? ` ${options.hint}` : "" };
  const cached = await useCached(job);
  if (cached) return cached;
  await Deno.mkdir(dirname(dest), { recursive: true }).catch((err) => {
    throw saveError(job, err, dirname(dest));
  });
  const stall = new AbortController();
  let timer = setTimeout(() => stall.abort(), STALL_MS);
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), STALL_MS);
  };
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  const why = (err: unknown) => {
    if (stall.signal.aborted) return `no data for ${STALL_MS / 1000} s`;
    const e = err as Error;
    return e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message;
  };
  try {
    const answer = await request(job, signal, why);
    if (answer.response) await receive(job, answer.response, answer.have, answer.total, poke, why);
    return await finish(job, answer.total, answer.resumed);
  } finally {
    clearTimeout(timer);
  }
}

/** The sidecar of `dest`, when it records this URL and the file's current size. */
async function sidecarRecord(job: Job, size: number): Promise<FileRecord | undefined> {
  const sidecar = await readManifest(`${job.dest}.json`).catch(() => undefined);
  const record = sidecar?.files[basename(job.dest)];
  return sidecar?.url === job.url && record?.size === size ? record : undefined;
}

async function writeSidecar(job: Job, record: FileRecord): Promise<void> {
  const sidecar: Manifest = { format: "ch5-manifest-1", url: job.url, files: { [basename(job.dest)]: record } };
  await Deno.writeTextFile(`${job.dest}.json`, JSON.stringify(sidecar, null, 1) + "\n");
}

/** The file already at `dest`, checked (by its sidecar, else hashed once), or `undefined` to download it. */
async function useCached(job: Job): Promise<DownloadFileResult | undefined> {
  const { dest, options } = job;
  const done = await statOrNull(dest).catch((err) => {
    throw saveError(job, err, dest);
  });
  if (!done) return undefined;
  let record = await sidecarRecord(job, done.size);
  const known = !!record && (!options.md5 || !!record.md5);
  if (!known) record = await fileRecord(dest, { md5: !!options.md5 }); // put there by hand: hashed once
  const wrong = differs(record!, options);
  if (!wrong) {
    if (!known) await writeSidecar(job, record!).catch(() => {}); // a read-only cache only means hashing again
    return { path: dest, size: done.size, sha256: record!.sha256, cached: true, resumed: false };
  }
  if (options.onMismatch !== "replace") {
    throw new DownloadError(
      `${dest} is there but does not match what was expected (${wrong}); ` +
        `delete it (and ${dest}.json) to download it again`,
    );
  }
  job.log(`download: ${dest} does not match what was expected (${wrong}); downloading it again`);
  return undefined;
}

/** The start and total of a `Content-Range: bytes START-END/TOTAL` header. */
function contentRange(value: string | null): { start: number; total?: number } | null {
  const m = value?.match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!m) return null;
  return { start: m[1] === undefined ? -1 : Number(m[1]), total: m[2] === "*" ? undefined : Number(m[2]) };
}

/** Ask for the file (the rest of it, when a `.part` file is there); a body to read, unless the part is complete. */
async function request(job: Job, signal: AbortSignal, why: (err: unknown) => string) {
  const { url, part, log } = job;
  let have = (await statOrNull(part))?.size ?? 0;
  let response: Response;
  try {
    response = await (job.options.fetch ?? fetch)(url, { headers: have ? { Range: `bytes=${have}-` } : {}, signal });
  } catch (err) {
    throw new DownloadError(`cannot download ${url}: ${why(err)}.${job.hint}`, { cause: err });
  }
  const range = contentRange(response.headers.get("content-range"));
  if (response.status === 206) {
    if (range?.start !== have) {
      await response.body?.cancel();
      throw new DownloadError(
        `${url} answered a resume request with an unexpected range (${response.headers.get("content-range")}); ` +
          `delete ${part} to start over`,
      );
    }
    log(`download: resuming ${url} at ${megabytes(have)}`);
    return { response, have, total: range.total, resumed: true };
  }
  if (response.status === 416 && have > 0) {
    await response.body?.cancel();
    if (range?.total === have) return { response: undefined, have, total: have, resumed: true };
    await Deno.remove(part);
    throw new DownloadError(`${part} did not match the file on the server and was deleted; run again`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DownloadError(`cannot download ${url}: HTTP ${response.status} ${response.statusText}.${job.hint}`);
  }
  if (have > 0) log(`download: ${url} cannot be resumed (the server ignores Range); starting over`);
  have = 0;
  const length = response.headers.get("content-length");
  const total = length === null ? undefined : Number(length);
  log(`download: ${url}${total ? ` (${megabytes(total)})` : ""} -> ${job.dest}`);
  return { response, have, total, resumed: false };
}

/** Append the response's bytes to the `.part` file, with a progress line every 5 % (or 10 s). */
async function receive(
  job: Job,
  response: Response,
  have: number,
  total: number | undefined,
  poke: () => void,
  why: (err: unknown) => string,
): Promise<void> {
  if (!response.body) return;
  const file = await Deno.open(job.part, { write: true, create: true, append: have > 0, truncate: have === 0 })
    .catch((err) => {
      throw saveError(job, err, job.part);
    });
  let got = have;
  const step = Math.max(1, Math.floor((total ?? 50e6) / 20));
  let next = got + step;
  let last = performance.now();
  try {
    for await (const chunk of response.body) {
      poke();
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
      got += chunk.length;
      if (got >= next || performance.now() - last > 10_000) {
        job.log(
          `download: ${megabytes(got)}${total ? ` of ${megabytes(total)} (${Math.round(100 * got / total)} %)` : ""}`,
        );
        next = got + step;
        last = performance.now();
      }
    }
  } catch (err) {
    const fs = describeFsError(err, job.part);
    const what = fs
      ? `cannot save the download of ${job.url} after ${megabytes(got)}: ${fs} Then run`
      : `the download of ${job.url} broke off after ${megabytes(got)}: ${why(err)}. Run`;
    throw new DownloadError(`${what} again to resume from ${job.part}.${fs ? "" : job.hint}`, { cause: err });
  } finally {
    file.close();
  }
}

/** Check the complete `.part` file (size, sums), move it into place and record it. */
async function finish(job: Job, total: number | undefined, resumed: boolean): Promise<DownloadFileResult> {
  const { url, part, dest } = job;
  const size = (await Deno.stat(part)).size;
  if (total !== undefined && size !== total) {
    throw new DownloadError(
      `the download of ${url} stopped at ${size} of ${total} bytes; run again to resume from ${part}`,
    );
  }
  const record = await fileRecord(part, { md5: !!job.options.md5 });
  const wrong = differs(record, job.options);
  if (wrong) {
    await Deno.remove(part);
    throw new DownloadError(`${url} downloaded with ${wrong}; the damaged file was deleted, run again`);
  }
  await Deno.rename(part, dest);
  await writeSidecar(job, record);
  job.log(`download: done, ${megabytes(size)}, sha256 ${record.sha256}`);
  return { path: dest, size, sha256: record.sha256, cached: false, resumed };
}

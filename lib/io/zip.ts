/**
 * Unpack ZIP archives to a folder entry by entry with yauzl (small memory
 * whatever the archive's size; ZIP64, CP437/UTF-8 names), checking every
 * entry's CRC-32 (yauzl does not): a damaged archive is an error, never a
 * wrong file.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import yauzl from "yauzl";
import { DataError } from "./errors.ts";

/** The largest entry {@link unpackZip} unpacks: 50 MB (no picture of the chapter comes near it). */
const MAX_ENTRY_BYTES = 50_000_000;

/** The parts of yauzl's API used here (the package ships no types). */
interface YauzlEntry {
  fileName: string;
  uncompressedSize: number;
  compressionMethod: number;
  crc32: number;
  generalPurposeBitFlag: number;
}
interface YauzlZipFile {
  readEntry(): void;
  on(event: "entry", fn: (entry: YauzlEntry) => void): void;
  on(event: "end", fn: () => void): void;
  on(event: "error", fn: (err: Error) => void): void;
  openReadStream(entry: YauzlEntry, fn: (err: Error | null, stream?: AsyncIterable<Uint8Array>) => void): void;
  close(): void;
}
const lib = yauzl as unknown as {
  open(path: string, options: Record<string, boolean>, fn: (err: Error | null, zip?: YauzlZipFile) => void): void;
};

/** yauzl's words for a damaged or foreign file, with what to do. */
function explain(path: string, err: unknown): DataError {
  if (err instanceof DataError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/end of central directory record signature not found/i.test(message)) {
    return new DataError(
      `${path} is not a ZIP archive, or is truncated (no end-of-central-directory record); ` +
        `if it was being downloaded, delete it and download it again`,
      { cause: err },
    );
  }
  return new DataError(`${path} is damaged or not a ZIP archive yauzl can read (${message}); get a fresh copy`, {
    cause: err,
  });
}

/** Open an archive and list its entries (the central directory). */
async function openZip(path: string): Promise<{ zip: YauzlZipFile; entries: YauzlEntry[] }> {
  const info = await Deno.stat(path).catch((err) => {
    throw new DataError(`cannot open ${path} as a ZIP archive: ${(err as Error).message}`, { cause: err });
  });
  if (!info.isFile || info.size < 22) throw new DataError(`${path} is not a ZIP archive (${info.size} bytes)`);
  const zip = await new Promise<YauzlZipFile>((ok, fail) =>
    lib.open(
      path,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true, decodeStrings: true, strictFileNames: false },
      (err, z) => (err ? fail(explain(path, err)) : ok(z!)),
    )
  );
  const entries: YauzlEntry[] = [];
  try {
    await new Promise<void>((ok, fail) => {
      zip.on("entry", (entry) => {
        entries.push(entry);
        zip.readEntry();
      });
      zip.on("end", ok);
      zip.on("error", (err) => fail(explain(path, err)));
      zip.readEntry();
    });
  } catch (err) {
    zip.close();
    throw err;
  }
  return { zip, entries };
}

/** Why an entry cannot be unpacked, or `undefined` when it can. */
function refusal(entry: YauzlEntry): string | undefined {
  if (entry.fileName.endsWith("/")) return `a folder entry holding ${entry.uncompressedSize} bytes (damaged?)`;
  if (entry.generalPurposeBitFlag & 1) return "encrypted";
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    return `compression method ${entry.compressionMethod} (only stored and deflated entries are read; unpack the ` +
      `archive with another tool and pass the folder instead)`;
  }
  if (entry.uncompressedSize > MAX_ENTRY_BYTES) {
    return `${entry.uncompressedSize} bytes unpacked, over the limit of ${MAX_ENTRY_BYTES} (a zip bomb, or not a picture)`;
  }
  return undefined;
}

/** Stream one entry to `target`, checking its size and CRC-32 at the end. */
async function extract(path: string, zip: YauzlZipFile, entry: YauzlEntry, target: string): Promise<void> {
  const out = await Deno.open(target, { write: true, create: true, truncate: true });
  let crc = 0;
  let length = 0;
  try {
    const stream = await new Promise<AsyncIterable<Uint8Array>>((ok, fail) =>
      zip.openReadStream(entry, (err, s) => (err ? fail(err) : ok(s!)))
    );
    for await (const chunk of stream) {
      crc = crc32(chunk, crc);
      length += chunk.length;
      let written = 0;
      while (written < chunk.length) written += await out.write(chunk.subarray(written));
    }
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied || /os error/.test(String(err))) throw err;
    throw new DataError(
      `${path}: ${entry.fileName} is damaged (${(err as Error).message}); the archive is corrupt or was truncated`,
      { cause: err },
    );
  } finally {
    out.close();
  }
  if (length !== entry.uncompressedSize || (crc >>> 0) !== (entry.crc32 >>> 0)) {
    throw new DataError(
      `${path}: ${entry.fileName} is damaged (CRC-32 or size mismatch: got ${length} bytes, ` +
        `expected ${entry.uncompressedSize}); the archive is corrupt or was truncated`,
    );
  }
}

/** What {@link unpackZip} did: the files unpacked (relative, `/`-separated), and the entries left packed, and why. */
export interface UnpackResult {
  files: string[];
  skipped: { file: string; reason: string }[];
}

/**
 * Unpack every file of the archive at `path` into `dir` (created when
 * missing), one at a time, CRC-checked. Entries that are encrypted, use
 * another compression method, or would unpack to more than 50 MB (a zip bomb,
 * or no picture) are skipped and listed.
 *
 * @throws {DataError} for a file that is not a ZIP archive, or a damaged entry (named).
 */
export async function unpackZip(
  path: string,
  dir: string,
  options: { signal?: AbortSignal } = {},
): Promise<UnpackResult> {
  const { zip, entries } = await openZip(path);
  const result: UnpackResult = { files: [], skipped: [] };
  const made = new Set<string>();
  try {
    for (const entry of entries) {
      options.signal?.throwIfAborted();
      if (entry.fileName.endsWith("/") && entry.uncompressedSize === 0) continue;
      const reason = refusal(entry);
      if (reason) {
        result.skipped.push({ file: entry.fileName, reason });
        continue;
      }
      const target = join(dir, entry.fileName);
      if (!made.has(dirname(target))) {
        await Deno.mkdir(dirname(target), { recursive: true });
        made.add(dirname(target));
      }
      await extract(path, zip, entry, target);
      result.files.push(entry.fileName);
    }
  } finally {
    zip.close();
  }
  return result;
}

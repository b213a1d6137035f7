/**
 * Read ZIP archives from disk without unpacking them whole (yauzl), and write
 * small ones in memory (fflate).
 *
 * Why these libraries, measured on a 793 MB archive of 35,000 JPEG entries
 * (deflated, like Microsoft's 790 MB PetImages zip; build/zipbench), reading
 * every entry once into memory, Deno 2.9.6, 2 CPU cores shared with other
 * jobs (2026-12-02; first three rows at load ~2, last two at load ~12):
 *
 * | reader                                   | list entries | read all | peak RSS |
 * |------------------------------------------|-------------:|---------:|---------:|
 * | yauzl 3.4.0 + CRC-32 (bare script)       |        3.3 s |    6.9 s |   240 MB |
 * | @zip.js/zip.js 2.24.0 (checkSignature)   |        1.4 s |   27.2 s |  1.24 GB |
 * | the former hand-written reader (397 ln.) |        0.1 s |    7.5 s |   148 MB |
 * | this module (yauzl), load ~12            |        5.8 s |   30.8 s |   334 MB |
 * | the former reader, load ~12              |        0.5 s |   28.9 s |   148 MB |
 *
 * The cost of a maintained library is a few seconds of listing and ~100–190 MB
 * more memory, once per split build; reading speed is about the same.
 *
 * - yauzl reads the central directory and then each entry on demand through
 *   a file descriptor, so memory stays small whatever the archive's size. It
 *   does not check CRC-32s (its README says so), so this module does, on every
 *   byte it hands out: a damaged archive is an error, never a wrong picture.
 *   It handles ZIP64, data descriptors and CP437/UTF-8 names.
 * - zip.js checks CRC-32s itself, but keeps about 8 KB of JavaScript objects
 *   per entry (279 MB of heap for 35,000 entries before reading one), and was
 *   four times slower here.
 * - fflate's reader needs the whole archive in memory (800 MB); its `zipSync`
 *   is used only to write the small archives of tests and examples.
 *
 * @example
 * ```ts
 * import { openZip } from "./zip.ts";
 * const zip = await openZip("data/downloads/kagglecatsanddogs_5340.zip");
 * try {
 *   const first = zip.entries.find((e) => e.name.endsWith(".jpg"))!;
 *   const bytes = await zip.read(first);
 *   console.log(first.name, bytes.length);
 * } finally {
 *   zip.close();
 * }
 * ```
 * @module
 */
import { crc32 } from "node:zlib";
import { type Zippable, zipSync } from "fflate";
import yauzl from "yauzl";

/** Raised for a file that is not a ZIP archive, a damaged one, or an entry that cannot be unpacked. */
export class ZipError extends Error {
  override name = "ZipError";
}

/** One file or folder of an archive, as its central directory describes it. */
export interface ZipEntry {
  /** Path inside the archive, with `/` separators (folders end with `/`). */
  name: string;
  /** Size once unpacked, in bytes. */
  size: number;
  /** Size as stored in the archive, in bytes. */
  compressedSize: number;
  /** 0 (stored) or 8 (deflated); others cannot be read. */
  method: number;
  /** CRC-32 of the unpacked bytes. */
  crc32: number;
  /** Whether the entry is a folder. */
  isDirectory: boolean;
  /** Offset of the entry's local header in the archive. */
  localHeaderOffset: number;
  /** General purpose flags (bit 0: encrypted, bit 3: data descriptor). */
  flags: number;
}

/** An open archive; see {@link openZip}. */
export interface ZipReader {
  /** The archive's path. */
  readonly path: string;
  /** Every entry, in the order of the central directory. */
  readonly entries: readonly ZipEntry[];
  /** Unpack one entry into memory and check its CRC-32. */
  read(entry: ZipEntry): Promise<Uint8Array>;
  /** Unpack one (possibly large) entry to a file, streaming, and check its CRC-32. */
  extractTo(entry: ZipEntry, path: string): Promise<void>;
  /** Release the file handle. */
  close(): void;
}

/** The parts of yauzl's API used here (the package ships no types). */
interface YauzlEntry {
  fileName: string;
  uncompressedSize: number;
  compressedSize: number;
  compressionMethod: number;
  crc32: number;
  relativeOffsetOfLocalHeader: number;
  generalPurposeBitFlag: number;
}
interface YauzlZipFile {
  entryCount: number;
  readEntry(): void;
  on(event: "entry", fn: (entry: YauzlEntry) => void): void;
  on(event: "end", fn: () => void): void;
  on(event: "error", fn: (err: Error) => void): void;
  openReadStream(entry: YauzlEntry, fn: (err: Error | null, stream?: AsyncIterable<Uint8Array>) => void): void;
  close(): void;
}
const lib = yauzl as unknown as {
  open(
    path: string,
    options: Record<string, boolean>,
    fn: (err: Error | null, zip?: YauzlZipFile) => void,
  ): void;
};

/** yauzl's words for a damaged or foreign file, with what to do. */
function explain(path: string, err: unknown): ZipError {
  if (err instanceof ZipError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/end of central directory record signature not found/i.test(message)) {
    return new ZipError(
      `${path} is not a ZIP archive, or is truncated (no end-of-central-directory record); ` +
        `if it was being downloaded, delete it and download it again`,
    );
  }
  return new ZipError(`${path} is damaged or not a ZIP archive yauzl can read (${message}); get a fresh copy`);
}

/**
 * Open a ZIP archive and read its central directory.
 *
 * @example
 * ```ts
 * import { openZip } from "./zip.ts";
 * const zip = await openZip("train.zip");
 * console.log(zip.entries.length, "entries");
 * zip.close();
 * ```
 * @throws {ZipError} when the file is not a ZIP archive or its directory is damaged.
 */
export async function openZip(path: string): Promise<ZipReader> {
  const info = await Deno.stat(path).catch((err) => {
    throw new ZipError(`cannot open ${path} as a ZIP archive: ${(err as Error).message}`);
  });
  if (!info.isFile) throw new ZipError(`${path} is not a file, so not a ZIP archive`);
  if (info.size < 22) throw new ZipError(`${path} is not a ZIP archive (only ${info.size} bytes)`);
  const zip = await new Promise<YauzlZipFile>((ok, fail) =>
    lib.open(
      path,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true, decodeStrings: true, strictFileNames: false },
      (err, z) => (err ? fail(explain(path, err)) : ok(z!)),
    )
  );
  const raw: YauzlEntry[] = [];
  try {
    await new Promise<void>((ok, fail) => {
      zip.on("entry", (entry) => {
        raw.push(entry);
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
  const handles = new Map<ZipEntry, YauzlEntry>();
  const entries = raw.map((e) => {
    const entry: ZipEntry = {
      name: e.fileName,
      size: e.uncompressedSize,
      compressedSize: e.compressedSize,
      method: e.compressionMethod,
      crc32: e.crc32 >>> 0,
      isDirectory: e.fileName.endsWith("/"),
      localHeaderOffset: e.relativeOffsetOfLocalHeader,
      flags: e.generalPurposeBitFlag,
    };
    handles.set(entry, e);
    return entry;
  });
  return makeReader(path, zip, entries, handles);
}

function makeReader(
  path: string,
  zip: YauzlZipFile,
  entries: ZipEntry[],
  handles: Map<ZipEntry, YauzlEntry>,
): ZipReader {
  let closed = false;
  /** Stream an entry's bytes to `sink`, checking its size and CRC-32 at the end. */
  const unpack = async (entry: ZipEntry, sink: (chunk: Uint8Array) => Promise<void> | void) => {
    const handle = handles.get(entry);
    if (!handle) throw new ZipError(`${path}: ${entry.name} is not an entry of this archive`);
    if (closed) throw new ZipError(`${path} was closed`);
    if (entry.flags & 1) throw new ZipError(`${path}: ${entry.name} is encrypted; it cannot be unpacked here`);
    if (entry.method !== 0 && entry.method !== 8) {
      throw new ZipError(
        `${path}: ${entry.name} uses compression method ${entry.method}; only stored (0) and deflated (8) ` +
          `entries can be read. Unpack the archive with another tool and pass the folder instead`,
      );
    }
    let crc = 0;
    let length = 0;
    try {
      const stream = await new Promise<AsyncIterable<Uint8Array>>((ok, fail) =>
        zip.openReadStream(handle, (err, s) => (err ? fail(err) : ok(s!)))
      );
      for await (const chunk of stream) {
        crc = crc32(chunk, crc);
        length += chunk.length;
        await sink(chunk);
      }
    } catch (err) {
      throw new ZipError(
        `${path}: ${entry.name} is damaged (${(err as Error).message}); the archive is corrupt or was truncated`,
      );
    }
    if (length !== entry.size || (crc >>> 0) !== entry.crc32) {
      throw new ZipError(
        `${path}: ${entry.name} is damaged (CRC-32 or size mismatch: got ${length} bytes, ` +
          `expected ${entry.size}); the archive is corrupt or was truncated`,
      );
    }
  };

  return {
    path,
    entries,
    async read(entry) {
      const chunks: Uint8Array[] = [];
      await unpack(entry, (chunk) => void chunks.push(chunk));
      if (chunks.length === 1) return new Uint8Array(chunks[0].buffer, chunks[0].byteOffset, chunks[0].byteLength);
      const out = new Uint8Array(entry.size);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    },
    async extractTo(entry, target) {
      const out = await Deno.open(target, { write: true, create: true, truncate: true });
      try {
        await unpack(entry, async (chunk) => {
          let written = 0;
          while (written < chunk.length) written += await out.write(chunk.subarray(written));
        });
      } catch (err) {
        out.close();
        await Deno.remove(target).catch(() => {});
        throw err;
      }
      out.close();
    },
    close() {
      if (closed) return;
      closed = true;
      zip.close();
    },
  };
}

/** A file to put in an archive with {@link zipFiles}. */
export interface ZipInput {
  /** Path inside the archive, with `/` separators. */
  name: string;
  /** Its bytes. */
  data: Uint8Array;
  /** Deflate it (default true); false stores it as is. */
  compress?: boolean;
}

/**
 * A small ZIP archive in memory (fflate's `zipSync`): deflated or stored
 * entries, UTF-8 names, in the order given. For tests and examples; the
 * workbook never writes large archives.
 *
 * @example
 * ```ts
 * import { zipFiles } from "./zip.ts";
 * const bytes = zipFiles([{ name: "PetImages/Cat/0.jpg", data: new Uint8Array([1, 2, 3]) }]);
 * await Deno.writeFile("pets.zip", bytes);
 * ```
 * @throws {ZipError} for a name given twice.
 */
export function zipFiles(files: ZipInput[]): Uint8Array<ArrayBuffer> {
  const tree: Zippable = {};
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.name)) throw new ZipError(`zipFiles: the name ${f.name} is given twice`);
    seen.add(f.name);
    // Full paths as keys (fflate splits nested objects, not "a/b" keys): order is kept for non-numeric names.
    tree[f.name] = [f.data, { level: f.compress === false ? 0 : 6 }];
  }
  const bytes = zipSync(tree);
  return new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
}

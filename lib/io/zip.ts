/**
 * Read ZIP archives from disk without unpacking them whole, and write small
 * ones in memory.
 *
 * The reader reads the central directory once, then reads each entry on
 * demand by seeking in the file: an 800 MB archive of 25,000 pictures costs a
 * few megabytes of memory. It handles the formats that picture archives use in
 * practice: stored (method 0) and deflated (method 8) entries, data
 * descriptors, ZIP64 sizes and offsets, UTF-8 and CP437 names. Every entry is
 * checked against the CRC-32 stored in the archive, so a damaged archive is an
 * error, never a silently wrong picture. Encrypted entries and other
 * compression methods are refused with a clear error.
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
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";

/** Raised for a file that is not a ZIP archive, a damaged one, or an entry this reader cannot unpack. */
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
  /** General purpose flags (bit 0: encrypted). */
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

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function decodeName(bytes: Uint8Array, utf8: boolean): string {
  if (utf8) return new TextDecoder().decode(bytes);
  let text = "";
  for (const b of bytes) text += b < 128 ? String.fromCharCode(b) : CP437_HIGH[b - 128];
  return text;
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  if (filled < length) {
    throw new ZipError(`unexpected end of file at byte ${offset + filled} (wanted ${length} bytes at ${offset})`);
  }
  return buf;
}

function findEocd(tail: Uint8Array): number {
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tail.length - 22; i >= 0; i--) {
    if (view.getUint32(i, true) === EOCD_SIGNATURE) {
      const commentLength = view.getUint16(i + 20, true);
      if (i + 22 + commentLength <= tail.length) return i;
    }
  }
  return -1;
}

function parseCentralDirectory(cd: Uint8Array, count: number, where: string): ZipEntry[] {
  const view = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || view.getUint32(p, true) !== CENTRAL_SIGNATURE) {
      throw new ZipError(`${where}: central directory entry ${i} is damaged (bad signature at ${p})`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const name = decodeName(cd.subarray(p + 46, p + 46 + nameLength), (flags & 0x800) !== 0);
    // ZIP64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in order.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          const v = Number(view.getBigUint64(q, true));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      e += 4 + len;
    }
    entries.push({
      name,
      size,
      compressedSize,
      method,
      crc32: crc,
      isDirectory: name.endsWith("/"),
      localHeaderOffset,
      flags,
    });
    p = extraEnd + commentLength;
  }
  return entries;
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
  const file = await Deno.open(path, { read: true });
  try {
    const { size } = await file.stat();
    if (size < 22) throw new ZipError(`${path} is not a ZIP archive (only ${size} bytes)`);
    const tailLength = Math.min(size, 65_557);
    const tail = await readAt(file, size - tailLength, tailLength);
    const at = findEocd(tail);
    if (at < 0) {
      throw new ZipError(
        `${path} is not a ZIP archive, or is truncated (no end-of-central-directory record); ` +
          `if it was being downloaded, delete it and download it again`,
      );
    }
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let count = tv.getUint16(at + 10, true);
    let cdSize = tv.getUint32(at + 12, true);
    let cdOffset = tv.getUint32(at + 16, true);
    const eocdOffset = size - tailLength + at;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locator = eocdOffset >= 20 ? await readAt(file, eocdOffset - 20, 20) : undefined;
      const lv = locator && new DataView(locator.buffer);
      if (!lv || lv.getUint32(0, true) !== ZIP64_LOCATOR_SIGNATURE) {
        throw new ZipError(`${path}: ZIP64 archive without its ZIP64 locator (damaged archive)`);
      }
      const record = await readAt(file, Number(lv.getBigUint64(8, true)), 56);
      const rv = new DataView(record.buffer);
      if (rv.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
        throw new ZipError(`${path}: bad ZIP64 end-of-central-directory record (damaged archive)`);
      }
      count = Number(rv.getBigUint64(32, true));
      cdSize = Number(rv.getBigUint64(40, true));
      cdOffset = Number(rv.getBigUint64(48, true));
    }
    if (cdOffset + cdSize > size) {
      throw new ZipError(
        `${path} is truncated: its central directory would end at byte ${cdOffset + cdSize} of ${size}; ` +
          `delete it and download or copy it again`,
      );
    }
    const cd = await readAt(file, cdOffset, cdSize);
    const entries = parseCentralDirectory(cd, count, path);
    return makeReader(path, file, entries);
  } catch (err) {
    file.close();
    throw err;
  }
}

function makeReader(path: string, file: Deno.FsFile, entries: ZipEntry[]): ZipReader {
  // Reads seek a shared handle: run them one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => {});
    return run;
  };

  const dataOffset = async (entry: ZipEntry): Promise<number> => {
    if (entry.flags & 1) throw new ZipError(`${path}: ${entry.name} is encrypted; this reader cannot unpack it`);
    if (entry.method !== 0 && entry.method !== 8) {
      throw new ZipError(
        `${path}: ${entry.name} uses compression method ${entry.method}; only stored (0) and deflated (8) ` +
          `entries can be read. Unpack the archive with another tool and pass the folder instead`,
      );
    }
    const header = await readAt(file, entry.localHeaderOffset, 30);
    const hv = new DataView(header.buffer);
    if (hv.getUint32(0, true) !== LOCAL_SIGNATURE) {
      throw new ZipError(`${path}: ${entry.name} has a damaged local header`);
    }
    return entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
  };

  const checkCrc = (entry: ZipEntry, actual: number, length: number) => {
    if (length !== entry.size || (actual >>> 0) !== (entry.crc32 >>> 0)) {
      throw new ZipError(
        `${path}: ${entry.name} is damaged (CRC-32 or size mismatch: got ${length} bytes, ` +
          `expected ${entry.size}); the archive is corrupt or was truncated`,
      );
    }
  };

  return {
    path,
    entries,
    read(entry) {
      return serial(async () => {
        const start = await dataOffset(entry);
        const raw = await readAt(file, start, entry.compressedSize);
        let bytes: Uint8Array;
        try {
          bytes = entry.method === 0 ? raw : new Uint8Array(inflateRawSync(raw));
        } catch (err) {
          throw new ZipError(`${path}: ${entry.name} cannot be inflated: ${(err as Error).message}`);
        }
        checkCrc(entry, crc32(bytes), bytes.length);
        return bytes;
      });
    },
    extractTo(entry, target) {
      return serial(async () => {
        const start = await dataOffset(entry);
        await file.seek(start, Deno.SeekMode.Start);
        const out = await Deno.open(target, { write: true, create: true, truncate: true });
        let crc = 0;
        let length = 0;
        try {
          let left = entry.compressedSize;
          const chunk = new Uint8Array(1 << 20);
          const source = new ReadableStream<Uint8Array>({
            pull: async (controller) => {
              if (left === 0) return controller.close();
              const n = await file.read(chunk.subarray(0, Math.min(chunk.length, left)));
              if (n === null) {
                return controller.error(new ZipError(`${path}: ${entry.name} ends early (truncated archive)`));
              }
              left -= n;
              controller.enqueue(chunk.slice(0, n));
            },
          });
          const stream = entry.method === 0
            ? source
            : source.pipeThrough(new DecompressionStream("deflate-raw") as TransformStream<Uint8Array, Uint8Array>);
          for await (const part of stream) {
            crc = crc32(part, crc);
            length += part.length;
            let written = 0;
            while (written < part.length) written += await out.write(part.subarray(written));
          }
        } catch (err) {
          if (err instanceof ZipError) throw err;
          throw new ZipError(`${path}: ${entry.name} cannot be unpacked: ${(err as Error).message}`);
        } finally {
          out.close();
        }
        checkCrc(entry, crc, length);
      });
    },
    close() {
      try {
        file.close();
      } catch {
        // already closed
      }
    },
  };
}

/** One file for {@link zipFiles}. */
export interface ZipInput {
  /** Path inside the archive, `/`-separated. */
  name: string;
  /** The file's bytes. */
  data: Uint8Array;
  /** Deflate (default) or store. */
  compress?: boolean;
}

/**
 * Build a small ZIP archive in memory (for tests and fixtures; everything is
 * held in memory, and sizes must stay under 4 GiB).
 *
 * @example
 * ```ts
 * import { zipFiles } from "./zip.ts";
 * const bytes = zipFiles([{ name: "a/hello.txt", data: new TextEncoder().encode("hi") }]);
 * await Deno.writeFile("hello.zip", bytes);
 * ```
 */
export function zipFiles(files: ZipInput[]): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = enc.encode(f.name);
    const method = f.compress === false ? 0 : 8;
    const body = method === 8 ? new Uint8Array(deflateRawSync(f.data)) : f.data;
    const crc = crc32(f.data) >>> 0;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL_SIGNATURE, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, 0x800, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, f.data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, CENTRAL_SIGNATURE, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x800, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, f.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local, body);
    centrals.push(central);
    offset += local.length + body.length;
  }
  const cdSize = centrals.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, EOCD_SIGNATURE, true);
  ev.setUint16(8, files.length, true);
  ev.setUint16(10, files.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...locals, ...centrals, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

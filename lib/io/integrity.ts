/**
 * The one integrity record: a manifest of sizes and SHA-256 sums (md5 too
 * where Keras' sums need it). The split, saved models, checkpoints and
 * downloads record their files this way and check them with {@link differs}:
 * a truncated or changed file is found and named, never used.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";

/** The manifest's file name in a folder (a split, a saved model). */
export const MANIFEST = "manifest.json";

/**
 * What a manifest records of one file: bytes, SHA-256 (hex), md5 (Keras' weight files are known by it), and the
 * modification time in ms where a cheap check hashes only files whose time changed.
 */
export interface FileRecord {
  size: number;
  sha256: string;
  md5?: string;
  mtime?: number;
}

/** Files by name (a path relative to the manifest's folder), and what else the writer notes (e.g. a URL). */
export interface Manifest {
  format: "ch5-manifest-1";
  files: Record<string, FileRecord>;
  [note: string]: unknown;
}

/** A file (its name in the manifest) that differs from its record, and how (e.g. `0 bytes, expected 23456`). */
export interface Problem {
  file: string;
  problem: string;
}

/** A file's hash as hex, read as a stream (constant memory, even for the 528 MiB VGG16 file). */
export async function fileHash(path: string, algorithm: "md5" | "sha256"): Promise<string> {
  const hash = createHash(algorithm);
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** The record of bytes in memory. */
export function bytesRecord(bytes: Uint8Array): FileRecord {
  return { size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** The record of a file: size and SHA-256, with its md5 and modification time when asked. */
export async function fileRecord(path: string, with_: { md5?: boolean; mtime?: boolean } = {}): Promise<FileRecord> {
  const info = await Deno.stat(path);
  const record: FileRecord = { size: info.size, sha256: await fileHash(path, "sha256") };
  if (with_.md5) record.md5 = await fileHash(path, "md5");
  if (with_.mtime) record.mtime = info.mtime?.getTime() ?? 0;
  return record;
}

/** How `got` differs from `want` (size first, then each sum `want` has), or `undefined` when it matches. */
export function differs(got: Partial<FileRecord>, want: Partial<FileRecord>): string | undefined {
  if (want.size !== undefined && got.size !== want.size) return `${got.size} bytes, expected ${want.size}`;
  if (want.sha256 && got.sha256 !== want.sha256.toLowerCase()) {
    return `other content: SHA-256 ${got.sha256}, expected ${want.sha256}`;
  }
  if (want.md5 && got.md5 !== want.md5.toLowerCase()) return `md5 ${got.md5}, expected ${want.md5}`;
  return undefined;
}

/** A manifest of the files `names` (relative paths) of `dir`. */
export async function makeManifest(
  dir: string,
  names: Iterable<string>,
  with_: { mtime?: boolean } = {},
): Promise<Manifest> {
  const manifest: Manifest = { format: "ch5-manifest-1", files: {} };
  for (const name of names) manifest.files[name] = await fileRecord(join(dir, name), with_);
  return manifest;
}

/**
 * Read a manifest: `undefined` when there is none; an `Error` saying what is
 * wrong when it is not one. (Manifests of earlier versions have the same
 * `files` and are read too.)
 */
export async function readManifest(path: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  let manifest: Manifest | null = null;
  try {
    manifest = JSON.parse(text);
  } catch {
    // reported below
  }
  const files = manifest?.files;
  const valid = files && typeof files === "object" &&
    Object.values(files).every((r) => Number.isInteger(r?.size) && typeof r?.sha256 === "string");
  if (!valid) throw new Error(`${path} is not a manifest (no "files" with a size and SHA-256 each)`);
  return manifest!;
}

/**
 * Compare the files of `dir` with their records: `"all"` hashes every file;
 * `"changed"` compares sizes and hashes only files whose time differs from
 * the one recorded. Missing files are problems too.
 */
export async function checkManifest(dir: string, manifest: Manifest, hash: "all" | "changed"): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const [file, want] of Object.entries(manifest.files)) {
    const info = await Deno.stat(join(dir, file)).catch(() => null);
    if (!info?.isFile) {
      problems.push({ file, problem: "missing" });
      continue;
    }
    let got: Partial<FileRecord> = { size: info.size };
    if (info.size === want.size && (hash === "all" || (info.mtime?.getTime() ?? 0) !== want.mtime)) {
      got = await fileRecord(join(dir, file), { md5: !!want.md5 });
    }
    const problem = differs(got, got.sha256 ? want : { size: want.size });
    if (problem) problems.push({ file, problem });
  }
  return problems;
}

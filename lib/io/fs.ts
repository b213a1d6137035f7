/**
 * File-system helpers shared by the workbook's modules.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";

/**
 * `Deno.stat`, or `null` when nothing is at `path` (other errors still throw).
 *
 * @example
 * ```ts
 * import { statOrNull } from "./fs.ts";
 * (await statOrNull("no/such/file")) === null; // true
 * ```
 */
export async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/**
 * Write a file so that readers see the old content or the new, never half:
 * write a uniquely named temporary file beside it, then rename it into place
 * (the temporary file is removed when anything fails).
 *
 * @example
 * ```ts
 * import { writeAtomically } from "./fs.ts";
 * await writeAtomically(await Deno.makeTempFile(), "done\n");
 * ```
 */
export async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/**
 * A file's hash as hex, read as a stream (constant memory, even for the
 * 528 MiB VGG16 file).
 *
 * @example
 * ```ts
 * import { fileHash } from "./fs.ts";
 * console.log(await fileHash("deno.json", "sha256"));
 * ```
 */
export async function fileHash(path: string, algorithm: "md5" | "sha256"): Promise<string> {
  const hash = createHash(algorithm);
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Whether the process `pid` still runs (on Linux, by `/proc/<pid>`; where
 * there is no `/proc`, every process counts as running, so nothing is removed).
 */
async function processAlive(pid: number): Promise<boolean> {
  if (pid === Deno.pid) return true;
  if ((await statOrNull("/proc/self")) === null) return true;
  return (await statOrNull(`/proc/${pid}`)) !== null;
}

/**
 * Remove the temporary folders or files `<prefix><pid>-...` in `parent` that
 * a killed run left behind: those whose process is gone. Returns the paths
 * removed.
 *
 * @example
 * ```ts
 * import { removeStaleTemps } from "./fs.ts";
 * const removed = await removeStaleTemps("data/models", ".cats_and_dogs_small_1.tmp-");
 * ```
 */
export async function removeStaleTemps(parent: string, prefix: string): Promise<string[]> {
  const removed: string[] = [];
  if (!(await statOrNull(parent))?.isDirectory) return removed;
  const names: string[] = [];
  for await (const e of Deno.readDir(parent)) if (e.name.startsWith(prefix)) names.push(e.name);
  for (const name of names) {
    const m = name.slice(prefix.length).match(/^(\d+)-/);
    if (!m || await processAlive(Number(m[1]))) continue;
    await Deno.remove(join(parent, name), { recursive: true }).catch(() => {});
    removed.push(join(parent, name));
  }
  return removed;
}

/**
 * Turn a raw file-system error (`Deno.errors.*`) into one sentence that names
 * the path, what went wrong and what to do, for CLIs and typed errors.
 *
 * @example
 * ```ts
 * import { describeFsError } from "./fs.ts";
 * try {
 *   await Deno.mkdir("/proc/x");
 * } catch (err) {
 *   console.error(describeFsError(err, "/proc/x"));
 * }
 * ```
 */
export function describeFsError(err: unknown, path: string): string {
  const e = err as Error & { code?: string };
  const raw = e?.message ?? String(err);
  if (err instanceof Deno.errors.NotFound) return `${path} does not exist (${raw}): check the path.`;
  if (err instanceof Deno.errors.PermissionDenied || e?.code === "EROFS" || /read-only file system/i.test(raw)) {
    return `cannot write to ${path}: permission denied or a read-only file system (${raw}); ` +
      `choose a folder you can write to (e.g. --dest or CH5_DATA_DIR).`;
  }
  if (err instanceof Deno.errors.NotADirectory) {
    return `${path}: a part of this path is a file, not a folder (${raw}); choose another path or remove that file.`;
  }
  if (err instanceof Deno.errors.AlreadyExists) {
    return `${path} already exists (${raw}); move it away or choose another path.`;
  }
  if (e?.code === "ENOSPC" || /no space left/i.test(raw)) {
    return `no space left on the disk holding ${path} (${raw}); free some space or choose a folder on another disk.`;
  }
  if (e?.code === "EDQUOT" || /quota/i.test(raw)) return `disk quota exceeded at ${path} (${raw}); free some space.`;
  return `${path}: ${raw}`;
}

/** Whether `err` is one of Deno's file-system errors (`Deno.errors.*`, or an OS error with an errno code). */
export function isFsError(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied ||
    err instanceof Deno.errors.NotADirectory || err instanceof Deno.errors.IsADirectory ||
    err instanceof Deno.errors.AlreadyExists || err instanceof Deno.errors.FilesystemLoop ||
    (err instanceof Error && /\(os error \d+\)|^E[A-Z]+:/.test(err.message));
}

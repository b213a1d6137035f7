/**
 * File-system helpers: stat-or-null, the one atomic write (files and folders,
 * one temporary-name scheme), and file-system errors as one readable sentence.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** `Deno.stat`, or `null` when nothing is at `path` (other errors still throw). */
export async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** The one temporary-name scheme: `.<name>.tmp-<pid>-<8 hex>` (and `.old-` for a folder being replaced). */
const TEMP_NAME = /^\..+\.(?:tmp|old)-(\d+)-[0-9a-f]{8}$/;

function tempBeside(target: string, kind: "tmp" | "old"): string {
  return join(dirname(target), `.${basename(target)}.${kind}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
}

/** Remove the temporary paths in `folder` left by writers whose process is gone; returns them. */
async function removeStaleTemps(folder: string): Promise<string[]> {
  // Without /proc, every process counts as running.
  if (!(await statOrNull(folder))?.isDirectory || !(await statOrNull("/proc/self"))) return [];
  const stale: string[] = [];
  for await (const e of Deno.readDir(folder)) {
    const pid = e.name.match(TEMP_NAME)?.[1];
    if (pid && Number(pid) !== Deno.pid && !(await statOrNull(`/proc/${pid}`))) stale.push(join(folder, e.name));
  }
  for (const path of stale) await Deno.remove(path, { recursive: true }).catch(() => {});
  return stale;
}

/** What {@link writeAtomically} writes: bytes or text for a file, or a function that fills a temporary path. */
export type AtomicContent = Uint8Array | string | ((tmp: string) => Promise<void>);

/**
 * Write a file or a folder so that readers see the old content or the new,
 * never half: the content goes to a temporary path beside `target`, renamed
 * into place at the end (a folder replaces an old one whole). The temporary
 * path is removed when anything fails, and what killed writers left in the
 * folder is removed first (`log` hears of each).
 */
export async function writeAtomically(
  target: string,
  content: AtomicContent,
  log?: (line: string) => void,
): Promise<void> {
  await Deno.mkdir(dirname(target), { recursive: true });
  for (const path of await removeStaleTemps(dirname(target))) log?.(`removed ${path}, left by an interrupted write`);
  const tmp = tempBeside(target, "tmp");
  try {
    if (typeof content === "string") await Deno.writeTextFile(tmp, content);
    else if (content instanceof Uint8Array) await Deno.writeFile(tmp, content);
    else await content(tmp);
    if (!(await Deno.stat(tmp)).isDirectory) return await Deno.rename(tmp, target);
    // A rename cannot replace a folder that is not empty: the old one is moved aside first.
    const old = tempBeside(target, "old");
    const hadOld = await Deno.rename(target, old).then(() => true, (err) => {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    });
    await Deno.rename(tmp, target);
    if (hadOld) await Deno.remove(old, { recursive: true });
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  }
}

/**
 * A file-system error (`Deno.errors.*`, or an OS error such as a full disk)
 * as one sentence that names `path`, what went wrong and what to do;
 * `undefined` for any other error.
 */
export function describeFsError(err: unknown, path: string): string | undefined {
  // Deno's errors, and plain Errors for the OS errors it has no class for; never the workbook's own.
  const isDeno = Object.values(Deno.errors).some((E) => err instanceof E);
  if (!isDeno && (err as Error)?.constructor !== Error) return undefined;
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
  if (err instanceof Deno.errors.AlreadyExists || err instanceof Deno.errors.IsADirectory) {
    return `${path}: something else is in the way (${raw}); move it away or choose another path.`;
  }
  if (e?.code === "ENOSPC" || /no space left/i.test(raw)) {
    return `no space left on the disk holding ${path} (${raw}); free some space or choose a folder on another disk.`;
  }
  if (e?.code === "EDQUOT" || /quota/i.test(raw)) return `disk quota exceeded at ${path} (${raw}); free some space.`;
  return isDeno || /\(os error \d+\)/.test(raw) ? `${path}: ${raw}` : undefined;
}

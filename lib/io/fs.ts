/**
 * File-system helpers shared by the workbook's modules.
 *
 * @module
 */
import { createHash } from "node:crypto";

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

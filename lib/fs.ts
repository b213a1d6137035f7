/**
 * File-system helpers shared by the workbook's modules.
 *
 * @module
 */

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

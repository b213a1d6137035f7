/**
 * The run profile and where a run keeps its files.
 *
 * `CH5_PROFILE=quick` (the default) runs every notebook's code on fewer
 * steps, so that it executes in minutes on two CPU cores; `CH5_PROFILE=full`
 * runs the book's epochs, steps and image counts.
 *
 * @example
 * ```ts
 * import { byProfile, profile } from "./profile.ts";
 * const epochs = byProfile({ quick: 1, full: 5 });
 * console.log(profile(), epochs);
 * ```
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeAtomically } from "./fs.ts";

/** The two profiles. */
export type Profile = "quick" | "full";

/** Raised for a setting that names no profile. */
export class ProfileError extends Error {
  override name = "ProfileError";
}

/** The profile of this run, from `CH5_PROFILE` (default `quick`). */
export function profile(): Profile {
  const value = (Deno.env.get("CH5_PROFILE") ?? "quick").trim().toLowerCase();
  if (value === "quick" || value === "full") return value;
  throw new ProfileError(
    `CH5_PROFILE=${JSON.stringify(value)} is not a profile: use "quick" (minutes on a CPU) or "full" (the book's run).`,
  );
}

/** Pick the value of the current profile. */
export function byProfile<T>(values: Record<Profile, T>): T {
  return values[profile()];
}

/**
 * When training must be done by, from `CH5_TRAIN_UNTIL` (an ISO 8601 date and
 * time such as `2026-11-27T07:00`, local time unless it names a zone), or
 * `undefined` when it is not set. The notebooks pass it to `fit`, which then
 * stops a long run (the book's 100 epochs take hours on a CPU) after the last
 * epoch that fits, and says how many ran.
 *
 * @throws {ProfileError} for a value that is not a date and time.
 */
export function trainUntil(): Date | undefined {
  const value = Deno.env.get("CH5_TRAIN_UNTIL")?.trim();
  if (!value) return undefined;
  const date = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) {
    throw new ProfileError(
      `CH5_TRAIN_UNTIL=${JSON.stringify(value)} is not a date and time: write it as ISO 8601, ` +
        `e.g. 2026-11-27T07:00 (local time) or 2026-11-27T07:00Z (UTC).`,
    );
  }
  return date;
}

/** The repository's root folder. */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/**
 * A path under the workbook's `data/` folder (downloads, datasets, models,
 * results). `CH5_DATA_DIR` moves that folder elsewhere.
 */
export function dataPath(...parts: string[]): string {
  return join(Deno.env.get("CH5_DATA_DIR") ?? join(ROOT, "data"), ...parts);
}

/**
 * Write what a notebook measured to `data/results/<name>.json`, stamped with
 * the time and profile, and return the path.
 */
export async function saveResults(name: string, results: Record<string, unknown>): Promise<string> {
  const path = dataPath("results", `${name}.json`);
  await Deno.mkdir(dirname(path), { recursive: true });
  const record = { name, profile: profile(), savedAt: new Date().toISOString(), ...results };
  await writeAtomically(path, JSON.stringify(record, null, 2) + "\n");
  return path;
}

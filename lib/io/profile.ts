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
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeAtomically } from "./fs.ts";

/** The two profiles. */
export type Profile = "quick" | "full";

/**
 * Raised for a setting (an environment variable such as `CH5_DATA_DIR`) whose
 * value cannot be used; the message names the setting, what is wrong and the fix.
 */
export class SettingError extends Error {
  override name = "SettingError";
}

/** Raised for a `CH5_PROFILE` or `CH5_TRAIN_UNTIL` value that cannot be used. */
export class ProfileError extends SettingError {
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
  const refuse = (why: string) =>
    new ProfileError(
      `CH5_TRAIN_UNTIL=${JSON.stringify(value)} ${why}: write it as ISO 8601, ` +
        `e.g. 2026-11-27T07:00 (local time) or 2026-11-27T07:00Z (UTC).`,
    );
  const m = value.match(
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/,
  );
  if (!m) throw refuse("is not a date and time");
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0));
  // `new Date` rolls impossible dates over (2026-02-30 becomes 03-02): check each field first.
  const daysInMonth = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) {
    throw refuse(`is not a date on the calendar (${year}-${m[2]} has ${daysInMonth || "no"} days)`);
  }
  if (hour > 23 || minute > 59 || second > 59) throw refuse("is not a time of day (00:00 to 23:59)");
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw refuse("is not a date and time");
  return date;
}

/** The repository's root folder. */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

const checkedDirs = new Map<string, string>();

/**
 * The folder a directory setting names, checked once per value: a relative
 * value is resolved against the project root ({@link ROOT}), not the current
 * folder, so `deno task data` (run from the root) and the notebook kernel (run
 * in `notebooks/`) use the same folder. `fallback` is used when it is unset.
 *
 * @example
 * ```ts
 * import { dirSetting, ROOT } from "./profile.ts";
 * Deno.env.set("CH5_DATA_DIR", "my-data");
 * dirSetting("CH5_DATA_DIR", "data") === `${ROOT}/my-data`; // true
 * ```
 * @throws {SettingError} when something other than a folder is at that path.
 */
export function dirSetting(name: string, fallback: string): string {
  const value = Deno.env.get(name)?.trim();
  if (!value) return isAbsolute(fallback) ? fallback : resolve(ROOT, fallback);
  const path = isAbsolute(value) ? value : resolve(ROOT, value);
  if (checkedDirs.get(name) === path) return path;
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new SettingError(
        `${name}=${value}: cannot look at ${path} (${(err as Error).message}); check its permissions.`,
      );
    }
  }
  if (info && !info.isDirectory) {
    throw new SettingError(
      `${name}=${value} names ${path}, which is a file, not a folder: set ${name} to a folder (it is created when ` +
        `missing; relative paths start at the project root ${ROOT}), or unset it.`,
    );
  }
  checkedDirs.set(name, path);
  return path;
}

/**
 * A path under the workbook's `data/` folder (downloads, datasets, models,
 * results). `CH5_DATA_DIR` moves that folder elsewhere; a relative value is
 * taken from the project root (see {@link dirSetting}).
 *
 * @throws {SettingError} when `CH5_DATA_DIR` names a file.
 */
export function dataPath(...parts: string[]): string {
  return join(dirSetting("CH5_DATA_DIR", join(ROOT, "data")), ...parts);
}

/**
 * Check every setting of the workbook once, before a long run, so that a bad
 * value fails at the start with a message naming it, not hours later.
 *
 * @example
 * ```ts
 * import { checkSettings } from "./profile.ts";
 * checkSettings(); // throws SettingError for e.g. CH5_TRAIN_UNTIL=2026-02-30
 * ```
 * @throws {SettingError} for the first bad setting.
 */
export function checkSettings(): void {
  profile();
  trainUntil();
  dataPath();
  dirSetting("CH5_WEIGHTS_DIR", dataPath("weights"));
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

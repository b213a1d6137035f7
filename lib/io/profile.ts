/**
 * The run profile (`CH5_PROFILE`: `quick`, the default, runs every notebook
 * in minutes on a CPU; `full` runs the book's epochs and image counts), the
 * other `CH5_*` settings, and where a run keeps its files. A bad setting is a
 * {@link SettingError} naming it, never clamped or guessed; empty means unset.
 *
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SettingError } from "./errors.ts";
import { writeAtomically } from "./fs.ts";

/** The two profiles. */
export type Profile = "quick" | "full";

/** The repository's root folder. */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/** A setting's value, trimmed; `undefined` when it is unset or empty. */
export function setting(name: string): string | undefined {
  return Deno.env.get(name)?.trim() || undefined;
}

/** The profile of this run, from `CH5_PROFILE` (default `quick`); another value is a {@link SettingError}. */
export function profile(): Profile {
  const value = (setting("CH5_PROFILE") ?? "quick").toLowerCase();
  if (value === "quick" || value === "full") return value;
  throw new SettingError(
    `CH5_PROFILE=${JSON.stringify(value)} is not a profile: use "quick" (minutes on a CPU) or "full" (the book's run).`,
  );
}

/**
 * Pick the value of the current profile.
 *
 * @example
 * ```ts
 * import { byProfile } from "./profile.ts";
 * const epochs = byProfile({ quick: 1, full: 5 });
 * ```
 */
export function byProfile<T>(values: Record<Profile, T>): T {
  return values[profile()];
}

/**
 * When training must be done by, from `CH5_TRAIN_UNTIL` (an ISO 8601 date and
 * time such as `2026-11-27T07:00`, local time unless it names a zone), or
 * `undefined` when it is not set. `fit` then stops a long run after the last
 * epoch that fits, and says how many ran.
 *
 * @throws {SettingError} for a value that is not a date and time on the calendar.
 */
export function trainUntil(): Date | undefined {
  const value = setting("CH5_TRAIN_UNTIL");
  if (!value) return undefined;
  const refuse = (why: string) =>
    new SettingError(
      `CH5_TRAIN_UNTIL=${JSON.stringify(value)} ${why}: write it as ISO 8601, ` +
        `e.g. 2026-11-27T07:00 (local time) or 2026-11-27T07:00Z (UTC).`,
    );
  const m = value.match(/^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/);
  if (!m) throw refuse("is not a date and time");
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0));
  // `new Date` rolls impossible dates over (2026-02-30 becomes 03-02): check each field first.
  const daysInMonth = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (day < 1 || day > daysInMonth) {
    throw refuse(`is not a date on the calendar (${year}-${m[2]} has ${daysInMonth || "no"} days)`);
  }
  if (hour > 23 || minute > 59 || second > 59) throw refuse("is not a time of day (00:00 to 23:59)");
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw refuse("is not a date and time");
  return date;
}

/** A path setting as a path: `~` is the home folder, a relative path starts at the project root. */
function settingPath(name: string, value: string): string {
  if (value === "~" || value.startsWith("~/")) {
    const home = Deno.env.get("HOME");
    if (!home) throw new SettingError(`${name}=${value} starts with ~, but HOME is not set: give an absolute path.`);
    return join(home, value.slice(1));
  }
  if (value.startsWith("~")) {
    throw new SettingError(`${name}=${value}: ~user paths are not expanded; give an absolute path.`);
  }
  return isAbsolute(value) ? value : resolve(ROOT, value);
}

/** The first part of `path` (itself or a folder above it) that exists, with what it is. */
function firstExisting(path: string): { at: string; info: Deno.FileInfo } | undefined {
  for (let at = path;; at = dirname(at)) {
    try {
      return { at, info: Deno.statSync(at) };
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory)) throw err;
      if (dirname(at) === at) return undefined;
    }
  }
}

/**
 * The folder a directory setting names (`fallback` when unset): `~` is the
 * home folder, a relative value starts at {@link ROOT} (so `deno task data`
 * and the kernel, run in `notebooks/`, agree).
 *
 * @throws {SettingError} when a file is where the folder (or one above it) must be.
 */
export function dirSetting(name: string, fallback: string): string {
  const value = setting(name);
  if (!value) return isAbsolute(fallback) ? fallback : resolve(ROOT, fallback);
  const path = settingPath(name, value);
  let found: ReturnType<typeof firstExisting>;
  try {
    found = firstExisting(path);
  } catch (err) {
    throw new SettingError(`${name}=${value}: cannot look at ${path} (${(err as Error).message}).`, { cause: err });
  }
  if (found && !found.info.isDirectory) {
    const where = found.at === path ? `names ${path}, which is a file` : `names ${path}, but ${found.at} is a file`;
    throw new SettingError(
      `${name}=${value} ${where}, not a folder: set ${name} to a folder (it is created when missing; ` +
        `relative paths start at the project root ${ROOT}), or unset it.`,
    );
  }
  return path;
}

/**
 * The file a file setting names, or `undefined` when unset.
 *
 * @throws {SettingError} when nothing (or no file) is at that path.
 */
export function fileSetting(name: string): string | undefined {
  const value = setting(name);
  if (!value) return undefined;
  const path = settingPath(name, value);
  const info = firstExisting(path);
  if (info?.at !== path || !info.info.isFile) {
    throw new SettingError(`${name}=${value}: there is no file at ${path}; fix the path, or unset ${name}.`);
  }
  return path;
}

/**
 * A path under the workbook's `data/` folder (downloads, datasets, models,
 * results). `CH5_DATA_DIR` moves that folder (see {@link dirSetting}).
 *
 * @example
 * ```ts
 * import { dataPath } from "./profile.ts";
 * console.log(dataPath("models", "cats_and_dogs_small_1")); // …/data/models/cats_and_dogs_small_1
 * ```
 * @throws {SettingError} when a file is in the way of `CH5_DATA_DIR`.
 */
export function dataPath(...parts: string[]): string {
  return join(dirSetting("CH5_DATA_DIR", join(ROOT, "data")), ...parts);
}

/** How long the HDF5 probe may read a file's structure: `CH5_H5_PROBE_MS`, a whole number of ms (default 30 s). */
export function h5ProbeMs(): number {
  const value = setting("CH5_H5_PROBE_MS"), max = 2_147_483_647; // the most a timer can hold
  if (value === undefined) return 30_000;
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= max) return Number(value);
  throw new SettingError(
    `CH5_H5_PROBE_MS=${JSON.stringify(value)} is not a whole number of ms from 1 to ${max}: ` +
      `set it to one (default 30000), or unset it.`,
  );
}

/** Check every setting once, before a long run: a bad value fails at the start, not hours later ({@link SettingError}). */
export function checkSettings(): void {
  profile();
  trainUntil();
  dataPath();
  dirSetting("CH5_WEIGHTS_DIR", dataPath("weights"));
  dirSetting("CH5_MNIST_DIR", ROOT);
  fileSetting("CH5_ELEPHANT");
  h5ProbeMs();
}

/**
 * Write what a notebook measured to `data/results/<name>.json`, stamped with
 * the time and profile, and return the path.
 */
export async function saveResults(name: string, results: Record<string, unknown>): Promise<string> {
  const path = dataPath("results", `${name}.json`);
  const record = { name, profile: profile(), savedAt: new Date().toISOString(), ...results };
  await writeAtomically(path, JSON.stringify(record, null, 2) + "\n");
  return path;
}

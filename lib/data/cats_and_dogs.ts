/**
 * Build the book's small cats-vs-dogs split:
 * `data/cats_and_dogs_small/{train,validation,test}/{cats,dogs}` with pictures
 * 0–999 for training, 1000–1499 for validation and 1500–1999 for testing, per
 * class (2000 / 1000 / 1000 pictures), as in section 5.2 of the book.
 *
 * Sources, in order: the `source` option (the CLI's `--from`), the
 * `CH5_DATA_SOURCE` environment variable, else a download of the Microsoft
 * PetImages archive ({@link PETIMAGES_URL}, about 790 MB, cached in
 * `data/downloads/` and resumed when interrupted). A source may be:
 *
 * - a Kaggle `train/` folder of `cat.N.jpg` / `dog.N.jpg`, or its zip
 *   (`train.zip`, or the competition's `dogs-vs-cats.zip` holding `train.zip`);
 * - the Microsoft PetImages folder or zip (`PetImages/Cat/N.jpg`,
 *   `PetImages/Dog/N.jpg`);
 * - an already split folder (or zip) such as `../shared/datasets/cats_and_dogs_small`.
 *
 * Every picture is decoded once (sharp) before it is taken: empty, corrupt and
 * non-picture files are skipped and reported with the reason. Per class, the
 * first 2000 readable pictures in numeric order are taken and named
 * `cat.0.jpg` … `cat.1999.jpg` by their rank (for Kaggle's train folder, where
 * all pictures are readable, these are exactly the book's files; PetImages has
 * a few broken files, so its numbers shift past them). `source.json` in the
 * split records the source, the skipped files and every renamed file.
 *
 * Files are copied (zip entries unpacked), so that nothing done to the split
 * can ever change the source. `link: true` (the CLI's `--link`) hard-links
 * them instead (instant, no extra space), with a note that editing a picture
 * of the split then edits the source's picture too. The split is built in a
 * temporary folder next to it and renamed into place at the end, so an
 * interrupted run never leaves a half-built split.
 *
 * The split's `manifest.json` records the size, modification time and
 * SHA-256 of every picture. A later run checks the split cheaply (counts,
 * sizes, and the hash of any file whose time changed) and fails with the
 * damaged files named; {@link verifyCatsAndDogs} (`deno task data --verify`)
 * checks every hash. A run given another source than the one the split was
 * built from, or whose source changed since, says so.
 *
 * @example
 * ```ts
 * import { ensureCatsAndDogs } from "./cats_and_dogs.ts";
 * const { dir, counts, built } = await ensureCatsAndDogs({ source: "../shared/datasets/cats_and_dogs_small" });
 * console.log(dir, counts.train.cats, built);
 * ```
 * @module
 */
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { ImageLoadError, loadImg } from "../preprocessing/image.ts";
import { dataPath, ROOT, SettingError } from "../io/profile.ts";
import { downloadFile } from "../io/download.ts";
import { interruptible, KeyboardInterrupt } from "../notebook/interrupt.ts";
import { openZip, type ZipEntry, type ZipReader } from "../io/zip.ts";
import { describeFsError, fileHash, isFsError, removeStaleTemps, statOrNull } from "../io/fs.ts";

/** The public archive downloaded when no source is given (Microsoft's copy of the Kaggle pictures). */
export const PETIMAGES_URL =
  "https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip";

/** Subset names. */
export type Subset = "train" | "validation" | "test";

/** `[first, end)` ranks of the pictures of each class that go to each subset. */
export type SplitRanges = Readonly<Record<Subset, readonly [number, number]>>;

/** The book's split: pictures 0–999 of each class train, 1000–1499 validate, 1500–1999 test. */
export const SPLIT: SplitRanges = {
  train: [0, 1000],
  validation: [1000, 1500],
  test: [1500, 2000],
};
/** Class folder names. */
export type ClassFolder = "cats" | "dogs";

const SUBSETS: readonly Subset[] = ["train", "validation", "test"];
const CLASSES: readonly ClassFolder[] = ["cats", "dogs"];
const PREFIX: Record<ClassFolder, string> = { cats: "cat", dogs: "dog" };
const IMAGE_NAME = /\.(jpe?g|png|bmp|ppm|tiff?|gif|webp)$/i;

/** Pictures per subset and class. */
export type SplitCounts = Record<Subset, Record<ClassFolder, number>>;

/** A file of the source that was not taken, and why. */
export interface SkippedFile {
  /** Its path in the source (inside the zip for archives). */
  file: string;
  /** Why it was skipped (e.g. `empty file (0 bytes)`, `not an image / corrupt: ...`). */
  reason: string;
}

/** What kind of source was read. */
export type SourceKind = "kaggle" | "petimages" | "split";

/** Options of {@link ensureCatsAndDogs}. */
export interface EnsureCatsAndDogsOptions {
  /** Folder or zip to build from (default `CH5_DATA_SOURCE`, else a download). Relative paths are tried from the current folder, then from the repository root. */
  source?: string | null;
  /** Where the split goes (default `data/cats_and_dogs_small`, under `CH5_DATA_DIR` when set). */
  dest?: string;
  /** Archive to download when there is no source (default {@link PETIMAGES_URL}). */
  url?: string;
  /** Where downloads are cached (default `data/downloads`). */
  downloadDir?: string;
  /**
   * Hard-link the source's files instead of copying them (default false). The
   * split's pictures then ARE the source's: editing one edits the source.
   */
  link?: boolean;
  /** Where progress lines go (default `console.log`). */
  log?: (line: string) => void;
  /** Stops the build; the partial split is removed. */
  signal?: AbortSignal;
  /** Other ranks per subset (contiguous from 0), for tests and small experiments; default {@link SPLIT}. */
  split?: SplitRanges;
}

/** The result of {@link ensureCatsAndDogs}. */
export interface EnsureCatsAndDogsResult {
  /** The split's folder (holds `train/`, `validation/`, `test/`). */
  dir: string;
  /** Pictures per subset and class (1000/500/500 each). */
  counts: SplitCounts;
  /** Files of the source that were skipped (from `source.json` when the split was already there). */
  skipped: SkippedFile[];
  /** True when this call built the split; false when it was already there. */
  built: boolean;
  /** The source read (absent when nothing was built and `source.json` is missing). */
  source?: string;
  /** The kind of source read. */
  kind?: SourceKind;
}

/**
 * Raised for a missing or unrecognised source, one with too few pictures, a
 * damaged existing split, or a destination that cannot be written (a file,
 * read-only, a full disk); the message names the path and the fix.
 */
export class CatsAndDogsError extends Error {
  override name = "CatsAndDogsError";
}

/** The split's record of its pictures (`manifest.json`). */
export interface SplitManifest {
  format: "ch5-split-manifest-1";
  /** Per picture, by its path in the split (`train/cats/cat.0.jpg`): size, mtime (ms) and SHA-256. */
  files: Record<string, { size: number; mtime: number; sha256: string }>;
}

/** A cheap fingerprint of a source: how many files, how many bytes, the latest modification time. */
export interface SourceFingerprint {
  files: number;
  bytes: number;
  mtime: number;
}

/** The manifest's file name in a split. */
export const SPLIT_MANIFEST = "manifest.json";

/**
 * The number of pictures each folder of a split must hold.
 *
 * @example
 * ```ts
 * import { expectedCounts } from "./cats_and_dogs.ts";
 * console.log(expectedCounts().train); // { cats: 1000, dogs: 1000 }
 * ```
 */
export function expectedCounts(split: SplitRanges = SPLIT): SplitCounts {
  const counts = {} as SplitCounts;
  for (const s of SUBSETS) {
    const n = split[s][1] - split[s][0];
    counts[s] = { cats: n, dogs: n };
  }
  return counts;
}

/**
 * Resolve a source path: absolute as is; relative from the current folder,
 * else from the repository root (so `../shared/datasets/cats_and_dogs_small`
 * works from the root and from `notebooks/`).
 *
 * @example
 * ```ts
 * import { resolveSource } from "./cats_and_dogs.ts";
 * console.log(await resolveSource("../shared/datasets/cats_and_dogs_small"));
 * ```
 * @throws {CatsAndDogsError} when the path exists in neither place.
 */
export async function resolveSource(path: string): Promise<string> {
  if (isAbsolute(path)) {
    if (await statOrNull(path)) return path;
    throw new CatsAndDogsError(`the source ${path} does not exist; check --from / CH5_DATA_SOURCE`);
  }
  const fromCwd = resolve(path);
  if (await statOrNull(fromCwd)) return fromCwd;
  const fromRoot = resolve(ROOT, path);
  if (await statOrNull(fromRoot)) return fromRoot;
  throw new CatsAndDogsError(
    `the source ${path} does not exist (looked at ${fromCwd} and, from the repository root, ${fromRoot}); ` +
      `check --from / CH5_DATA_SOURCE`,
  );
}

async function listNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names;
}

/**
 * Count the pictures of each subset/class folder of a split (0 for a missing folder).
 *
 * @example
 * ```ts
 * import { countSplit } from "./cats_and_dogs.ts";
 * console.log((await countSplit("data/cats_and_dogs_small")).validation.dogs); // 500
 * ```
 */
export async function countSplit(dir: string): Promise<SplitCounts> {
  const counts = {} as SplitCounts;
  for (const s of SUBSETS) {
    counts[s] = { cats: 0, dogs: 0 };
    for (const c of CLASSES) {
      const folder = join(dir, s, c);
      if (await statOrNull(folder)) counts[s][c] = (await listNames(folder)).filter((n) => IMAGE_NAME.test(n)).length;
    }
  }
  return counts;
}

function checkSplit(split: SplitRanges): void {
  let start = 0;
  for (const s of SUBSETS) {
    const [a, b] = split[s] ?? [];
    if (!Number.isInteger(a) || !Number.isInteger(b) || a !== start || b <= a) {
      throw new RangeError(
        `split must give contiguous [start, end) ranks from 0 for train, validation and test ` +
          `(like ${JSON.stringify(SPLIT)}), got ${JSON.stringify(split)}`,
      );
    }
    start = b;
  }
}

function sameCounts(a: SplitCounts, b: SplitCounts): boolean {
  return SUBSETS.every((s) => CLASSES.every((c) => a[s][c] === b[s][c]));
}

function describeCounts(c: SplitCounts): string {
  return SUBSETS.map((s) => `${s} ${c[s].cats}+${c[s].dogs}`).join(", ");
}

/** A picture the source offers: a file on disk or a zip entry. */
interface Candidate {
  /** Path shown in reports. */
  label: string;
  /** Its number (N of cat.N.jpg or N.jpg) for ordering. */
  number: number;
  /** The file name, kept for already split sources. */
  name: string;
  path?: string;
  entry?: ZipEntry;
}

/** Where candidates go: one list per destination folder, or one per class spread over the subsets. */
interface Plan {
  kind: SourceKind;
  description: string;
  /** For `split`: per subset and class. For the others: per class (key `all`). */
  lists: Map<string, Candidate[]>;
  zip?: ZipReader;
  ignored: number;
}

const byNumber = (a: Candidate, b: Candidate) =>
  a.number - b.number || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function numberOf(name: string): number {
  const m = name.match(/(\d+)(?=\.[^.]*$)/);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

async function planFromFolder(dir: string): Promise<Plan | null> {
  const has = async (...parts: string[]) => (await statOrNull(join(dir, ...parts)))?.isDirectory ?? false;
  // An already split folder.
  if ((await Promise.all(SUBSETS.flatMap((s) => CLASSES.map((c) => has(s, c))))).every(Boolean)) {
    const lists = new Map<string, Candidate[]>();
    for (const s of SUBSETS) {
      for (const c of CLASSES) {
        const folder = join(dir, s, c);
        const files = (await listNames(folder)).filter((n) => IMAGE_NAME.test(n));
        lists.set(
          `${s}/${c}`,
          files.map((name) => ({ label: join(folder, name), number: numberOf(name), name, path: join(folder, name) }))
            .sort(byNumber),
        );
      }
    }
    return { kind: "split", description: `split folder ${dir}`, lists, ignored: 0 };
  }
  // Microsoft PetImages.
  for (const root of [join(dir, "PetImages"), dir]) {
    if ((await statOrNull(join(root, "Cat")))?.isDirectory && (await statOrNull(join(root, "Dog")))?.isDirectory) {
      const lists = new Map<string, Candidate[]>();
      let ignored = 0;
      for (const [c, folderName] of [["cats", "Cat"], ["dogs", "Dog"]] as const) {
        const folder = join(root, folderName);
        const list: Candidate[] = [];
        for (const name of await listNames(folder)) {
          const m = name.match(/^(\d+)\.jpg$/i);
          if (m) list.push({ label: join(folder, name), number: Number(m[1]), name, path: join(folder, name) });
          else ignored++;
        }
        lists.set(c, list.sort(byNumber));
      }
      return { kind: "petimages", description: `PetImages folder ${root}`, lists, ignored };
    }
  }
  // Kaggle train folder (or its parent).
  for (const root of [dir, join(dir, "train")]) {
    if (!(await statOrNull(root))?.isDirectory) continue;
    const lists = new Map<string, Candidate[]>([["cats", []], ["dogs", []]]);
    let ignored = 0;
    for (const name of await listNames(root)) {
      const m = name.match(/^(cat|dog)\.(\d+)\.jpg$/i);
      if (m) {
        lists.get(m[1].toLowerCase() === "cat" ? "cats" : "dogs")!.push({
          label: join(root, name),
          number: Number(m[2]),
          name,
          path: join(root, name),
        });
      } else ignored++;
    }
    if (lists.get("cats")!.length + lists.get("dogs")!.length > 0) {
      for (const list of lists.values()) list.sort(byNumber);
      return { kind: "kaggle", description: `Kaggle train folder ${root}`, lists, ignored };
    }
  }
  return null;
}

function planFromZip(zip: ZipReader): Plan | { nested: ZipEntry } | null {
  const files = zip.entries.filter((e) => !e.isDirectory);
  const split = new Map<string, Candidate[]>();
  const pet = new Map<string, Candidate[]>([["cats", []], ["dogs", []]]);
  const kaggle = new Map<string, Candidate[]>([["cats", []], ["dogs", []]]);
  let nested: ZipEntry | undefined;
  for (const entry of files) {
    const name = entry.name.replace(/^\.\//, "");
    const base = name.slice(name.lastIndexOf("/") + 1);
    const candidate = (n: number): Candidate => ({ label: `${zip.path}:${name}`, number: n, name: base, entry });
    let m = name.match(/(?:^|\/)(train|validation|test)\/(cats|dogs)\/([^/]+)$/);
    if (m && IMAGE_NAME.test(base)) {
      const key = `${m[1]}/${m[2]}`;
      if (!split.has(key)) split.set(key, []);
      split.get(key)!.push(candidate(numberOf(base)));
      continue;
    }
    m = name.match(/(?:^|\/)PetImages\/(Cat|Dog)\/(\d+)\.jpg$/i);
    if (m) {
      pet.get(m[1].toLowerCase() === "cat" ? "cats" : "dogs")!.push(candidate(Number(m[2])));
      continue;
    }
    m = base.match(/^(cat|dog)\.(\d+)\.jpg$/i);
    if (m) {
      kaggle.get(m[1].toLowerCase() === "cat" ? "cats" : "dogs")!.push(candidate(Number(m[2])));
      continue;
    }
    if (/^train\.zip$/i.test(base)) nested = entry;
  }
  const sortAll = (lists: Map<string, Candidate[]>) => {
    for (const list of lists.values()) list.sort(byNumber);
    return lists;
  };
  const ignoredOf = (lists: Map<string, Candidate[]>) =>
    files.length - [...lists.values()].reduce((n, l) => n + l.length, 0);
  if (split.size === SUBSETS.length * CLASSES.length) {
    return { kind: "split", description: `split archive ${zip.path}`, lists: sortAll(split), zip, ignored: 0 };
  }
  if (pet.get("cats")!.length + pet.get("dogs")!.length > 0) {
    return {
      kind: "petimages",
      description: `PetImages archive ${zip.path}`,
      lists: sortAll(pet),
      zip,
      ignored: ignoredOf(pet),
    };
  }
  if (kaggle.get("cats")!.length + kaggle.get("dogs")!.length > 0) {
    return {
      kind: "kaggle",
      description: `Kaggle archive ${zip.path}`,
      lists: sortAll(kaggle),
      zip,
      ignored: ignoredOf(kaggle),
    };
  }
  if (nested) return { nested };
  return null;
}

const SOURCE_HELP =
  "A source is a Kaggle train/ folder of cat.N.jpg and dog.N.jpg (or train.zip, or dogs-vs-cats.zip), " +
  "the Microsoft PetImages folder or zip (PetImages/Cat/N.jpg), or a split folder with " +
  "{train,validation,test}/{cats,dogs} such as ../shared/datasets/cats_and_dogs_small.";

/** Remove temporary build folders left by runs that were killed (their process is gone). */
async function removeStaleBuilds(parent: string, prefix: string, log: (line: string) => void): Promise<void> {
  for (const path of await removeStaleTemps(parent, prefix)) {
    log(`cats_and_dogs: removed ${path}, left by an interrupted run`);
  }
}

/** Every file under `dir` (relative paths with `/`), in sorted order. */
async function walkFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) entries.push(e);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await walkFiles(dir, rel));
    else if (e.isFile) out.push(rel);
  }
  return out;
}

/**
 * The fingerprint of a source (a folder: its files, bytes and latest time; a
 * zip: its size and time), to tell later whether it changed.
 */
async function sourceFingerprint(source: string): Promise<SourceFingerprint> {
  const info = await Deno.stat(source);
  if (!info.isDirectory) return { files: 1, bytes: info.size, mtime: info.mtime?.getTime() ?? 0 };
  const fp = { files: 0, bytes: 0, mtime: 0 };
  for (const rel of await walkFiles(source)) {
    const st = await Deno.stat(join(source, rel));
    fp.files++;
    fp.bytes += st.size;
    fp.mtime = Math.max(fp.mtime, st.mtime?.getTime() ?? 0);
  }
  return fp;
}

/** The pictures of a split folder, by relative path. */
async function splitPictures(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const s of SUBSETS) {
    for (const c of CLASSES) {
      const folder = join(dir, s, c);
      if (!(await statOrNull(folder))) continue;
      for (const name of (await listNames(folder)).filter((n) => IMAGE_NAME.test(n)).sort()) {
        out.push(`${s}/${c}/${name}`);
      }
    }
  }
  return out;
}

/** Hash every picture of a split folder into a manifest. */
async function buildManifest(dir: string): Promise<SplitManifest> {
  const manifest: SplitManifest = { format: "ch5-split-manifest-1", files: {} };
  for (const rel of await splitPictures(dir)) {
    const path = join(dir, rel);
    const info = await Deno.stat(path);
    manifest.files[rel] = {
      size: info.size,
      mtime: info.mtime?.getTime() ?? 0,
      sha256: await fileHash(path, "sha256"),
    };
  }
  return manifest;
}

async function readManifest(dir: string): Promise<SplitManifest | undefined> {
  try {
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, SPLIT_MANIFEST)));
    return typeof manifest?.files === "object" ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/** A picture of a split that differs from its manifest, and how. */
export interface SplitProblem {
  /** Its path in the split, e.g. `test/cats/cat.1500.jpg`. */
  file: string;
  /** What is wrong, e.g. `0 bytes, built with 23456`. */
  problem: string;
}

/**
 * Compare a split with its manifest. `hashes: false` (each use) compares
 * sizes and hashes only the files whose time changed; `true` hashes every
 * file. Pictures missing from the manifest or the split are problems too.
 */
async function compareWithManifest(dir: string, manifest: SplitManifest, hashes: boolean): Promise<SplitProblem[]> {
  const problems: SplitProblem[] = [];
  const present = new Set(await splitPictures(dir));
  for (const [rel, want] of Object.entries(manifest.files)) {
    if (!present.has(rel)) {
      problems.push({ file: rel, problem: "missing" });
      continue;
    }
    present.delete(rel);
    const info = await Deno.stat(join(dir, rel));
    if (info.size !== want.size) {
      problems.push({ file: rel, problem: `${info.size} bytes, built with ${want.size}` });
      continue;
    }
    if (hashes || (info.mtime?.getTime() ?? 0) !== want.mtime) {
      const sha256 = await fileHash(join(dir, rel), "sha256");
      if (sha256 !== want.sha256) problems.push({ file: rel, problem: "same size, other content (SHA-256 differs)" });
    }
  }
  for (const rel of present) problems.push({ file: rel, problem: "not in the manifest (added after the build)" });
  return problems;
}

function describeProblems(dir: string, problems: SplitProblem[]): string {
  const shown = problems.slice(0, 5).map((p) => `${join(dir, p.file)} (${p.problem})`).join("; ");
  return `${shown}${problems.length > 5 ? `; and ${problems.length - 5} more` : ""}`;
}

/** The result of {@link verifyCatsAndDogs}. */
export interface VerifyResult {
  /** The split's folder. */
  dir: string;
  /** Pictures checked. */
  checked: number;
  /** Pictures that differ from the manifest (empty when all is well). */
  problems: SplitProblem[];
  /** True when there was no manifest and one was written (every picture decoded first). */
  wroteManifest: boolean;
}

/**
 * Check every picture of a split against the SHA-256 its manifest records
 * (`deno task data --verify`). A split built before manifests existed is
 * decoded picture by picture instead, and gets a manifest when all decode.
 *
 * @example
 * ```ts
 * import { verifyCatsAndDogs } from "./cats_and_dogs.ts";
 * const { checked, problems } = await verifyCatsAndDogs();
 * console.log(`${checked} pictures, ${problems.length} damaged`);
 * ```
 * @throws {CatsAndDogsError} when there is no split at `dest`.
 */
export async function verifyCatsAndDogs(
  options: { dest?: string; log?: (line: string) => void } = {},
): Promise<VerifyResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dir = resolve(options.dest ?? dataPath("cats_and_dogs_small"));
  if (!(await statOrNull(dir))?.isDirectory) {
    throw new CatsAndDogsError(`there is no split at ${dir} to verify: build it with deno task data.`);
  }
  const manifest = await readManifest(dir);
  if (manifest) {
    const problems = await compareWithManifest(dir, manifest, true);
    const checked = Object.keys(manifest.files).length;
    log(`cats_and_dogs: verified ${checked} pictures of ${dir} against ${SPLIT_MANIFEST}: ${problems.length} differ`);
    return { dir, checked, problems, wroteManifest: false };
  }
  const pictures = await splitPictures(dir);
  const problems: SplitProblem[] = [];
  for (const rel of pictures) {
    const r = await check({ label: rel, number: 0, name: rel, path: join(dir, rel) }, undefined);
    if (!r.ok) problems.push({ file: rel, problem: r.reason! });
  }
  if (problems.length === 0) {
    await Deno.writeTextFile(join(dir, SPLIT_MANIFEST), JSON.stringify(await buildManifest(dir)) + "\n");
  }
  log(
    `cats_and_dogs: ${dir} had no ${SPLIT_MANIFEST}; decoded its ${pictures.length} pictures: ${problems.length} ` +
      `unreadable${problems.length === 0 ? `; wrote ${SPLIT_MANIFEST}` : ""}`,
  );
  return { dir, checked: pictures.length, problems, wroteManifest: problems.length === 0 };
}

interface Check {
  ok: boolean;
  reason?: string;
  bytes?: Uint8Array;
}

async function check(c: Candidate, zip: ZipReader | undefined): Promise<Check> {
  try {
    if (c.entry) {
      if (c.entry.size === 0) return { ok: false, reason: "empty file (0 bytes)" };
      const bytes = await zip!.read(c.entry);
      await loadImg(bytes);
      return { ok: true, bytes };
    }
    await loadImg(c.path!);
    return { ok: true };
  } catch (err) {
    if (err instanceof ImageLoadError) {
      const reason = /empty file/.test(err.message) ? "empty file (0 bytes)" : err.message.replace(`: ${err.path}`, "");
      return { ok: false, reason };
    }
    return { ok: false, reason: (err as Error).message };
  }
}

/**
 * Make sure the book's small split exists, building it from a source when it
 * does not (see the module doc). Prints progress every 500 pictures.
 *
 * @example
 * ```ts
 * import { ensureCatsAndDogs } from "./cats_and_dogs.ts";
 * const { dir, built, skipped } = await ensureCatsAndDogs();
 * console.log(built ? `built ${dir}, ${skipped.length} files skipped` : `${dir} was already there`);
 * ```
 * @throws {CatsAndDogsError} for a source that is missing, not recognised or
 * has too few readable pictures, for an existing but incomplete split, and
 * when offline without a source.
 */
export async function ensureCatsAndDogs(options: EnsureCatsAndDogsOptions = {}): Promise<EnsureCatsAndDogsResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  let dest: string;
  try {
    dest = resolve(options.dest ?? dataPath("cats_and_dogs_small"));
  } catch (err) {
    if (err instanceof SettingError) throw new CatsAndDogsError(err.message);
    throw err;
  }
  try {
    return await ensureAt(dest, options, log);
  } catch (err) {
    // A raw file-system failure (a file where a folder must be, read-only, disk full): one sentence naming the path.
    if (isFsError(err) || /no space left|read-only file system/i.test(String(err))) {
      throw new CatsAndDogsError(`cannot build the split at ${dest}: ${describeFsError(err, dest)}`);
    }
    throw err;
  }
}

async function ensureAt(
  dest: string,
  options: EnsureCatsAndDogsOptions,
  log: (line: string) => void,
): Promise<EnsureCatsAndDogsResult> {
  const split = options.split ?? SPLIT;
  checkSplit(split);
  const expected = expectedCounts(split);

  const present = await statOrNull(dest);
  if (present && !present.isDirectory) {
    throw new CatsAndDogsError(
      `the destination ${dest} is a file, not a folder: pass another --dest (or CH5_DATA_DIR), or move that file away.`,
    );
  }
  if (present) {
    const counts = await countSplit(dest);
    if (!sameCounts(counts, expected)) {
      throw new CatsAndDogsError(
        `${dest} exists but is not a complete split (${describeCounts(counts)}; expected ` +
          `${describeCounts(expected)}). Move or delete it, then run again to rebuild it.`,
      );
    }
    let record: {
      source?: string;
      kind?: SourceKind;
      skipped?: SkippedFile[];
      sourceFingerprint?: SourceFingerprint;
      linked?: boolean;
    } = {};
    try {
      record = JSON.parse(await Deno.readTextFile(join(dest, "source.json")));
    } catch {
      // built by hand or by another tool: fine
    }
    // The cheap check of each use: sizes against the manifest (and the hash of any file whose time changed).
    const manifest = await readManifest(dest);
    const problems = manifest
      ? await compareWithManifest(dest, manifest, false)
      : (await splitPictures(dest)).filter((rel) => Deno.statSync(join(dest, rel)).size === 0)
        .map((file) => ({ file, problem: "0 bytes, an empty file" }));
    if (problems.length) {
      throw new CatsAndDogsError(
        `the split at ${dest} is damaged: ${problems.length} picture${problems.length > 1 ? "s" : ""} changed since ` +
          `it was built: ${describeProblems(dest, problems)}. Delete ${dest} and run deno task data again to rebuild ` +
          `it (deno task data --verify lists every damaged picture).`,
      );
    }
    // A source other than the one the split was built from, or one that changed since, is reported.
    const asked = options.source ?? Deno.env.get("CH5_DATA_SOURCE") ?? null;
    if (asked && record.source) {
      const wanted = await resolveSource(asked).catch(() => resolve(asked));
      if (wanted !== record.source) {
        log(
          `cats_and_dogs: NOTE: ${dest} was built from ${record.source}, not from ${wanted} (--from / ` +
            `CH5_DATA_SOURCE); the existing split is used. Delete it (or pass another --dest) to build from ${wanted}.`,
        );
      } else if (record.sourceFingerprint && (await statOrNull(wanted))) {
        const now = await sourceFingerprint(wanted);
        const was = record.sourceFingerprint;
        if (now.files !== was.files || now.bytes !== was.bytes || now.mtime !== was.mtime) {
          log(
            `cats_and_dogs: NOTE: the source ${wanted} changed since ${dest} was built (${was.files} files, ` +
              `${was.bytes} bytes then; ${now.files} files, ${now.bytes} bytes now); the existing split is used. ` +
              `Delete it to rebuild from the changed source.`,
          );
        }
      }
    }
    if (!manifest) {
      log(`cats_and_dogs: ${dest} has no ${SPLIT_MANIFEST} (built by an older version): run deno task data --verify`);
    }
    log(`cats_and_dogs_small: already there at ${dest} (${describeCounts(counts)}); nothing to do`);
    return { dir: dest, counts, skipped: record.skipped ?? [], built: false, source: record.source, kind: record.kind };
  }

  if (options.signal) return await build(dest, options, log, split, expected);
  // In a notebook, Interrupt (SIGINT) stops the build cleanly and keeps the kernel (see lib/notebook/interrupt.ts).
  return await interruptible(async (signal) => {
    try {
      return await build(dest, { ...options, signal }, log, split, expected);
    } catch (err) {
      if (!signal.aborted) throw err;
      throw new KeyboardInterrupt(
        `Interrupted while building ${dest}; nothing was left half-built. Run again to build it`,
      );
    }
  });
}

async function build(
  dest: string,
  options: EnsureCatsAndDogsOptions,
  log: (line: string) => void,
  split: SplitRanges,
  expected: SplitCounts,
): Promise<EnsureCatsAndDogsResult> {
  // Never build into the source itself.
  const explicit = options.source ?? Deno.env.get("CH5_DATA_SOURCE") ?? null;
  if (explicit) {
    const source = await resolveSource(explicit);
    if (dest === source || dest.startsWith(source.replace(/\/?$/, "/"))) {
      throw new CatsAndDogsError(
        `the destination ${dest} is inside the source ${source}: building there would write into the source. ` +
          `Pass a --dest outside it (the default is data/cats_and_dogs_small).`,
      );
    }
  }
  const parent = dirname(dest);
  const prefix = `.${basename(dest)}.tmp-`;
  await Deno.mkdir(parent, { recursive: true });
  await removeStaleBuilds(parent, prefix, log);
  const tmp = join(parent, `${prefix}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  await Deno.mkdir(tmp);
  const zips: ZipReader[] = [];
  try {
    // 1. The source.
    let sourceOption = options.source ?? Deno.env.get("CH5_DATA_SOURCE") ?? null;
    if (sourceOption === "") sourceOption = null;
    let source: string;
    if (sourceOption !== null) {
      source = await resolveSource(sourceOption);
    } else {
      const url = options.url ?? PETIMAGES_URL;
      const file = join(options.downloadDir ?? dataPath("downloads"), basename(new URL(url).pathname));
      const what = url === PETIMAGES_URL ? `the public PetImages archive ${url} (about 790 MB)` : `the archive ${url}`;
      log(`cats_and_dogs: no source given (--from PATH or CH5_DATA_SOURCE); using ${what}, cached at ${file}`);
      const got = await downloadFile(url, file, {
        log,
        signal: options.signal,
        hint: "Without internet, pass --from PATH (deno task data --from PATH) or set CH5_DATA_SOURCE to a " +
          "Kaggle train folder or zip, the PetImages folder or zip, or a split folder such as " +
          "../shared/datasets/cats_and_dogs_small.",
      });
      source = got.path;
    }

    // 2. What it holds.
    let plan: Plan | null = null;
    const info = await Deno.stat(source);
    if (info.isDirectory) {
      plan = await planFromFolder(source);
    } else {
      let zipPath = source;
      for (let depth = 0; depth < 2 && !plan; depth++) {
        const zip = await openZip(zipPath).catch((err) => {
          throw new CatsAndDogsError(`cannot read the source ${zipPath} as a zip archive: ${(err as Error).message}`);
        });
        zips.push(zip);
        const found = planFromZip(zip);
        if (found && "nested" in found) {
          zipPath = join(tmp, "nested-train.zip");
          log(
            `cats_and_dogs: unpacking ${found.nested.name} from ${zip.path} (${
              Math.round(found.nested.size / 1e6)
            } MB)`,
          );
          await zip.extractTo(found.nested, zipPath);
          continue;
        }
        plan = found;
        break;
      }
    }
    if (!plan) throw new CatsAndDogsError(`cannot tell what ${source} holds. ${SOURCE_HELP}`);
    log(`cats_and_dogs: building ${dest} from the ${plan.description}`);

    // 3. Take, check and place the pictures.
    const skipped: SkippedFile[] = [];
    const renamed: Record<string, string> = {};
    const total = split.test[1] * CLASSES.length;
    const every = Math.min(500, Math.max(1, Math.round(total / 8)));
    let placed = 0;
    let linkWorks = options.link ?? false;
    let linked = false;
    if (linkWorks && plan.zip === undefined) {
      log(
        `cats_and_dogs: NOTE: --link: the split's pictures will be hard links to ${source}: editing a picture of ` +
          `the split then edits the source's picture too. Build without --link to get independent copies.`,
      );
    }
    const place = async (c: Candidate, bytes: Uint8Array | undefined, to: string) => {
      if (bytes) return await Deno.writeFile(to, bytes);
      if (linkWorks) {
        try {
          await Deno.link(c.path!, to);
          linked = true;
          return;
        } catch {
          linkWorks = false; // another file system, or links not allowed: copy from now on
          log(`cats_and_dogs: cannot hard-link ${c.path} into the split (another file system?); copying instead`);
        }
      }
      await Deno.copyFile(c.path!, to);
    };
    // One ordered list fills `targets` (dest folder, name) in order with its first readable pictures.
    const fill = async (list: Candidate[], targets: { folder: string; name?: string }[], what: string) => {
      const WINDOW = 16;
      let next = 0;
      let index = 0;
      while (next < targets.length && index < list.length) {
        options.signal?.throwIfAborted();
        const window = list.slice(index, index + WINDOW);
        const results = await Promise.all(window.map((c) => check(c, plan!.zip)));
        for (let k = 0; k < window.length && next < targets.length; k++) {
          const c = window[k];
          const r = results[k];
          if (!r.ok) {
            skipped.push({ file: c.label, reason: r.reason! });
            log(`cats_and_dogs: skipped ${c.label}: ${r.reason}`);
            continue;
          }
          const target = targets[next++];
          const name = target.name ?? c.name;
          await place(c, r.bytes, join(tmp, target.folder, name));
          if (name !== c.name || plan!.kind === "petimages") renamed[`${target.folder}/${name}`] = c.label;
          placed++;
          if (placed % every === 0 || placed === total) {
            log(`cats_and_dogs: ${placed}/${total} pictures placed, ${skipped.length} skipped`);
          }
        }
        index += window.length;
      }
      if (next < targets.length) {
        throw new CatsAndDogsError(
          `the ${plan!.description} has too few readable ${what} pictures: found ${next} of the ` +
            `${targets.length} needed (${list.length} candidates, ${list.length - next} skipped or unreadable). ` +
            SOURCE_HELP,
        );
      }
    };
    for (const s of SUBSETS) for (const c of CLASSES) await Deno.mkdir(join(tmp, s, c), { recursive: true });
    for (const c of CLASSES) {
      if (plan.kind === "split") {
        for (const s of SUBSETS) {
          const n = split[s][1] - split[s][0];
          const targets = Array.from({ length: n }, () => ({ folder: `${s}/${c}` }));
          await fill(plan.lists.get(`${s}/${c}`) ?? [], targets, `${s}/${c}`);
        }
      } else {
        const targets: { folder: string; name: string }[] = [];
        for (const s of SUBSETS) {
          for (let rank = split[s][0]; rank < split[s][1]; rank++) {
            targets.push({ folder: `${s}/${c}`, name: `${PREFIX[c]}.${rank}.jpg` });
          }
        }
        await fill(plan.lists.get(c) ?? [], targets, c === "cats" ? "cat" : "dog");
      }
    }

    // 4. Verify, record, and move into place.
    const counts = await countSplit(tmp);
    if (!sameCounts(counts, expected)) {
      throw new CatsAndDogsError(
        `internal error: built ${describeCounts(counts)}, expected ${describeCounts(expected)}`,
      );
    }
    await Deno.remove(join(tmp, "nested-train.zip")).catch(() => {});
    options.signal?.throwIfAborted();
    await Deno.writeTextFile(join(tmp, SPLIT_MANIFEST), JSON.stringify(await buildManifest(tmp)) + "\n");
    const record = {
      source,
      sourceFingerprint: await sourceFingerprint(source),
      linked,
      kind: plan.kind,
      description: plan.description,
      builtAt: new Date().toISOString(),
      counts,
      skipped,
      ignoredNonPictureFiles: plan.ignored,
      renamed,
    };
    await Deno.writeTextFile(join(tmp, "source.json"), JSON.stringify(record, null, 1) + "\n");
    options.signal?.throwIfAborted();
    try {
      await Deno.rename(tmp, dest);
    } catch (err) {
      if (await statOrNull(dest)) {
        log(`cats_and_dogs: ${dest} appeared while building (another run?); keeping it`);
        return { dir: dest, counts: await countSplit(dest), skipped, built: false, source, kind: plan.kind };
      }
      throw err;
    }
    log(
      `cats_and_dogs: built ${dest} (${describeCounts(counts)}) from the ${plan.description}` +
        `${skipped.length ? `; skipped ${skipped.length} unreadable files (listed in source.json)` : ""}`,
    );
    return { dir: dest, counts, skipped, built: true, source, kind: plan.kind };
  } finally {
    for (const zip of zips) zip.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

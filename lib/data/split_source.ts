/**
 * Where the cats-vs-dogs split comes from (a folder or archive given, or the
 * PetImages download), and what the source holds ({@link SOURCE_HELP}). Only
 * files with one of `PICTURE_EXTENSIONS` are candidates; every other file is
 * named as ignored, so the split never holds a picture the iterator would not
 * see.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { DataError } from "../io/errors.ts";
import { downloadFile } from "../io/download.ts";
import { statOrNull } from "../io/fs.ts";
import { dataPath, ROOT, setting } from "../io/profile.ts";
import { unpackZip } from "../io/zip.ts";
import { isPictureName, PICTURE_EXTENSIONS } from "../preprocessing/image.ts";
import { CLASSES, SUBSETS } from "./split_verify.ts";

/** The public archive downloaded when no source is given (Microsoft's copy of the Kaggle pictures). */
export const PETIMAGES_URL =
  "https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip";

/** What kind of source was read. */
export type SourceKind = "kaggle" | "petimages" | "split";

/** A file of the source that was not taken (`archive.zip:inner/path` inside an archive), and why. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/**
 * A picture the source offers: its path, its name in reports (in an archive
 * `archive.zip:inner/path`), file name, number (N of `cat.N.jpg` or `N.jpg`),
 * and whether it was unpacked here (then moved into the split, not copied).
 */
export interface Candidate {
  path: string;
  label: string;
  name: string;
  number: number;
  owned: boolean;
}

/**
 * What a source holds: candidates per class (`cats`), or per subset and class for a split (`train/cats`); the files
 * that are not pictures of the kind; the archive entries left packed.
 */
export interface Plan {
  kind: SourceKind;
  description: string;
  lists: Map<string, Candidate[]>;
  ignored: string[];
  skipped: SkippedFile[];
}

/** What the source may be, for error messages. */
export const SOURCE_HELP =
  "A source is a Kaggle train/ folder of cat.N.jpg and dog.N.jpg (or train.zip, or dogs-vs-cats.zip), " +
  "the Microsoft PetImages folder or zip (PetImages/Cat/N.jpg), or a split folder with " +
  "{train,validation,test}/{cats,dogs} such as ../shared/datasets/cats_and_dogs_small.";

/**
 * Resolve a source path: `~` is the home folder; absolute as is; relative
 * from the current folder, else from the repository root (so
 * `../shared/datasets/cats_and_dogs_small` works from the root and from `notebooks/`).
 *
 * @throws {DataError} when the path is empty or exists in neither place.
 */
export async function resolveSource(path: string): Promise<string> {
  if (!path.trim()) {
    throw new DataError(`the source is empty: give a path with --from PATH (or CH5_DATA_SOURCE), or none to download`);
  }
  if (/^~(\/|$)/.test(path) && Deno.env.get("HOME")) path = join(Deno.env.get("HOME")!, path.slice(1));
  const places = isAbsolute(path) ? [path] : [resolve(path), resolve(ROOT, path)];
  for (const place of places) if (await statOrNull(place)) return place;
  throw new DataError(
    `the source ${path} does not exist (looked at ${places.join(" and, from the repository root, ")}); ` +
      `check --from / CH5_DATA_SOURCE`,
  );
}

/**
 * The source to build from: `source` (`undefined`: `CH5_DATA_SOURCE`, where
 * empty means unset; `null`: none), resolved; without one, the archive at
 * `url`, downloaded into `data/downloads/` (or found there), resumably.
 */
export async function findSource(
  source: string | null | undefined,
  url: string,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const given = source === undefined ? setting("CH5_DATA_SOURCE") : source;
  if (given !== null && given !== undefined) return await resolveSource(given);
  const file = dataPath("downloads", basename(new URL(url).pathname));
  const what = url === PETIMAGES_URL ? `the public PetImages archive ${url} (about 790 MB)` : `the archive ${url}`;
  log(`cats_and_dogs: no source given (--from PATH or CH5_DATA_SOURCE); using ${what}, cached at ${file}`);
  const hint = `Without internet, pass --from PATH (deno task data --from PATH) or set CH5_DATA_SOURCE. ${SOURCE_HELP}`;
  return (await downloadFile(url, file, { log, signal, hint })).path;
}

/** `path` with links resolved, also when its end does not exist yet. */
async function realPath(path: string): Promise<string> {
  const rest: string[] = [];
  for (let at = resolve(path);; at = dirname(at)) {
    const real = await Deno.realPath(at).catch(() => undefined);
    if (real || dirname(at) === at) return join(real ?? at, ...rest.reverse());
    rest.push(basename(at));
  }
}

/**
 * Refuse a destination inside the source (compared as real paths: `/a/./src`
 * and links to the source are the source), where the build would write into it.
 */
export async function checkOutside(dest: string, source: string): Promise<void> {
  const [realDest, realSource] = [await realPath(dest), await realPath(source)];
  const inside = relative(realSource, realDest);
  if (realDest === realSource || (!inside.startsWith("..") && !isAbsolute(inside))) {
    throw new DataError(
      `the destination ${dest} is inside the source ${source}${realSource !== source ? ` (${realSource})` : ""}: ` +
        `building there would write into the source. Pass a --dest outside it (the default is data/cats_and_dogs_small).`,
    );
  }
}

/** The files and folders of a folder, sorted. */
async function entries(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) dirs.push(e.name);
    else if (e.isFile || (e.isSymlink && (await statOrNull(join(dir, e.name)))?.isFile)) files.push(e.name);
  }
  return { files: files.sort(), dirs: dirs.sort() };
}

const byNumber = (a: Candidate, b: Candidate) =>
  a.number - b.number || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Files whose name (`match`) and extension make a candidate; the rest are ignored. */
function collect(
  dir: string,
  files: string[],
  match: (name: string) => { key: string; number: number } | null,
  plan: Omit<Plan, "kind" | "description" | "skipped"> & { label: (path: string) => string; owned: boolean },
): void {
  for (const name of files) {
    const path = join(dir, name);
    const m = isPictureName(name) ? match(name) : null;
    if (!m) {
      plan.ignored.push(plan.label(path));
      continue;
    }
    if (!plan.lists.has(m.key)) plan.lists.set(m.key, []);
    plan.lists.get(m.key)!.push({ path, label: plan.label(path), name, number: m.number, owned: plan.owned });
  }
}

const numberOf = (name: string) => Number(name.match(/(\d+)(?=\.[^.]*$)/)?.[1] ?? Number.MAX_SAFE_INTEGER);
const KAGGLE = /^(cat|dog)\.(\d+)\.[^.]+$/i;
const PET = /^(\d+)\.[^.]+$/;

/** The plan of one folder as each kind of source, or `null` when it is none of them. */
async function planRoot(root: string, label: (path: string) => string, owned: boolean): Promise<Plan | null> {
  const has = async (...parts: string[]) => (await statOrNull(join(root, ...parts)))?.isDirectory ?? false;
  const base = { lists: new Map<string, Candidate[]>(), ignored: [] as string[], label, owned };
  const done = (kind: SourceKind, description: string): Plan => {
    for (const list of base.lists.values()) list.sort(byNumber);
    const { lists, ignored } = base;
    return { kind, description: `${description} ${label(root)}`, lists, ignored, skipped: [] };
  };
  if ((await Promise.all(SUBSETS.flatMap((s) => CLASSES.map((c) => has(s, c))))).every(Boolean)) {
    for (const s of SUBSETS) {
      for (const c of CLASSES) {
        const dir = join(root, s, c);
        collect(dir, (await entries(dir)).files, (n) => ({ key: `${s}/${c}`, number: numberOf(n) }), base);
      }
    }
    return done("split", "split folder");
  }
  if ((await has("Cat")) && (await has("Dog"))) {
    for (const [c, folder] of [["cats", "Cat"], ["dogs", "Dog"]] as const) {
      const dir = join(root, folder);
      const pet = (n: string) => PET.test(n) ? { key: c, number: Number(n.match(PET)![1]) } : null;
      collect(dir, (await entries(dir)).files, pet, base);
    }
    return done("petimages", "PetImages folder");
  }
  const { files } = await entries(root);
  const kaggle = (n: string) => {
    const m = n.match(KAGGLE);
    return m ? { key: m[1].toLowerCase() === "cat" ? "cats" : "dogs", number: Number(m[2]) } : null;
  };
  if (!files.some((n) => kaggle(n))) return null;
  collect(root, files, kaggle, base);
  return done("kaggle", "Kaggle train folder");
}

/** Look for a source in `dir` and its folders, two levels down, shallowest first. */
async function planFolder(dir: string, label: (path: string) => string, owned: boolean): Promise<Plan | null> {
  let level = [dir];
  for (let depth = 0; depth <= 2 && level.length > 0; depth++) {
    const next: string[] = [];
    for (const root of level) {
      const plan = await planRoot(root, label, owned);
      if (plan) return plan;
      next.push(...(await entries(root)).dirs.filter((d) => !d.startsWith(".")).map((d) => join(root, d)));
    }
    level = next;
  }
  return null;
}

/**
 * What `source` holds. A folder is read as it is, looking two levels down; an
 * archive is first unpacked into `scratch` (entries over the size limit are
 * skipped and named), and a `train.zip` in it too (Kaggle's `dogs-vs-cats.zip`).
 *
 * @throws {DataError} for an archive that cannot be unpacked, or a source that holds none of the kinds.
 */
export async function planSource(source: string, scratch: string, signal?: AbortSignal): Promise<Plan> {
  if ((await Deno.stat(source)).isDirectory) {
    const plan = await planFolder(source, (path) => path, false);
    if (plan) return plan;
    throw new DataError(`cannot tell what ${source} holds. ${SOURCE_HELP}`);
  }
  const mounts: { dir: string; label: string }[] = [];
  const label = (path: string) => {
    const m = mounts.findLast((m) => path.startsWith(`${m.dir}/`));
    return m ? `${m.label}:${path.slice(m.dir.length + 1)}` : path;
  };
  const skipped: SkippedFile[] = [];
  const unpack = async (archive: string, into: string) => {
    mounts.push({ dir: into, label: label(archive) });
    const result = await unpackZip(archive, into, { signal }).catch((err) => {
      if (!(err instanceof DataError)) throw err;
      throw new DataError(`cannot read the source ${label(archive)} as a zip archive: ${err.message}`, { cause: err });
    });
    skipped.push(...result.skipped.map((s) => ({ file: `${label(archive)}:${s.file}`, reason: s.reason })));
    return result.files;
  };
  const files = await unpack(source, join(scratch, "unpacked"));
  let plan = await planFolder(join(scratch, "unpacked"), label, true);
  const nested = files.find((f) => /(^|\/)train\.zip$/i.test(f));
  if (!plan && nested) {
    const path = join(scratch, "unpacked", nested);
    await unpack(path, `${path}.d`);
    await Deno.remove(path);
    plan = await planFolder(`${path}.d`, label, true);
  }
  if (!plan) throw new DataError(`cannot tell what ${source} holds. ${SOURCE_HELP}`);
  plan.skipped.push(...skipped);
  return plan;
}

/** The extensions a picture of the split may have, for messages. */
export const PICTURE_LIST = PICTURE_EXTENSIONS.map((e) => `.${e}`).join(" ");

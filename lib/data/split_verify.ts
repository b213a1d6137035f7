/**
 * What the book's cats-vs-dogs split is (subsets, classes, counts) and how
 * one is checked against its integrity manifest: cheaply at each use
 * ({@link checkSplit}), fully by {@link verifyCatsAndDogs}.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { DataError } from "../io/errors.ts";
import { statOrNull, writeAtomically } from "../io/fs.ts";
import { checkManifest, makeManifest, MANIFEST, type Problem, readManifest } from "../io/integrity.ts";
import { dataPath } from "../io/profile.ts";
import { isPictureName, loadImg } from "../preprocessing/image.ts";

/** Subset names. */
export type Subset = "train" | "validation" | "test";
/** Class folder names. */
export type ClassFolder = "cats" | "dogs";
/** Pictures per subset and class. */
export type SplitCounts = Record<Subset, Record<ClassFolder, number>>;

/** The subsets, in rank order. */
export const SUBSETS: readonly Subset[] = ["train", "validation", "test"];
/** The class folders. */
export const CLASSES: readonly ClassFolder[] = ["cats", "dogs"];

/** The book's split: `[first, end)` ranks of each class's pictures per subset (0–999 train, …, 1500–1999 test). */
export const SPLIT: Readonly<Record<Subset, readonly [number, number]>> = {
  train: [0, 1000],
  validation: [1000, 1500],
  test: [1500, 2000],
};

/** The number of pictures each folder of the split holds. */
export function expectedCounts(): SplitCounts {
  const per = (s: Subset) => ({ cats: SPLIT[s][1] - SPLIT[s][0], dogs: SPLIT[s][1] - SPLIT[s][0] });
  return { train: per("train"), validation: per("validation"), test: per("test") };
}

/** `train 1000+1000, validation 500+500, test 500+500`. */
export function describeCounts(c: SplitCounts): string {
  return SUBSETS.map((s) => `${s} ${c[s].cats}+${c[s].dogs}`).join(", ");
}

/** The pictures of a split folder, by relative path (`train/cats/cat.0.jpg`), sorted. */
async function splitPictures(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const s of SUBSETS) {
    for (const c of CLASSES) {
      if (!(await statOrNull(join(dir, s, c)))) continue;
      const names: string[] = [];
      for await (const e of Deno.readDir(join(dir, s, c))) if (isPictureName(e.name)) names.push(e.name);
      out.push(...names.sort().map((name) => `${s}/${c}/${name}`));
    }
  }
  return out;
}

/** Count the pictures of each subset/class folder of a split (0 for a missing folder). */
export async function countSplit(dir: string): Promise<SplitCounts> {
  const counts = { train: { cats: 0, dogs: 0 }, validation: { cats: 0, dogs: 0 }, test: { cats: 0, dogs: 0 } };
  for (const rel of await splitPictures(dir)) {
    const [s, c] = rel.split("/") as [Subset, ClassFolder];
    counts[s][c]++;
  }
  return counts;
}

/** Write the split's manifest: size, time and SHA-256 of every picture. */
export async function writeSplitManifest(dir: string): Promise<void> {
  const manifest = await makeManifest(dir, await splitPictures(dir), { mtime: true });
  await writeAtomically(join(dir, MANIFEST), JSON.stringify(manifest) + "\n");
}

/** The pictures of a split that differ from its manifest (`"all"`: every hash), and pictures added since. */
async function splitProblems(dir: string, hash: "all" | "changed"): Promise<Problem[] | undefined> {
  const manifest = await readManifest(join(dir, MANIFEST)).catch(() => undefined);
  if (!manifest) return undefined;
  const problems = await checkManifest(dir, manifest, hash);
  for (const rel of await splitPictures(dir)) {
    if (!manifest.files[rel]) problems.push({ file: rel, problem: "not in the manifest (added after the build)" });
  }
  return problems;
}

function describeProblems(dir: string, problems: Problem[]): string {
  const shown = problems.slice(0, 5).map((p) => `${join(dir, p.file)} (${p.problem})`).join("; ");
  return `${shown}${problems.length > 5 ? `; and ${problems.length - 5} more` : ""}`;
}

/**
 * The cheap check of each use of an existing split: the counts, then its
 * manifest (sizes, and the hash of any picture whose time changed), or
 * without a manifest (an older build) its empty files; `log` says when there
 * is no manifest.
 *
 * @throws {DataError} naming the damaged pictures, or the counts that are not the split's.
 */
export async function checkSplit(dir: string, log: (line: string) => void): Promise<SplitCounts> {
  const counts = await countSplit(dir);
  const expected = expectedCounts();
  if (describeCounts(counts) !== describeCounts(expected)) {
    throw new DataError(
      `${dir} exists but is not a complete split (${describeCounts(counts)}; expected ` +
        `${describeCounts(expected)}). Move or delete it, then run again to rebuild it.`,
    );
  }
  let problems = await splitProblems(dir, "changed");
  if (!problems) {
    log(`cats_and_dogs: ${dir} has no ${MANIFEST} (built by an older version): run deno task data --verify`);
    problems = [];
    for (const rel of await splitPictures(dir)) {
      if ((await Deno.stat(join(dir, rel))).size === 0) problems.push({ file: rel, problem: "0 bytes, an empty file" });
    }
  }
  if (problems.length) {
    throw new DataError(
      `the split at ${dir} is damaged: ${problems.length} picture${problems.length > 1 ? "s" : ""} changed since ` +
        `it was built: ${describeProblems(dir, problems)}. Delete ${dir} and run deno task data again to rebuild ` +
        `it (deno task data --verify lists every damaged picture).`,
    );
  }
  return counts;
}

/**
 * The result of {@link verifyCatsAndDogs}: the folder, the pictures checked,
 * those that differ from the manifest or cannot be decoded, and whether a
 * missing manifest was written.
 */
export interface VerifyResult {
  dir: string;
  checked: number;
  problems: Problem[];
  wroteManifest: boolean;
}

/**
 * Check every picture of a split against the SHA-256 its manifest records
 * (`deno task data --verify`). A split built before manifests existed is
 * decoded picture by picture instead, and gets a manifest when all decode.
 *
 * @throws {DataError} when there is no split at `dest`.
 */
export async function verifyCatsAndDogs(
  options: { dest?: string; log?: (line: string) => void } = {},
): Promise<VerifyResult> {
  const log = options.log ?? console.log;
  const dir = resolve(options.dest ?? dataPath("cats_and_dogs_small"));
  if (!(await statOrNull(dir))?.isDirectory) {
    throw new DataError(`there is no split at ${dir} to verify: build it with deno task data.`);
  }
  const pictures = await splitPictures(dir);
  const problems = await splitProblems(dir, "all");
  if (problems) {
    log(`cats_and_dogs: verified ${pictures.length} pictures of ${dir} against ${MANIFEST}: ${problems.length} differ`);
    return { dir, checked: pictures.length, problems, wroteManifest: false };
  }
  const unreadable: Problem[] = [];
  for (const file of pictures) {
    await loadImg(join(dir, file)).catch((err) => unreadable.push({ file, problem: (err as Error).message }));
  }
  if (unreadable.length === 0) await writeSplitManifest(dir);
  log(
    `cats_and_dogs: ${dir} had no ${MANIFEST}; decoded its ${pictures.length} pictures: ${unreadable.length} ` +
      `unreadable${unreadable.length === 0 ? `; wrote ${MANIFEST}` : ""}`,
  );
  return { dir, checked: pictures.length, problems: unreadable, wroteManifest: unreadable.length === 0 };
}

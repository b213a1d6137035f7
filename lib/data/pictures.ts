/**
 * The chapter's pictures, from one place: the book's cats and dogs by file
 * name, and the elephant photograph of §5.4.3.
 *
 * @module
 */
import { join } from "node:path";
import { dataPath, ROOT } from "../io/profile.ts";
import { ImageLoadError } from "../preprocessing/image.ts";
import { ensureCatsAndDogs, SPLIT, type Subset } from "./cats_and_dogs.ts";

const ELEPHANT = "creative_commons_elephant.jpg";

const exists = (path: string) => Deno.stat(path).then((s) => s.isFile, () => false);

/** The elephant: `CH5_ELEPHANT`, else `data/`, else `../shared/images/` beside the repository. */
async function elephant(): Promise<string> {
  const candidates = [Deno.env.get("CH5_ELEPHANT"), dataPath(ELEPHANT), join(ROOT, "..", "shared", "images", ELEPHANT)]
    .filter((p): p is string => !!p);
  for (const path of candidates) if (await exists(path)) return path;
  throw new ImageLoadError(
    `${ELEPHANT} not found; looked at:\n  ${candidates.join("\n  ")}\n` +
      `Put the picture in one of these places, or set CH5_ELEPHANT to its path.`,
    ELEPHANT,
  );
}

/**
 * The absolute path of one of the chapter's pictures: `cat.N.jpg` / `dog.N.jpg`
 * from the book's split (built by `ensureCatsAndDogs` when it is not there
 * yet; N says the subset: 0–999 train, 1000–1499 validation, 1500–1999 test),
 * or `creative_commons_elephant.jpg` (from `CH5_ELEPHANT`, `data/`, or
 * `../shared/images/` beside the repository).
 *
 * @throws {RangeError} for a name that is none of these.
 * @throws {ImageLoadError} naming the places looked at when the picture is not there, and what to do.
 *
 * @example
 * ```ts
 * import { chapterPicture } from "./pictures.ts";
 * console.log(await chapterPicture("dog.1513.jpg")); // …/test/dogs/dog.1513.jpg
 * ```
 */
export async function chapterPicture(name: string): Promise<string> {
  if (name === ELEPHANT) return await elephant();
  const [, animal, number] = /^(cat|dog)\.(\d+)\.jpg$/.exec(name) ?? [];
  const rank = Number(number);
  const subset = (Object.keys(SPLIT) as Subset[]).find((s) => rank >= SPLIT[s][0] && rank < SPLIT[s][1]);
  if (!subset) {
    throw new RangeError(
      `${JSON.stringify(name)} is not a picture of the chapter: use cat.N.jpg or dog.N.jpg (N from 0 to 1999, ` +
        `the book's split) or ${ELEPHANT}.`,
    );
  }
  const { dir } = await ensureCatsAndDogs({ log: () => {} });
  const path = join(dir, subset, `${animal}s`, name);
  if (!(await exists(path))) {
    throw new ImageLoadError(`${name} should be at ${path}, but it is not: rebuild the split (deno task data).`, path);
  }
  return path;
}

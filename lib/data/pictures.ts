/**
 * The chapter's pictures, from one place: the book's cats and dogs by file
 * name, and the elephant photograph of §5.4.3.
 *
 * @module
 */
import { join } from "node:path";
import { PictureError } from "../io/errors.ts";
import { dataPath, fileSetting, ROOT } from "../io/profile.ts";
import { ensureCatsAndDogs } from "./cats_and_dogs.ts";
import { SPLIT, type Subset } from "./split_verify.ts";

/** The elephant photograph of the book's Grad-CAM section. */
const ELEPHANT = "creative_commons_elephant.jpg";

const exists = (path: string) => Deno.stat(path).then((s) => s.isFile, () => false);

/**
 * The absolute path of one of the chapter's pictures: `cat.N.jpg` / `dog.N.jpg`
 * from the book's split (built by `ensureCatsAndDogs` when it is not there
 * yet; N says the subset: 0–999 train, 1000–1499 validation, 1500–1999 test),
 * or `creative_commons_elephant.jpg` (from `CH5_ELEPHANT`, `data/`, or
 * `../shared/images/` beside the repository).
 *
 * @throws {PictureError} naming the places looked at, and what to set.
 * @throws {SettingError} when `CH5_ELEPHANT` names no file.
 *
 * @example
 * ```ts
 * import { chapterPicture } from "./pictures.ts";
 * console.log(await chapterPicture("dog.1513.jpg")); // …/test/dogs/dog.1513.jpg
 * ```
 */
export async function chapterPicture(name: string): Promise<string> {
  if (name === ELEPHANT) {
    const given = fileSetting("CH5_ELEPHANT"); // when set, it must name a file
    const candidates = given ? [given] : [dataPath(ELEPHANT), join(ROOT, "..", "shared", "images", ELEPHANT)];
    for (const path of candidates) if (await exists(path)) return path;
    throw new PictureError(
      `${ELEPHANT} not found; looked at:\n  ${candidates.join("\n  ")}\n` +
        `Put the picture in one of these places, or set CH5_ELEPHANT to its path.`,
      name,
    );
  }
  const match = /^(cat|dog)\.(\d+)\.jpg$/.exec(name);
  if (!match) {
    const use = `use cat.N.jpg or dog.N.jpg (N from 0 to 1999) or ${ELEPHANT}`;
    throw new PictureError(`${JSON.stringify(name)} is not a picture of the chapter: ${use}.`, name);
  }
  const rank = Number(match[2]);
  const subset = (Object.keys(SPLIT) as Subset[]).find((s) => rank >= SPLIT[s][0] && rank < SPLIT[s][1]);
  if (!subset) {
    throw new PictureError(`${name}: the book's split holds pictures 0 to 1999 of each class, not ${rank}.`, name);
  }
  const { dir } = await ensureCatsAndDogs({ log: () => {} });
  const path = join(dir, subset, `${match[1]}s`, name);
  if (!(await exists(path))) {
    throw new PictureError(`${name} should be at ${path}, but it is not: rebuild the split (deno task data).`, path);
  }
  return path;
}

/**
 * The chapter's pictures, from one place: a cat or dog of the book's split
 * by its file name (`cat.1700.jpg` is in `test/cats/`, since pictures
 * 1500–1999 of each class are the test set), and the elephant photograph of
 * §5.4.3 (`creative_commons_elephant.jpg`).
 *
 * @example
 * ```ts
 * import { chapterPicture } from "./pictures.ts";
 * const cat = await chapterPicture("cat.1700.jpg"); // …/data/cats_and_dogs_small/test/cats/cat.1700.jpg
 * const elephant = await chapterPicture("creative_commons_elephant.jpg");
 * ```
 * @module
 */
import { join } from "node:path";
import { dataPath, ROOT } from "../io/profile.ts";
import { ensureCatsAndDogs, SPLIT, type Subset } from "./cats_and_dogs.ts";

/** The elephant photograph of the book's Grad-CAM section. */
export const ELEPHANT = "creative_commons_elephant.jpg";

/** Raised when a picture is not where it should be; the message lists where it was looked for. */
export class PictureNotFoundError extends Error {
  override name = "PictureNotFoundError";
}

const exists = (path: string) => Deno.stat(path).then((s) => s.isFile, () => false);

/**
 * Where {@link chapterPicture} looks for the elephant, in order: `CH5_ELEPHANT`,
 * `data/creative_commons_elephant.jpg`, and `../shared/images/` beside the repository.
 *
 * @example
 * ```ts
 * import { elephantCandidates } from "./pictures.ts";
 * console.log(elephantCandidates());
 * ```
 */
export function elephantCandidates(): string[] {
  return [
    Deno.env.get("CH5_ELEPHANT"),
    dataPath(ELEPHANT),
    join(ROOT, "..", "shared", "images", ELEPHANT),
  ].filter((p): p is string => !!p);
}

/**
 * The absolute path of one of the chapter's pictures: `cat.N.jpg` / `dog.N.jpg`
 * from the book's split (built by `ensureCatsAndDogs` when it is not there
 * yet; N says the subset: 0–999 train, 1000–1499 validation, 1500–1999 test),
 * or {@link ELEPHANT}.
 *
 * @throws {PictureNotFoundError} naming the places looked at, and what to set.
 *
 * @example
 * ```ts
 * import { chapterPicture } from "./pictures.ts";
 * console.log(await chapterPicture("dog.1513.jpg")); // …/test/dogs/dog.1513.jpg
 * ```
 */
export async function chapterPicture(name: string): Promise<string> {
  if (name === ELEPHANT) {
    const candidates = elephantCandidates();
    for (const path of candidates) if (await exists(path)) return path;
    throw new PictureNotFoundError(
      `${ELEPHANT} not found; looked at:\n  ${candidates.join("\n  ")}\n` +
        `Put the picture in one of these places, or set CH5_ELEPHANT to its path.`,
    );
  }
  const match = /^(cat|dog)\.(\d+)\.jpg$/.exec(name);
  if (!match) {
    throw new PictureNotFoundError(
      `${
        JSON.stringify(name)
      } is not a picture of the chapter: use cat.N.jpg or dog.N.jpg (N from 0 to 1999) or ${ELEPHANT}.`,
    );
  }
  const rank = Number(match[2]);
  const subset = (Object.keys(SPLIT) as Subset[]).find((s) => rank >= SPLIT[s][0] && rank < SPLIT[s][1]);
  if (!subset) {
    throw new PictureNotFoundError(`${name}: the book's split holds pictures 0 to 1999 of each class, not ${rank}.`);
  }
  const { dir } = await ensureCatsAndDogs({ log: () => {} });
  const path = join(dir, subset, `${match[1]}s`, name);
  if (!(await exists(path))) {
    throw new PictureNotFoundError(`${name} should be at ${path}, but it is not: rebuild the split (deno task data).`);
  }
  return path;
}

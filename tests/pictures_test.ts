/**
 * The chapter's pictures come from one place: a cat or dog of the book's
 * split by its file name, and the elephant of §5.4.3.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chapterPicture } from "../lib/data/pictures.ts";
import { PictureError } from "../lib/io/errors.ts";

Deno.test("chapterPicture: cat.N.jpg and dog.N.jpg lie in the subset their number says", async () => {
  assert.match(await chapterPicture("cat.1700.jpg"), /cats_and_dogs_small\/test\/cats\/cat\.1700\.jpg$/);
  assert.match(await chapterPicture("dog.1000.jpg"), /cats_and_dogs_small\/validation\/dogs\/dog\.1000\.jpg$/);
  assert.match(await chapterPicture("dog.0.jpg"), /cats_and_dogs_small\/train\/dogs\/dog\.0\.jpg$/);
});

Deno.test("chapterPicture: a name outside the chapter is refused, saying what names exist", async () => {
  for (const name of ["horse.1.jpg", "cat.1.png", "elephant.jpg"]) {
    await assert.rejects(chapterPicture(name), (err: Error) => {
      assert.ok(err instanceof PictureError);
      assert.match(err.message, /use cat\.N\.jpg or dog\.N\.jpg \(N from 0 to 1999.*creative_commons_elephant\.jpg/);
      return true;
    });
  }
  await assert.rejects(
    chapterPicture("cat.2000.jpg"),
    PictureError,
    "holds pictures 0 to 1999 of each class, not 2000",
  );
});

Deno.test("chapterPicture: the elephant is the file CH5_ELEPHANT names", async () => {
  const dir = await Deno.makeTempDir();
  const saved = Deno.env.get("CH5_ELEPHANT");
  try {
    const mine = join(dir, "my_elephant.jpg");
    await Deno.writeFile(mine, new Uint8Array([0xff, 0xd8, 0xff]));
    Deno.env.set("CH5_ELEPHANT", mine);
    assert.equal(await chapterPicture("creative_commons_elephant.jpg"), mine);
  } finally {
    if (saved === undefined) Deno.env.delete("CH5_ELEPHANT");
    else Deno.env.set("CH5_ELEPHANT", saved);
    await Deno.remove(dir, { recursive: true });
  }
});

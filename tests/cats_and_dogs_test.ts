import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { ensureCatsAndDogs } from "../lib/data/cats_and_dogs.ts";
import { main } from "../lib/data/cats_and_dogs_cli.ts";
import { resolveSource } from "../lib/data/split_source.ts";
import { countSplit, expectedCounts, verifyCatsAndDogs } from "../lib/data/split_verify.ts";
import { DataError, SettingError } from "../lib/io/errors.ts";
import { describeFsError } from "../lib/io/fs.ts";
import { MANIFEST as SPLIT_MANIFEST } from "../lib/io/integrity.ts";
import { ROOT } from "../lib/io/profile.ts";
import { KeyboardInterrupt, requestInterrupt } from "../lib/notebook/interrupt.ts";
import { zipFiles } from "./fixtures/zip.ts";
import { withTempDataDir } from "./env_helpers.ts";

const SHARED = resolve(ROOT, "../shared/datasets/cats_and_dogs_small");
const hasShared = await Deno.stat(join(SHARED, "train/cats")).then(() => true, () => false);
const quiet = () => {};
/** Pictures per class in the book's split. */
const N = 2000;

/** A tiny real JPEG, a truncated one, and a file that is no picture at all. */
const JPEG = await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 90, g: 140, b: 60 } } })
  .jpeg()
  .toBuffer()
  .then((b) => new Uint8Array(b));
const TRUNCATED = JPEG.slice(0, Math.floor(JPEG.length / 2));
const NOT_A_PICTURE = new TextEncoder().encode("<html>this is not a picture</html>");

/** Run `fn` in a fresh folder that is also `CH5_DATA_DIR` (downloads land there). */
const withTempDir = (fn: (dir: string) => Promise<void>) => withTempDataDir("ch5_cats_dogs_", fn, "data-dir");

/**
 * A Kaggle-style train folder with `n` cats and dogs (hard links to one JPEG, so thousands cost nothing);
 * `files` maps file names to other contents (broken pictures, other extensions).
 */
async function kaggleFolder(dir: string, n: number, files: Record<string, Uint8Array> = {}) {
  await Deno.mkdir(dir, { recursive: true });
  const original = join(dir, "..", `.jpeg-${crypto.randomUUID()}`);
  await Deno.writeFile(original, JPEG);
  for (const animal of ["cat", "dog"]) {
    for (let i = 0; i < n; i++) {
      const name = `${animal}.${i}.jpg`;
      if (!files[name]) await Deno.link(original, join(dir, name));
    }
  }
  await Deno.remove(original);
  for (const [name, data] of Object.entries(files)) await Deno.writeFile(join(dir, name), data);
}

/** A split folder with `per(subset)` pictures per class, as links to one JPEG. */
async function splitFolder(dir: string, extra: Record<string, Uint8Array> = {}) {
  const original = join(dir, "..", `.jpeg-${crypto.randomUUID()}`);
  await Deno.writeFile(original, JPEG);
  for (const [subset, from, to] of [["train", 0, 1000], ["validation", 1000, 1500], ["test", 1500, 2000]] as const) {
    for (const c of ["cats", "dogs"]) {
      await Deno.mkdir(join(dir, subset, c), { recursive: true });
      for (let i = from; i < to; i++) await Deno.link(original, join(dir, subset, c, `${c.slice(0, 3)}.${i}.jpg`));
    }
  }
  await Deno.remove(original);
  for (const [name, data] of Object.entries(extra)) await Deno.writeFile(join(dir, name), data);
}

Deno.test({
  name:
    "cats_and_dogs: builds the book's split from the shared copy (copies, with a manifest), then does nothing the second time",
  ignore: !hasShared,
  fn: async () => {
    await withTempDir(async (dir) => {
      const dest = join(dir, "cats_and_dogs_small");
      const sample = join(SHARED, "validation/dogs/dog.1000.jpg");
      const before = await Deno.stat(sample);
      const lines: string[] = [];
      const result = await ensureCatsAndDogs({
        source: "../shared/datasets/cats_and_dogs_small",
        dest,
        log: (l) => lines.push(l),
      });
      assert.equal(result.built, true);
      assert.equal(result.kind, "split");
      assert.equal(result.dir, dest);
      assert.deepEqual(result.counts, expectedCounts());
      assert.deepEqual(result.skipped, []);
      assert.deepEqual(await countSplit(dest), expectedCounts());
      for (
        const name of [
          "train/cats/cat.0.jpg",
          "train/dogs/dog.999.jpg",
          "validation/cats/cat.1000.jpg",
          "test/dogs/dog.1999.jpg",
        ]
      ) {
        assert.ok((await Deno.stat(join(dest, name))).isFile, name);
      }
      assert.ok(lines.some((l) => /4000\/4000 pictures placed/.test(l)), "progress lines");
      // Copied (never a link to the shared source), and the source untouched.
      const copied = await Deno.stat(join(dest, "validation/dogs/dog.1000.jpg"));
      assert.ok(copied.dev !== before.dev || copied.ino !== before.ino, "a copy, not a hard link");
      assert.equal(copied.size, before.size);
      const manifest = JSON.parse(await Deno.readTextFile(join(dest, SPLIT_MANIFEST)));
      assert.equal(Object.keys(manifest.files).length, 4000);
      assert.equal(manifest.files["validation/dogs/dog.1000.jpg"].size, before.size);
      const after = await Deno.stat(sample);
      assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
      assert.equal(after.size, before.size);
      // No temporary folder left next to it.
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert.deepEqual(names, ["cats_and_dogs_small"]);

      const again: string[] = [];
      const second = await ensureCatsAndDogs({ source: SHARED, dest, log: (l) => again.push(l) });
      assert.equal(second.built, false);
      assert.equal(second.source, SHARED);
      assert.match(again.join("\n"), /already there/);
    });
  },
});

Deno.test({
  name: "cats_and_dogs: a relative source is found from the repository root",
  ignore: !hasShared,
  fn: async () => {
    const cwd = Deno.cwd();
    try {
      Deno.chdir(join(ROOT, "lib"));
      assert.equal(await resolveSource("../shared/datasets/cats_and_dogs_small"), SHARED);
    } finally {
      Deno.chdir(cwd);
    }
    await assert.rejects(resolveSource("no/such/source"), DataError);
  },
});

Deno.test("cats_and_dogs: a Kaggle folder (from CH5_DATA_SOURCE) skips a truncated and an empty file; .jpeg counts, .gif is named as ignored", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "kaggle/train");
    const jpeg: Record<string, Uint8Array> = {};
    for (let i = 0; i < 6; i++) jpeg[`dog.${2000 + i}.jpeg`] = JPEG; // Keras reads .jpeg too
    await kaggleFolder(src, N, {
      "cat.5.jpg": TRUNCATED,
      "dog.7.jpg": new Uint8Array(0),
      "cat.2000.jpg": JPEG,
      "cat.7.gif": JPEG,
      ...jpeg,
    });
    await Deno.writeTextFile(join(src, "notes.txt"), "not a picture name");
    const dest = join(dir, "split");
    const previous = Deno.env.get("CH5_DATA_SOURCE");
    Deno.env.set("CH5_DATA_SOURCE", join(dir, "kaggle")); // the parent of train/ works too
    const lines: string[] = [];
    let result;
    try {
      result = await ensureCatsAndDogs({ dest, log: (l) => lines.push(l) });
    } finally {
      if (previous === undefined) Deno.env.delete("CH5_DATA_SOURCE");
      else Deno.env.set("CH5_DATA_SOURCE", previous);
    }
    assert.equal(result.kind, "kaggle");
    assert.deepEqual(result.counts, expectedCounts());
    assert.deepEqual(result.skipped.map((s) => s.file), [join(src, "cat.5.jpg"), join(src, "dog.7.jpg")]);
    assert.match(result.skipped[0].reason, /not an image \/ corrupt/);
    assert.match(result.skipped[1].reason, /empty file \(0 bytes\)/);
    // Pictures keep their numbers up to the broken one, then shift by one; dog.2000.jpeg is test/dogs/dog.1999.jpg.
    const record = JSON.parse(await Deno.readTextFile(join(dest, "source.json")));
    assert.equal(record.renamed["train/cats/cat.4.jpg"], undefined);
    assert.equal(record.renamed["train/cats/cat.5.jpg"], join(src, "cat.6.jpg"));
    assert.equal(record.renamed["test/dogs/dog.1999.jpg"], join(src, "dog.2000.jpeg"));
    assert.deepEqual(record.ignored, [join(src, "cat.7.gif"), join(src, "notes.txt")]);
    assert.ok(
      lines.some((l) =>
        l.includes(`ignored 2 files that are not pictures flowFromDirectory reads`) && l.includes("cat.7.gif")
      ),
    );
    assert.deepEqual((await countSplit(dest)).validation, { cats: 500, dogs: 500 });
    assert.equal(record.skipped.length, 2);
  });
});

Deno.test("cats_and_dogs: a PetImages zip with corrupt, empty, non-picture files and a zip bomb (each named)", async () => {
  await withTempDir(async (dir) => {
    const files: { name: string; data: Uint8Array; compress?: boolean }[] = [];
    for (const [folder, count] of [["Cat", 2002], ["Dog", 2001]] as const) {
      for (let i = 0; i < count; i++) {
        let data = JPEG;
        if (folder === "Cat" && i === 3) data = new Uint8Array(0);
        if (folder === "Dog" && i === 10) data = NOT_A_PICTURE;
        files.push({ name: `PetImages/${folder}/${i}.jpg`, data, compress: i % 2 === 0 });
      }
      files.push({ name: `PetImages/${folder}/Thumbs.db`, data: NOT_A_PICTURE });
    }
    files.push({ name: "PetImages/Cat/9999.jpg", data: new Uint8Array(51_000_000) }); // 51 MB of zeros: 50 KB packed
    files.push({ name: "readme[1].txt", data: NOT_A_PICTURE });
    const zipPath = join(dir, "kagglecatsanddogs_5340.zip");
    await Deno.writeFile(zipPath, zipFiles(files));
    const dest = join(dir, "split");
    const result = await ensureCatsAndDogs({ source: zipPath, dest, log: quiet });
    assert.equal(result.kind, "petimages");
    assert.deepEqual(await countSplit(dest), expectedCounts());
    assert.deepEqual(result.skipped.map((s) => s.file), [
      `${zipPath}:PetImages/Cat/9999.jpg`,
      `${zipPath}:PetImages/Cat/3.jpg`,
      `${zipPath}:PetImages/Dog/10.jpg`,
    ]);
    assert.match(result.skipped[0].reason, /51000000 bytes unpacked, over the limit of 50000000/);
    assert.match(result.skipped[2].reason, /not an image \/ corrupt/);
    const record = JSON.parse(await Deno.readTextFile(join(dest, "source.json")));
    assert.equal(record.renamed["train/cats/cat.3.jpg"], `${zipPath}:PetImages/Cat/4.jpg`);
    assert.equal(record.renamed["train/dogs/dog.0.jpg"], `${zipPath}:PetImages/Dog/0.jpg`);
    assert.deepEqual(record.ignored, [`${zipPath}:PetImages/Cat/Thumbs.db`, `${zipPath}:PetImages/Dog/Thumbs.db`]);
    assert.deepEqual(await Deno.readFile(join(dest, "test/cats/cat.1999.jpg")), JPEG);
    assert.deepEqual([...Deno.readDirSync(dest)].map((e) => e.name).sort(), [
      "manifest.json",
      "source.json",
      "test",
      "train",
      "validation",
    ]);
  });
});

Deno.test("cats_and_dogs: the competition's dogs-vs-cats.zip holding train.zip", async () => {
  await withTempDir(async (dir) => {
    const inner: { name: string; data: Uint8Array }[] = [];
    for (const animal of ["cat", "dog"]) {
      for (let i = 0; i < N; i++) inner.push({ name: `train/${animal}.${i}.jpg`, data: JPEG });
    }
    const outer = zipFiles([
      { name: "sampleSubmission.csv", data: new TextEncoder().encode("id,label\n") },
      { name: "train.zip", data: zipFiles(inner) },
    ]);
    const zipPath = join(dir, "dogs-vs-cats.zip");
    await Deno.writeFile(zipPath, outer);
    const dest = join(dir, "split");
    const result = await ensureCatsAndDogs({ source: zipPath, dest, log: quiet });
    assert.equal(result.kind, "kaggle");
    assert.deepEqual(result.counts, expectedCounts());
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["dogs-vs-cats.zip", "split"]);
  });
});

Deno.test("cats_and_dogs: too few pictures, an unknown source, an empty source and an incomplete split are clear errors", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "few");
    await kaggleFolder(src, 12);
    const dest = join(dir, "split");
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, log: quiet }),
      (err: Error) =>
        err instanceof DataError && /too few readable cat pictures: found 12 of the 2000/.test(err.message),
    );
    await assert.rejects(Deno.stat(dest), Deno.errors.NotFound);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["few"], "no temporary folder left");

    const odd = join(dir, "odd");
    await Deno.mkdir(odd);
    await Deno.writeTextFile(join(odd, "hello.txt"), "hi");
    await assert.rejects(
      ensureCatsAndDogs({ source: odd, dest, log: quiet }),
      (err: Error) => err instanceof DataError && /cannot tell what/.test(err.message),
    );
    await assert.rejects(
      ensureCatsAndDogs({ source: "", dest, log: quiet }),
      (err: Error) => err instanceof DataError && /the source is empty/.test(err.message),
    );
    const run = await cli(["--from", "", "--dest", dest]);
    assert.equal(run.code, 2);
    assert.deepEqual(run.err, ["error: --from is empty: give a path, or leave --from out."]);

    await Deno.mkdir(join(dest, "train/cats"), { recursive: true });
    await Deno.writeFile(join(dest, "train/cats/cat.0.jpg"), JPEG);
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, log: quiet }),
      (err: Error) => err instanceof DataError && /not a complete split/.test(err.message),
    );
    assert.ok((await Deno.stat(join(dest, "train/cats/cat.0.jpg"))).isFile, "an existing folder is never deleted");
  });
});

Deno.test("cats_and_dogs: a split source whose .gif and .webp pictures flowFromDirectory would ignore: taken only as pictures it reads, the rest named", async () => {
  await withTempDir(async (dir) => {
    // Enough .jpg pictures besides them: the split is built, its counts are what the iterator finds.
    const src = join(dir, "split-source");
    const gif = new Uint8Array(await sharp(JPEG).gif().toBuffer());
    await splitFolder(src, { "train/cats/cat.2000.gif": gif, "test/dogs/dog.3000.webp": JPEG });
    const lines: string[] = [];
    const built = await ensureCatsAndDogs({ source: src, dest: join(dir, "split"), log: (l) => lines.push(l) });
    assert.equal(built.kind, "split");
    assert.ok(
      lines.some((l) => /ignored 2 files that are not pictures flowFromDirectory reads \(\.jpg \.jpeg/.test(l)),
    );
    // Three .jpg replaced by .gif: too few pictures, and the error names the ignored files.
    await Deno.remove(join(src, "train/cats/cat.2000.gif"));
    for (const i of [1, 2, 3]) {
      await Deno.remove(join(src, `train/cats/cat.${i}.jpg`));
      await Deno.writeFile(join(src, `train/cats/cat.${i}.gif`), gif);
    }
    await assert.rejects(ensureCatsAndDogs({ source: src, dest: join(dir, "split2"), log: quiet }), (err: Error) => {
      assert.ok(err instanceof DataError, String(err));
      assert.match(err.message, /too few readable train\/cats pictures: found 997 of the 1000 needed/);
      assert.ok(err.message.includes(join(src, "train/cats/cat.1.gif")), err.message);
      assert.match(err.message, /convert them to \.jpg or \.png/);
      return true;
    });
  });
});

Deno.test("cats_and_dogs: an interrupted build leaves nothing behind; stale temporary folders are cleaned", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "train");
    await kaggleFolder(src, N);
    const dest = join(dir, "split");
    const stale = join(dir, ".split.tmp-999999999-deadbeef");
    await Deno.mkdir(join(stale, "train"), { recursive: true });
    const controller = new AbortController();
    const lines: string[] = [];
    await assert.rejects(
      ensureCatsAndDogs({
        source: src,
        dest,
        signal: controller.signal,
        log: (line) => {
          lines.push(line);
          if (/ 500\/4000 pictures placed/.test(line)) controller.abort(new Error("stop"));
        },
      }),
      /stop/,
    );
    assert.ok(lines.some((l) => /removed .*deadbeef/.test(l)));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["train"]);
  });
});

Deno.test("cats_and_dogs: offline without a source says to pass --from or CH5_DATA_SOURCE", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      ensureCatsAndDogs({ source: null, dest: join(dir, "split"), url: "http://127.0.0.1:9/pets.zip", log: quiet }),
      (err: Error) =>
        /cannot download/.test(err.message) && /--from PATH/.test(err.message) && /CH5_DATA_SOURCE/.test(err.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["data-dir"]);
    assert.deepEqual([...Deno.readDirSync(join(dir, "data-dir/downloads"))], []);
  });
});

Deno.test("cats_and_dogs: without a source it downloads the archive (a local server here) into data/downloads and builds from it", async () => {
  await withTempDir(async (dir) => {
    const files: { name: string; data: Uint8Array }[] = [];
    for (const folder of ["Cat", "Dog"]) {
      for (let i = 0; i < N; i++) files.push({ name: `PetImages/${folder}/${i}.jpg`, data: JPEG });
    }
    const archive = zipFiles(files);
    let requests = 0;
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
      requests++;
      return new Response(archive, { headers: { "content-length": String(archive.length) } });
    });
    try {
      const lines: string[] = [];
      const result = await ensureCatsAndDogs({
        source: null,
        dest: join(dir, "split"),
        url: `http://127.0.0.1:${server.addr.port}/pets.zip`,
        log: (l) => lines.push(l),
      });
      assert.equal(result.built, true);
      assert.equal(result.kind, "petimages");
      assert.equal(requests, 1);
      assert.match(lines[0], /no source given/);
      // A custom URL is announced as itself, not as the PetImages archive.
      assert.ok(lines[0].includes(`using the archive http://127.0.0.1:${server.addr.port}/pets.zip`), lines[0]);
      assert.doesNotMatch(lines[0], /PetImages|790 MB/);
      assert.ok((await Deno.stat(join(dir, "data-dir/downloads/pets.zip.json"))).isFile);
    } finally {
      await server.shutdown();
    }
  });
});

/** Build the split at `dir/split` from a Kaggle folder at `dir/train`; returns both paths. */
async function builtSplit(dir: string, options: { link?: boolean; log?: (l: string) => void } = {}) {
  const src = join(dir, "train");
  await kaggleFolder(src, N);
  const dest = join(dir, "split");
  await ensureCatsAndDogs({ source: src, dest, log: options.log ?? quiet, link: options.link });
  return { src, dest };
}

/** Run the CLI with `args`, collecting stdout and stderr lines. */
async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await main(args), out, err };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

Deno.test("cats_and_dogs: a 0-byte or changed picture in an existing split is found at the next use, not during training", async () => {
  await withTempDir(async (dir) => {
    const { src, dest } = await builtSplit(dir);
    const manifest = JSON.parse(await Deno.readTextFile(join(dest, SPLIT_MANIFEST)));
    assert.equal(Object.keys(manifest.files).length, 4000);
    // A 0-byte picture in test/: the cheap check (sizes) finds it.
    await Deno.writeFile(join(dest, "test/cats/cat.1500.jpg"), new Uint8Array(0));
    await assert.rejects(ensureCatsAndDogs({ source: src, dest, log: quiet }), (err: Error) => {
      assert.ok(err instanceof DataError, String(err));
      assert.ok(err.message.includes(`${join(dest, "test/cats/cat.1500.jpg")} (0 bytes, expected ${JPEG.length})`));
      assert.match(err.message, /Delete .* and run deno task data again/);
      return true;
    });
    await Deno.writeFile(join(dest, "test/cats/cat.1500.jpg"), JPEG);
    const { mtime } = await Deno.stat(join(src, "cat.15.jpg"));
    // Same size, other bytes, and a new time: the cheap check hashes the files whose time changed.
    const flipped = JPEG.slice();
    flipped[flipped.length >> 1] ^= 0xff;
    await Deno.writeFile(join(dest, "train/dogs/dog.3.jpg"), flipped);
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, log: quiet }),
      (err: Error) => err instanceof DataError && /dog\.3\.jpg \(other content: SHA-256/.test(err.message),
    );
    // The same with the old time put back: only --verify (every hash) finds it.
    await Deno.writeFile(join(dest, "test/cats/cat.1500.jpg"), JPEG);
    for (const rel of ["test/cats/cat.1500.jpg", "train/dogs/dog.3.jpg"]) {
      await Deno.utime(join(dest, rel), mtime!, new Date(manifest.files[rel].mtime));
    }
    const used = await ensureCatsAndDogs({ source: src, dest, log: quiet });
    assert.equal(used.built, false);
    const verified = await verifyCatsAndDogs({ dest, log: quiet });
    assert.equal(verified.checked, 4000);
    assert.deepEqual(verified.problems.map((p) => p.file), ["train/dogs/dog.3.jpg"]);
    assert.match(verified.problems[0].problem, /^other content: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}$/);
    const run = await cli(["--verify", "--dest", dest]);
    assert.equal(run.code, 1);
    assert.match(run.err[0], /^damaged: train\/dogs\/dog\.3\.jpg \(other content: SHA-256/);
    assert.equal(run.err[1], "error: 1 damaged pictures; delete the split and run deno task data to rebuild it.");
    await Deno.writeFile(join(dest, "train/dogs/dog.3.jpg"), JPEG);
    assert.equal((await cli(["--verify", "--dest", dest])).code, 0);
    // A split built before manifests: 0-byte files are still found; --verify decodes every picture and writes one.
    await Deno.remove(join(dest, SPLIT_MANIFEST));
    await Deno.writeFile(join(dest, "validation/cats/cat.1000.jpg"), new Uint8Array(0));
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, log: quiet }),
      (err: Error) => err instanceof DataError && /cat\.1000\.jpg \(0 bytes, an empty file\)/.test(err.message),
    );
    const old = await verifyCatsAndDogs({ dest, log: quiet });
    assert.deepEqual(old.problems.map((p) => p.file), ["validation/cats/cat.1000.jpg"]);
    assert.equal(old.wroteManifest, false);
    await Deno.writeFile(join(dest, "validation/cats/cat.1000.jpg"), JPEG);
    assert.equal((await verifyCatsAndDogs({ dest, log: quiet })).wroteManifest, true);
    assert.ok((await Deno.stat(join(dest, SPLIT_MANIFEST))).isFile);
  });
});

Deno.test("cats_and_dogs: an existing split asked for with another source, or a changed source, says so", async () => {
  await withTempDir(async (dir) => {
    const { src, dest } = await builtSplit(dir);
    const other = join(dir, "other");
    await kaggleFolder(other, 20);
    const lines: string[] = [];
    const result = await ensureCatsAndDogs({ source: other, dest, log: (l) => lines.push(l) });
    assert.equal(result.built, false);
    assert.ok(
      lines.some((l) => l.includes(`NOTE: ${dest} was built from ${src}, not from ${other}`) && /Delete it/.test(l)),
      lines.join("\n"),
    );
    await Deno.writeFile(join(src, "cat.2000.jpg"), JPEG);
    lines.length = 0;
    await ensureCatsAndDogs({ source: src, dest, log: (l) => lines.push(l) });
    assert.ok(
      lines.some((l) => l.includes(`NOTE: the source ${src} changed since ${dest} was built (4000 files`)),
      lines.join("\n"),
    );
    lines.length = 0;
    await Deno.remove(join(src, "cat.2000.jpg"));
    await ensureCatsAndDogs({ source: src, dest, log: (l) => lines.push(l) });
    assert.ok(!lines.some((l) => /NOTE/.test(l)), "the same source, unchanged: no note");
  });
});

Deno.test("cats_and_dogs: the split copies its source; --link says so; a destination inside the source is refused, also written /a/./src or through a link", async () => {
  await withTempDir(async (dir) => {
    // The source is a temporary copy, never /work/shared.
    const { src, dest } = await builtSplit(dir);
    const target = join(dest, "train/cats/cat.0.jpg");
    const file = await Deno.open(target, { write: true });
    await file.write(new Uint8Array([0x00]));
    file.close();
    assert.deepEqual(await Deno.readFile(join(src, "cat.0.jpg")), JPEG, "the source picture is unchanged");
    assert.notEqual((await Deno.stat(target)).ino, (await Deno.stat(join(src, "cat.0.jpg"))).ino);
    assert.equal(JSON.parse(await Deno.readTextFile(join(dest, "source.json"))).linked, false);

    const linkedDir = join(dir, "linked");
    await Deno.mkdir(linkedDir);
    const lines: string[] = [];
    const { src: src2, dest: dest2 } = await builtSplit(linkedDir, { link: true, log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => /NOTE: --link: .*editing a picture of the split then edits the source/.test(l)));
    assert.equal(
      (await Deno.stat(join(dest2, "train/cats/cat.0.jpg"))).ino,
      (await Deno.stat(join(src2, "cat.0.jpg"))).ino,
    );
    assert.equal(JSON.parse(await Deno.readTextFile(join(dest2, "source.json"))).linked, true);
    // A destination inside the source is refused before anything is written, however the paths are written.
    await Deno.symlink(src, join(dir, "link-to-train"));
    for (
      const [source, inside] of [
        [src, join(src, "split")],
        [`${dir}/./train`, join(src, "split")],
        [src, join(dir, "link-to-train", "split")],
        [join(dir, "link-to-train"), join(src, "sub", "split")],
      ]
    ) {
      await assert.rejects(
        ensureCatsAndDogs({ source, dest: inside, log: quiet }),
        (err: Error) => err instanceof DataError && /is inside the source/.test(err.message),
        `${source} / ${inside}`,
      );
    }
    assert.equal(await Deno.stat(join(src, "split")).catch(() => null), null);
    assert.equal(await Deno.stat(join(src, "sub")).catch(() => null), null);
  });
});

Deno.test("cats_and_dogs: --dest a file, an unwritable destination, a full disk, CH5_DATA_DIR a file: one line, no stack trace", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "train");
    await kaggleFolder(src, N);
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest: file, log: quiet }),
      (err: Error) => err instanceof DataError && err.message.includes(`the destination ${file} is a file`),
    );
    // A destination below a file (NotADirectory), and one under /proc (not writable even for root).
    for (
      const [dest, pattern] of [
        [join(file, "split"), /a part of this path is a file, not a folder/],
        ["/proc/ch5-split", /cannot build the split at \/proc\/ch5-split: /],
      ] as const
    ) {
      await assert.rejects(
        ensureCatsAndDogs({ source: src, dest, log: quiet }),
        (err: Error) => err instanceof DataError && pattern.test(err.message),
      );
      const run = await cli(["--from", src, "--dest", dest]);
      assert.equal(run.code, 1);
      assert.equal(run.err.length, 1, run.err.join("\n"));
      assert.match(run.err[0], /^error: /);
      assert.doesNotMatch(run.err[0], /\n| {4}at /);
    }
    // A real full disk and a real read-only file system, where this test may mount a small tmpfs (root, Linux).
    const mnt = join(dir, "mnt");
    await Deno.mkdir(mnt);
    const mount = (...args: string[]) =>
      new Deno.Command("mount", { args, stdout: "null", stderr: "null" }).output().then((o) => o.success, () => false);
    if (await mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt)) {
      try {
        await assert.rejects(
          ensureCatsAndDogs({ source: src, dest: join(mnt, "split"), log: quiet }),
          (err: Error) =>
            err instanceof DataError &&
            /cannot build the split at .*: no space left on the disk holding/.test(err.message),
        );
        assert.deepEqual([...Deno.readDirSync(mnt)], [], "nothing left on the full disk");
        assert.ok(await mount("-o", "remount,ro", mnt));
        const run = await cli(["--from", src, "--dest", join(mnt, "split")]);
        assert.equal(run.code, 1);
        assert.equal(run.err.length, 1, run.err.join("\n"));
        assert.match(run.err[0], /^error: cannot build the split at .*: cannot write to .*read-only file system/);
      } finally {
        await new Deno.Command("umount", { args: [mnt] }).output();
      }
    }
    // A full disk, as the kernel reports it (/dev/full), is named as such.
    const full = await Deno.writeFile("/dev/full", new Uint8Array(10)).then(() => undefined, (err) => err);
    assert.ok(full, "writing to /dev/full fails");
    assert.match(
      describeFsError(full, join(dir, "split"))!,
      /^no space left on the disk holding .*split .*free some space/,
    );
    // CH5_DATA_DIR naming a file.
    Deno.env.set("CH5_DATA_DIR", file);
    await assert.rejects(
      ensureCatsAndDogs({ source: src, log: quiet }),
      (err: Error) => err instanceof SettingError && /CH5_DATA_DIR=.* which is a file, not a folder/.test(err.message),
    );
    const run = await cli(["--from", src]);
    assert.equal(run.code, 1);
    assert.equal(run.err.length, 1);
    assert.match(run.err[0], /^error: CH5_DATA_DIR=.*a-file names .*, which is a file, not a folder/);
  });
});

Deno.test("cats_and_dogs: Interrupt in a notebook (no signal given) stops the build cleanly and leaves nothing half-built", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "train");
    await kaggleFolder(src, N);
    const dest = join(dir, "split");
    const printed: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => printed.push(a.join(" "));
    try {
      await assert.rejects(
        ensureCatsAndDogs({
          source: src,
          dest,
          log: (line) => {
            if (/ 500\/4000 pictures placed/.test(line)) {
              assert.ok(requestInterrupt(), "the build listens for Interrupt");
            }
          },
        }),
        (err: Error) =>
          err instanceof KeyboardInterrupt &&
          /Interrupted while building .*nothing was left half-built/.test(err.message),
      );
    } finally {
      console.log = log;
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["train"]);
  });
});

import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import sharp from "sharp";
import {
  CatsAndDogsError,
  countSplit,
  ensureCatsAndDogs,
  expectedCounts,
  resolveSource,
  SPLIT_MANIFEST,
  verifyCatsAndDogs,
} from "../lib/data/cats_and_dogs.ts";
import { main } from "../lib/data/cats_and_dogs_cli.ts";
import { KeyboardInterrupt, requestInterrupt } from "../lib/notebook/interrupt.ts";
import { describeFsError } from "../lib/io/fs.ts";
import { zipFiles } from "../lib/io/zip.ts";
import { ROOT } from "../lib/io/profile.ts";

const SHARED = resolve(ROOT, "../shared/datasets/cats_and_dogs_small");
const hasShared = await Deno.stat(join(SHARED, "train/cats")).then(() => true, () => false);
const quiet = () => {};
/** A scaled-down split (10/5/5 per class) keeps the synthetic sources small and the tests fast. */
const SMALL = { train: [0, 10], validation: [10, 15], test: [15, 20] } as const;

/** A tiny real JPEG, a truncated one, and a file that is no picture at all. */
const JPEG = await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 90, g: 140, b: 60 } } })
  .jpeg()
  .toBuffer()
  .then((b) => new Uint8Array(b));
const TRUNCATED = JPEG.slice(0, Math.floor(JPEG.length / 2));
const NOT_A_PICTURE = new TextEncoder().encode("<html>this is not a picture</html>");

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ch5_cats_dogs_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A Kaggle-style train folder with `n` cats and dogs; `broken` maps file names to contents. */
async function kaggleFolder(dir: string, n: number, broken: Record<string, Uint8Array> = {}) {
  await Deno.mkdir(dir, { recursive: true });
  const writes: Promise<void>[] = [];
  for (const animal of ["cat", "dog"]) {
    for (let i = 0; i < n; i++) {
      const name = `${animal}.${i}.jpg`;
      writes.push(Deno.writeFile(join(dir, name), broken[name] ?? JPEG));
    }
  }
  await Promise.all(writes);
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
    await assert.rejects(resolveSource("no/such/source"), CatsAndDogsError);
  },
});

Deno.test("cats_and_dogs: a Kaggle train folder (from CH5_DATA_SOURCE) skips a truncated and an empty file", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "kaggle/train");
    await kaggleFolder(src, 23, { "cat.5.jpg": TRUNCATED, "dog.7.jpg": new Uint8Array(0) });
    await Deno.writeTextFile(join(src, "notes.txt"), "not a picture name");
    const dest = join(dir, "split");
    const previous = Deno.env.get("CH5_DATA_SOURCE");
    Deno.env.set("CH5_DATA_SOURCE", join(dir, "kaggle")); // the parent of train/ works too
    let result;
    try {
      result = await ensureCatsAndDogs({ dest, log: quiet, split: SMALL });
    } finally {
      if (previous === undefined) Deno.env.delete("CH5_DATA_SOURCE");
      else Deno.env.set("CH5_DATA_SOURCE", previous);
    }
    assert.equal(result.kind, "kaggle");
    assert.deepEqual(result.counts, expectedCounts(SMALL));
    assert.deepEqual(result.skipped.map((s) => s.file), [join(src, "cat.5.jpg"), join(src, "dog.7.jpg")]);
    assert.match(result.skipped[0].reason, /not an image \/ corrupt/);
    assert.match(result.skipped[1].reason, /empty file \(0 bytes\)/);
    // Pictures keep their numbers up to the broken one, then shift by one.
    const record = JSON.parse(await Deno.readTextFile(join(dest, "source.json")));
    assert.equal(record.renamed["train/cats/cat.4.jpg"], undefined);
    assert.equal(record.renamed["train/cats/cat.5.jpg"], join(src, "cat.6.jpg"));
    assert.equal(record.renamed["test/dogs/dog.19.jpg"], join(src, "dog.20.jpg"));
    assert.deepEqual((await countSplit(dest)).validation, { cats: 5, dogs: 5 });
    assert.equal(record.skipped.length, 2);
  });
});

Deno.test("cats_and_dogs: a PetImages zip with corrupt, empty and non-picture files", async () => {
  await withTempDir(async (dir) => {
    const files: { name: string; data: Uint8Array; compress?: boolean }[] = [];
    for (const [folder, count] of [["Cat", 22], ["Dog", 21]] as const) {
      for (let i = 0; i < count; i++) {
        let data = JPEG;
        if (folder === "Cat" && i === 3) data = new Uint8Array(0);
        if (folder === "Dog" && i === 10) data = NOT_A_PICTURE;
        files.push({ name: `PetImages/${folder}/${i}.jpg`, data, compress: i % 2 === 0 });
      }
      files.push({ name: `PetImages/${folder}/Thumbs.db`, data: NOT_A_PICTURE });
    }
    files.push({ name: "readme[1].txt", data: NOT_A_PICTURE });
    const zipPath = join(dir, "kagglecatsanddogs_5340.zip");
    await Deno.writeFile(zipPath, zipFiles(files));
    const dest = join(dir, "split");
    const result = await ensureCatsAndDogs({ source: zipPath, dest, log: quiet, split: SMALL });
    assert.equal(result.kind, "petimages");
    assert.deepEqual(await countSplit(dest), expectedCounts(SMALL));
    assert.deepEqual(result.skipped.map((s) => s.file), [
      `${zipPath}:PetImages/Cat/3.jpg`,
      `${zipPath}:PetImages/Dog/10.jpg`,
    ]);
    assert.match(result.skipped[1].reason, /not an image \/ corrupt/);
    const record = JSON.parse(await Deno.readTextFile(join(dest, "source.json")));
    assert.equal(record.renamed["train/cats/cat.3.jpg"], `${zipPath}:PetImages/Cat/4.jpg`);
    assert.equal(record.renamed["train/dogs/dog.0.jpg"], `${zipPath}:PetImages/Dog/0.jpg`);
    assert.equal(record.ignoredNonPictureFiles, 3);
    assert.deepEqual(await Deno.readFile(join(dest, "test/cats/cat.19.jpg")), JPEG);
  });
});

Deno.test("cats_and_dogs: the competition's dogs-vs-cats.zip holding train.zip", async () => {
  await withTempDir(async (dir) => {
    const inner: { name: string; data: Uint8Array }[] = [];
    for (const animal of ["cat", "dog"]) {
      for (let i = 0; i < 20; i++) inner.push({ name: `train/${animal}.${i}.jpg`, data: JPEG });
    }
    const outer = zipFiles([
      { name: "sampleSubmission.csv", data: new TextEncoder().encode("id,label\n") },
      { name: "train.zip", data: zipFiles(inner) },
    ]);
    const zipPath = join(dir, "dogs-vs-cats.zip");
    await Deno.writeFile(zipPath, outer);
    const dest = join(dir, "split");
    const result = await ensureCatsAndDogs({ source: zipPath, dest, log: quiet, split: SMALL });
    assert.equal(result.kind, "kaggle");
    assert.deepEqual(result.counts, expectedCounts(SMALL));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["dogs-vs-cats.zip", "split"]);
  });
});

Deno.test("cats_and_dogs: too few pictures, an unknown source and an incomplete split are clear errors", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "few");
    await kaggleFolder(src, 12);
    const dest = join(dir, "split");
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, log: quiet }),
      (err: Error) =>
        err instanceof CatsAndDogsError && /too few readable cat pictures: found 12 of the 2000/.test(err.message),
    );
    await assert.rejects(Deno.stat(dest), Deno.errors.NotFound);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["few"], "no temporary folder left");

    const odd = join(dir, "odd");
    await Deno.mkdir(odd);
    await Deno.writeTextFile(join(odd, "hello.txt"), "hi");
    await assert.rejects(
      ensureCatsAndDogs({ source: odd, dest, log: quiet }),
      (err: Error) => err instanceof CatsAndDogsError && /cannot tell what/.test(err.message),
    );

    await Deno.mkdir(join(dest, "train/cats"), { recursive: true });
    await Deno.writeFile(join(dest, "train/cats/cat.0.jpg"), JPEG);
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, log: quiet }),
      (err: Error) => err instanceof CatsAndDogsError && /not a complete split/.test(err.message),
    );
    assert.ok((await Deno.stat(join(dest, "train/cats/cat.0.jpg"))).isFile, "an existing folder is never deleted");
  });
});

Deno.test("cats_and_dogs: an interrupted build leaves nothing behind; stale temporary folders are cleaned", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "train");
    await kaggleFolder(src, 20);
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
        split: SMALL,
        log: (line) => {
          lines.push(line);
          if (/ 5\/40 pictures placed/.test(line)) controller.abort(new Error("stop"));
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
    const previous = Deno.env.get("CH5_DATA_SOURCE");
    Deno.env.delete("CH5_DATA_SOURCE");
    try {
      await assert.rejects(
        ensureCatsAndDogs({
          dest: join(dir, "split"),
          downloadDir: dir,
          url: "http://127.0.0.1:9/pets.zip",
          log: quiet,
        }),
        (err: Error) =>
          /cannot download/.test(err.message) && /--from PATH/.test(err.message) && /CH5_DATA_SOURCE/.test(err.message),
      );
    } finally {
      if (previous !== undefined) Deno.env.set("CH5_DATA_SOURCE", previous);
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("cats_and_dogs: without a source it downloads the archive (a local server here) and builds from it", async () => {
  await withTempDir(async (dir) => {
    const files: { name: string; data: Uint8Array }[] = [];
    for (const folder of ["Cat", "Dog"]) {
      for (let i = 0; i < 20; i++) files.push({ name: `PetImages/${folder}/${i}.jpg`, data: JPEG });
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
        source: "",
        dest: join(dir, "split"),
        downloadDir: join(dir, "downloads"),
        url: `http://127.0.0.1:${server.addr.port}/pets.zip`,
        log: (l) => lines.push(l),
        split: SMALL,
      });
      assert.equal(result.built, true);
      assert.equal(result.kind, "petimages");
      assert.equal(requests, 1);
      assert.match(lines[0], /no source given/);
      // Issue 13 row 16: a custom URL is announced as itself, not as the PetImages archive.
      assert.ok(lines[0].includes(`using the archive http://127.0.0.1:${server.addr.port}/pets.zip`), lines[0]);
      assert.doesNotMatch(lines[0], /PetImages|790 MB/);
      assert.ok((await Deno.stat(join(dir, "downloads/pets.zip.json"))).isFile);
    } finally {
      await server.shutdown();
    }
  });
});

/** Build a SMALL split at `dir/split` from a Kaggle folder at `dir/train`; returns both paths. */
async function smallSplit(dir: string, options: { link?: boolean; log?: (l: string) => void } = {}) {
  const src = join(dir, "train");
  await kaggleFolder(src, 20);
  const dest = join(dir, "split");
  await ensureCatsAndDogs({ source: src, dest, split: SMALL, log: options.log ?? quiet, link: options.link });
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

Deno.test("issue 13 row 5: a 0-byte or changed picture in an existing split is found at the next use, not during training", async () => {
  await withTempDir(async (dir) => {
    const { src, dest } = await smallSplit(dir);
    const manifest = JSON.parse(await Deno.readTextFile(join(dest, SPLIT_MANIFEST)));
    assert.equal(Object.keys(manifest.files).length, 40);
    // A 0-byte picture in test/: the cheap check (sizes) finds it.
    await Deno.writeFile(join(dest, "test/cats/cat.15.jpg"), new Uint8Array(0));
    await assert.rejects(ensureCatsAndDogs({ source: src, dest, split: SMALL, log: quiet }), (err: Error) => {
      assert.ok(err instanceof CatsAndDogsError, String(err));
      assert.ok(err.message.includes(`${join(dest, "test/cats/cat.15.jpg")} (0 bytes, built with ${JPEG.length})`));
      assert.match(err.message, /Delete .* and run deno task data again/);
      return true;
    });
    await Deno.writeFile(join(dest, "test/cats/cat.15.jpg"), JPEG);
    const { mtime } = await Deno.stat(join(src, "cat.15.jpg"));
    // Same size, other bytes, and a new time: the cheap check hashes the files whose time changed.
    const flipped = JPEG.slice();
    flipped[flipped.length >> 1] ^= 0xff;
    await Deno.writeFile(join(dest, "train/dogs/dog.3.jpg"), flipped);
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, split: SMALL, log: quiet }),
      (err: Error) => err instanceof CatsAndDogsError && /dog\.3\.jpg \(same size, other content/.test(err.message),
    );
    // The same with the old time put back: only --verify (every hash) finds it.
    await Deno.writeFile(join(dest, "test/cats/cat.15.jpg"), JPEG);
    for (const rel of ["test/cats/cat.15.jpg", "train/dogs/dog.3.jpg"]) {
      await Deno.utime(join(dest, rel), mtime!, new Date(manifest.files[rel].mtime));
    }
    const used = await ensureCatsAndDogs({ source: src, dest, split: SMALL, log: quiet });
    assert.equal(used.built, false);
    const verified = await verifyCatsAndDogs({ dest, log: quiet });
    assert.equal(verified.checked, 40);
    assert.deepEqual(verified.problems, [{
      file: "train/dogs/dog.3.jpg",
      problem: "same size, other content (SHA-256 differs)",
    }]);
    const run = await cli(["--verify", "--dest", dest]);
    assert.equal(run.code, 1);
    assert.deepEqual(run.err, [
      "damaged: train/dogs/dog.3.jpg (same size, other content (SHA-256 differs))",
      "error: 1 damaged pictures; delete the split and run deno task data to rebuild it.",
    ]);
    await Deno.writeFile(join(dest, "train/dogs/dog.3.jpg"), JPEG);
    assert.equal((await cli(["--verify", "--dest", dest])).code, 0);
    // A split built before manifests: 0-byte files are still found; --verify decodes every picture and writes one.
    await Deno.remove(join(dest, SPLIT_MANIFEST));
    await Deno.writeFile(join(dest, "validation/cats/cat.10.jpg"), new Uint8Array(0));
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest, split: SMALL, log: quiet }),
      (err: Error) => err instanceof CatsAndDogsError && /cat\.10\.jpg \(0 bytes, an empty file\)/.test(err.message),
    );
    const old = await verifyCatsAndDogs({ dest, log: quiet });
    assert.deepEqual(old.problems.map((p) => p.file), ["validation/cats/cat.10.jpg"]);
    assert.equal(old.wroteManifest, false);
    await Deno.writeFile(join(dest, "validation/cats/cat.10.jpg"), JPEG);
    assert.equal((await verifyCatsAndDogs({ dest, log: quiet })).wroteManifest, true);
    assert.ok((await Deno.stat(join(dest, SPLIT_MANIFEST))).isFile);
  });
});

Deno.test("issue 13 row 6: an existing split asked for with another source, or a changed source, says so", async () => {
  await withTempDir(async (dir) => {
    const { src, dest } = await smallSplit(dir);
    const other = join(dir, "other");
    await kaggleFolder(other, 20);
    const lines: string[] = [];
    const result = await ensureCatsAndDogs({ source: other, dest, split: SMALL, log: (l) => lines.push(l) });
    assert.equal(result.built, false);
    assert.ok(
      lines.some((l) => l.includes(`NOTE: ${dest} was built from ${src}, not from ${other}`) && /Delete it/.test(l)),
      lines.join("\n"),
    );
    await Deno.writeFile(join(src, "cat.20.jpg"), JPEG);
    lines.length = 0;
    await ensureCatsAndDogs({ source: src, dest, split: SMALL, log: (l) => lines.push(l) });
    assert.ok(
      lines.some((l) => l.includes(`NOTE: the source ${src} changed since ${dest} was built (40 files`)),
      lines.join("\n"),
    );
    lines.length = 0;
    await Deno.remove(join(src, "cat.20.jpg"));
    await ensureCatsAndDogs({ source: src, dest, split: SMALL, log: (l) => lines.push(l) });
    assert.ok(!lines.some((l) => /NOTE/.test(l)), "the same source, unchanged: no note");
  });
});

Deno.test("issue 13 row 7: the split copies its source; writing into it never changes the source; --link says so", async () => {
  await withTempDir(async (dir) => {
    // The source is a temporary copy, never /work/shared.
    const { src, dest } = await smallSplit(dir);
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
    const { src: src2, dest: dest2 } = await smallSplit(linkedDir, { link: true, log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => /NOTE: --link: .*editing a picture of the split then edits the source/.test(l)));
    assert.equal(
      (await Deno.stat(join(dest2, "train/cats/cat.0.jpg"))).ino,
      (await Deno.stat(join(src2, "cat.0.jpg"))).ino,
    );
    assert.equal(JSON.parse(await Deno.readTextFile(join(dest2, "source.json"))).linked, true);
    // A destination inside the source is refused before anything is written.
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest: join(src, "split"), split: SMALL, log: quiet }),
      (err: Error) => err instanceof CatsAndDogsError && /is inside the source/.test(err.message),
    );
    assert.equal(await Deno.stat(join(src, "split")).catch(() => null), null);
    assert.deepEqual((await Deno.readDir(src)[Symbol.asyncIterator]().next()).done, false);
  });
});

Deno.test("issue 13 row 8: --dest a file, an unwritable destination, a full disk, CH5_DATA_DIR a file: one line, no stack trace", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "train");
    await kaggleFolder(src, 20);
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(
      ensureCatsAndDogs({ source: src, dest: file, split: SMALL, log: quiet }),
      (err: Error) => err instanceof CatsAndDogsError && err.message.includes(`the destination ${file} is a file`),
    );
    // A destination below a file (NotADirectory), and one under /proc (not writable even for root).
    for (
      const [dest, pattern] of [
        [join(file, "split"), /a part of this path is a file, not a folder/],
        ["/proc/ch5-split", /cannot build the split at \/proc\/ch5-split: /],
      ] as const
    ) {
      await assert.rejects(
        ensureCatsAndDogs({ source: src, dest, split: SMALL, log: quiet }),
        (err: Error) => err instanceof CatsAndDogsError && pattern.test(err.message),
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
    if (await mount("-t", "tmpfs", "-o", "size=16k", "tmpfs", mnt)) {
      try {
        await assert.rejects(
          ensureCatsAndDogs({ source: src, dest: join(mnt, "split"), split: SMALL, log: quiet }),
          (err: Error) =>
            err instanceof CatsAndDogsError &&
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
      describeFsError(full, join(dir, "split")),
      /^no space left on the disk holding .*split .*free some space/,
    );
    // CH5_DATA_DIR naming a file.
    const before = Deno.env.get("CH5_DATA_DIR");
    Deno.env.set("CH5_DATA_DIR", file);
    try {
      await assert.rejects(
        ensureCatsAndDogs({ source: src, split: SMALL, log: quiet }),
        (err: Error) => err instanceof CatsAndDogsError && /CH5_DATA_DIR=.* is a file, not a folder/.test(err.message),
      );
      const run = await cli(["--from", src]);
      assert.equal(run.code, 1);
      assert.equal(run.err.length, 1);
      assert.match(run.err[0], /^error: CH5_DATA_DIR=.*a-file names .*, which is a file, not a folder/);
    } finally {
      if (before === undefined) Deno.env.delete("CH5_DATA_DIR");
      else Deno.env.set("CH5_DATA_DIR", before);
    }
  });
});

Deno.test("cats_and_dogs: Interrupt in a notebook (no signal given) stops the build cleanly and leaves nothing half-built", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "train");
    await kaggleFolder(src, 20);
    const dest = join(dir, "split");
    const printed: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => printed.push(a.join(" "));
    try {
      await assert.rejects(
        ensureCatsAndDogs({
          source: src,
          dest,
          split: SMALL,
          log: (line) => {
            if (/ 5\/40 pictures placed/.test(line)) assert.ok(requestInterrupt(), "the build listens for Interrupt");
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

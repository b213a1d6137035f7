import assert from "node:assert/strict";
import { join } from "node:path";
import { openZip, ZipError, zipFiles } from "../lib/io/zip.ts";

const enc = new TextEncoder();

function someBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 7 === 0 ? x >>> 24 : 65 + (i % 13); // partly compressible
  }
  return out;
}

Deno.test("zip: entries written by zipFiles read back, stored and deflated, and extract to files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files = [
      { name: "PetImages/Cat/0.jpg", data: someBytes(5000, 3) },
      { name: "PetImages/Cat/1.jpg", data: new Uint8Array(0) },
      { name: "stored/ü-name.txt", data: enc.encode("hello"), compress: false },
    ];
    const path = join(dir, "a.zip");
    await Deno.writeFile(path, zipFiles(files));
    const zip = await openZip(path);
    try {
      assert.deepEqual(zip.entries.map((e) => e.name), files.map((f) => f.name));
      assert.deepEqual(zip.entries.map((e) => e.method), [8, 8, 0]);
      const reads = await Promise.all(zip.entries.map((e) => zip.read(e)));
      reads.forEach((bytes, i) => assert.deepEqual(bytes, files[i].data));
      await zip.extractTo(zip.entries[0], join(dir, "out.bin"));
      assert.deepEqual(await Deno.readFile(join(dir, "out.bin")), files[0].data);
    } finally {
      zip.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zip: a damaged entry fails its CRC-32 check; non-zip and truncated files are clear errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = zipFiles([{ name: "x.txt", data: enc.encode("some text to store"), compress: false }]);
    bytes[30 + "x.txt".length + 3] ^= 0xff; // flip a byte of the stored data
    await Deno.writeFile(join(dir, "bad.zip"), bytes);
    const zip = await openZip(join(dir, "bad.zip"));
    try {
      await assert.rejects(
        zip.read(zip.entries[0]),
        (err: Error) => err instanceof ZipError && /damaged \(CRC-32 or size mismatch/.test(err.message),
      );
    } finally {
      zip.close();
    }
    await Deno.writeTextFile(join(dir, "text.zip"), "this is not an archive at all, just some words");
    await assert.rejects(
      openZip(join(dir, "text.zip")),
      (err: Error) => err instanceof ZipError && /not a ZIP/.test(err.message),
    );
    const good = zipFiles([{ name: "a.txt", data: someBytes(3000) }]);
    await Deno.writeFile(join(dir, "cut.zip"), good.slice(0, 1000));
    await assert.rejects(openZip(join(dir, "cut.zip")), ZipError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const hasZipTool = await new Deno.Command("zip", { args: ["-v"], stdout: "null", stderr: "null" }).output()
  .then((o) => o.success, () => false);

Deno.test({
  name: "zip: reads archives made by Info-ZIP's zip, with ZIP64 records (-fz) and data descriptors (from stdin)",
  ignore: !hasZipTool,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.mkdir(join(dir, "src/train"), { recursive: true });
      const data = someBytes(20_000, 9);
      await Deno.writeFile(join(dir, "src/train/cat.0.jpg"), data);
      await Deno.writeTextFile(join(dir, "src/train/readme.txt"), "cats and dogs\n");
      const run = async (args: string[], stdin?: Uint8Array): Promise<Uint8Array> => {
        const child = new Deno.Command("zip", {
          args,
          cwd: join(dir, "src"),
          stdin: stdin ? "piped" : "null",
          stdout: "piped",
        }).spawn();
        if (stdin) {
          const w = child.stdin.getWriter();
          await w.write(stdin);
          await w.close();
        }
        const out = await child.output();
        assert.ok(out.success);
        return out.stdout;
      };
      await run(["-q", "-r", "-fz", join(dir, "z64.zip"), "train"]);
      const z64 = await openZip(join(dir, "z64.zip"));
      try {
        const entry = z64.entries.find((e) => e.name === "train/cat.0.jpg")!;
        assert.deepEqual(await z64.read(entry), data);
      } finally {
        z64.close();
      }
      // Both ends streamed (stdin to stdout): sizes follow the data in descriptors.
      await Deno.writeFile(join(dir, "stream.zip"), await run(["-q", "-", "-"], data));
      const streamed = await openZip(join(dir, "stream.zip"));
      try {
        assert.ok(streamed.entries[0].flags & 8, "expected a data descriptor");
        assert.deepEqual(await streamed.read(streamed.entries[0]), data);
      } finally {
        streamed.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

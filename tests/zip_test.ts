import assert from "node:assert/strict";
import { join } from "node:path";
import { DataError } from "../lib/io/errors.ts";
import { unpackZip } from "../lib/io/zip.ts";
import { zipFiles } from "./fixtures/zip.ts";

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

Deno.test("zip: stored and deflated entries unpack to files, CRC-checked, with their folders", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files = [
      { name: "PetImages/Cat/0.jpg", data: someBytes(5000, 3) },
      { name: "PetImages/Cat/1.jpg", data: new Uint8Array(0) },
      { name: "stored/ü-name.txt", data: enc.encode("hello"), compress: false },
    ];
    const path = join(dir, "a.zip");
    await Deno.writeFile(path, zipFiles(files));
    const result = await unpackZip(path, join(dir, "out"));
    assert.deepEqual(result, { files: files.map((f) => f.name), skipped: [] });
    for (const f of files) assert.deepEqual(await Deno.readFile(join(dir, "out", f.name)), f.data);
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
    await assert.rejects(
      unpackZip(join(dir, "bad.zip"), join(dir, "out")),
      (err: Error) => err instanceof DataError && /x\.txt is damaged \(CRC-32 or size mismatch/.test(err.message),
    );
    await Deno.writeTextFile(join(dir, "text.zip"), "this is not an archive at all, just some words");
    await assert.rejects(
      unpackZip(join(dir, "text.zip"), join(dir, "out")),
      (err: Error) => err instanceof DataError && /not a ZIP/.test(err.message),
    );
    const good = zipFiles([{ name: "a.txt", data: someBytes(3000) }]);
    await Deno.writeFile(join(dir, "cut.zip"), good.slice(0, 1000));
    await assert.rejects(unpackZip(join(dir, "cut.zip"), join(dir, "out")), DataError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zip: an entry over the size limit (a zip bomb: 60 MB of zeros in 60 KB) is skipped and named, never unpacked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "bomb.zip");
    await Deno.writeFile(
      path,
      zipFiles([
        { name: "PetImages/Cat/0.jpg", data: someBytes(2000) },
        { name: "PetImages/Cat/1.jpg", data: new Uint8Array(60_000_000) },
      ]),
    );
    assert.ok((await Deno.stat(path)).size < 200_000);
    const result = await unpackZip(path, join(dir, "out"));
    assert.deepEqual(result.files, ["PetImages/Cat/0.jpg"]);
    assert.deepEqual(result.skipped, [{
      file: "PetImages/Cat/1.jpg",
      reason: "60000000 bytes unpacked, over the limit of 50000000 (a zip bomb, or not a picture)",
    }]);
    assert.equal(await Deno.stat(join(dir, "out/PetImages/Cat/1.jpg")).catch(() => null), null);
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
      await unpackZip(join(dir, "z64.zip"), join(dir, "z64"));
      assert.deepEqual(await Deno.readFile(join(dir, "z64/train/cat.0.jpg")), data);
      // Both ends streamed (stdin to stdout): sizes follow the data in descriptors (flag bit 3).
      const streamed = await run(["-q", "-", "-"], data);
      assert.ok(new DataView(streamed.buffer).getUint16(6, true) & 8, "expected a data descriptor");
      await Deno.writeFile(join(dir, "stream.zip"), streamed);
      const { files } = await unpackZip(join(dir, "stream.zip"), join(dir, "stream"));
      assert.deepEqual(await Deno.readFile(join(dir, "stream", files[0])), data);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

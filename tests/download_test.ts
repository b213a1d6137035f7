import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { downloadFile } from "../lib/io/download.ts";
import { DownloadError } from "../lib/io/errors.ts";
import { cachedWeights } from "../lib/models/imagenet_weights.ts";

const BODY = (() => {
  const b = new Uint8Array(300_000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + (i >> 8)) & 255;
  return b;
})();
const SHA = createHash("sha256").update(BODY).digest("hex");

/** A local server with Range support; `breakAfter` makes the next full response stop half-way. */
function serve() {
  const state = { requests: [] as (string | null)[], breakNext: false, ignoreRange: false };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    const range = req.headers.get("range");
    state.requests.push(range);
    const m = range?.match(/^bytes=(\d+)-$/);
    if (m && !state.ignoreRange) {
      const start = Number(m[1]);
      if (start >= BODY.length) {
        return new Response(null, { status: 416, headers: { "content-range": `bytes */${BODY.length}` } });
      }
      return new Response(BODY.slice(start), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${BODY.length - 1}/${BODY.length}` },
      });
    }
    if (state.breakNext) {
      state.breakNext = false;
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(BODY.slice(0, 100_000));
          controller.close(); // shorter than its Content-Length: the client sees a cut download
        },
      });
      return new Response(stream, { headers: { "content-length": String(BODY.length) } });
    }
    return new Response(BODY, { headers: { "content-length": String(BODY.length) } });
  });
  const url = `http://127.0.0.1:${server.addr.port}/files/archive.zip`;
  return { server, state, url };
}

const quiet = () => {};
const realSetTimeout = globalThis.setTimeout;

Deno.test("download: a broken download resumes with Range, then the file is cached", async () => {
  const dir = await Deno.makeTempDir();
  const { server, state, url } = serve();
  try {
    const dest = join(dir, "archive.zip");
    state.breakNext = true;
    await assert.rejects(
      downloadFile(url, dest, { log: quiet }),
      (err: Error) => err instanceof DownloadError && /run again to resume/i.test(err.message),
    );
    const partial = (await Deno.stat(`${dest}.part`)).size;
    assert.ok(partial > 0 && partial < BODY.length, `partial file of ${partial} bytes`);
    await assert.rejects(Deno.stat(dest), Deno.errors.NotFound);

    const lines: string[] = [];
    const got = await downloadFile(url, dest, { log: (l) => lines.push(l), sha256: SHA });
    assert.equal(got.resumed, true);
    assert.equal(got.cached, false);
    assert.equal(got.sha256, SHA);
    assert.equal(state.requests.at(-1), `bytes=${partial}-`);
    assert.deepEqual(await Deno.readFile(dest), BODY);
    assert.ok(lines.some((l) => /resuming/.test(l)));
    await assert.rejects(Deno.stat(`${dest}.part`), Deno.errors.NotFound);

    const before = state.requests.length;
    const again = await downloadFile(url, dest, { log: quiet, sha256: SHA });
    assert.equal(again.cached, true);
    assert.equal(state.requests.length, before, "a cached file makes no request");
    // The sidecar is the integrity manifest of the file, with its URL.
    const sidecar = JSON.parse(await Deno.readTextFile(`${dest}.json`));
    assert.deepEqual(sidecar, {
      format: "ch5-manifest-1",
      url,
      files: { "archive.zip": { size: BODY.length, sha256: SHA } },
    });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("download: a server that ignores Range starts over; a wrong SHA-256 deletes the file", async () => {
  const dir = await Deno.makeTempDir();
  const { server, state, url } = serve();
  try {
    const dest = join(dir, "a.zip");
    await Deno.writeFile(`${dest}.part`, BODY.slice(0, 1000));
    state.ignoreRange = true;
    const got = await downloadFile(url, dest, { log: quiet });
    assert.equal(got.resumed, false);
    assert.deepEqual(await Deno.readFile(dest), BODY);

    const other = join(dir, "b.zip");
    await assert.rejects(
      downloadFile(url, other, { log: quiet, sha256: "00".repeat(32) }),
      (err: Error) =>
        err instanceof DownloadError && err.message.includes(`SHA-256 ${SHA}, expected ${"00".repeat(32)}`),
    );
    await assert.rejects(Deno.stat(`${other}.part`), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(other), Deno.errors.NotFound);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("download: no network is a clear error carrying the hint", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      downloadFile("http://127.0.0.1:9/none.zip", join(dir, "none.zip"), { log: quiet, hint: "Pass --from PATH." }),
      (err: Error) =>
        err instanceof DownloadError && /cannot download/.test(err.message) && /--from PATH/.test(err.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("download: a stalled connection is given up after 60 s without data, keeping the part to resume", async () => {
  const dir = await Deno.makeTempDir();
  let hang: ReadableStreamDefaultController<Uint8Array> | undefined;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        hang = controller;
        controller.enqueue(BODY.slice(0, 1000));
      },
    });
    return new Response(body, { headers: { "content-length": String(BODY.length) } });
  });
  try {
    const dest = join(dir, "slow.zip");
    // The 60 s stall timer runs in 0.3 s here (every other timer as it is).
    globalThis.setTimeout = ((fn: () => void, ms?: number) =>
      realSetTimeout(fn, ms === 60_000 ? 300 : ms)) as typeof setTimeout;
    await assert.rejects(
      downloadFile(`http://127.0.0.1:${server.addr.port}/slow.zip`, dest, { log: quiet }),
      (err: Error) => err instanceof DownloadError && /no data for 60 s/.test(err.message),
    );
    assert.equal((await Deno.stat(`${dest}.part`)).size, 1000);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    try {
      hang?.close();
    } catch {
      // already cancelled by the client
    }
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a cached ImageNet file with the wrong md5, offline, is named as damaged (md5 expected/actual), also with CH5_ALLOW_RANDOM_WEIGHTS", async () => {
  const dir = await Deno.makeTempDir();
  const weights = { file: "fake_weights.h5", md5: "0123456789abcdef0123456789abcdef" };
  const path = join(dir, weights.file);
  await Deno.writeFile(path, BODY);
  const actual = createHash("md5").update(BODY).digest("hex");
  const offline: typeof fetch = () => Promise.reject(new TypeError("error sending request: dns error"));
  try {
    await assert.rejects(
      cachedWeights(weights, { dir, fetch: offline, allowRandom: false, log: quiet }),
      (err: Error) => {
        assert.ok(err instanceof DownloadError, String(err));
        assert.ok(err.message.includes(`the file at ${path} is damaged or a different file`), err.message);
        assert.ok(err.message.includes(`md5 ${actual}, expected ${weights.md5}`), err.message);
        assert.ok(err.message.includes(`Fix: delete ${path}`), err.message);
        assert.doesNotMatch(err.message, /Put the file at/);
        return true;
      },
    );
    assert.deepEqual(await Deno.readFile(path), BODY, "the file is left alone");
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
    try {
      assert.equal(await cachedWeights(weights, { dir, fetch: offline, allowRandom: true, log: quiet }), null);
    } finally {
      console.warn = warn;
    }
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].includes(`the file at ${path} is damaged or a different file (md5 ${actual}`), warnings[0]);
    assert.match(warnings[0], /was NOT used/);
    assert.match(warnings[0], /RANDOM weights/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("download: a full disk or a file in the way is a DownloadError naming the path, not a broken connection", async () => {
  const dir = await Deno.makeTempDir();
  const { server, url } = serve();
  try {
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(
      downloadFile(url, join(file, "archive.zip"), { log: quiet }),
      (err: Error) =>
        err instanceof DownloadError && /cannot save the download .*a part of this path is a file/.test(err.message),
    );
    const mnt = join(dir, "mnt");
    await Deno.mkdir(mnt);
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt],
      stderr: "null",
    })
      .output().then((o) => o.success, () => false);
    if (mounted) { // needs root and Linux
      try {
        await assert.rejects(downloadFile(url, join(mnt, "archive.zip"), { log: quiet }), (err: Error) => {
          assert.ok(err instanceof DownloadError, String(err));
          assert.match(err.message, /no space left on the disk holding .*archive\.zip\.part/);
          assert.match(err.message, /run again to resume/);
          return true;
        });
      } finally {
        await new Deno.Command("umount", { args: [mnt] }).output();
      }
    }
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

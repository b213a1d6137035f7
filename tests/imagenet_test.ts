import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { initBackend } from "@ch5/engine";
import { decodePredictions, IMAGENET_BGR_MEAN, IMAGENET_CLASSES, preprocessInput } from "../lib/models/imagenet.ts";
import { DownloadError } from "../lib/io/errors.ts";
import { fileHash } from "../lib/io/integrity.ts";
import { cachedWeights, VGG16_WEIGHTS, vgg16WeightsPath, weightsDir } from "../lib/models/imagenet_weights.ts";

await initBackend({ backend: "cpu" });

Deno.test("IMAGENET_CLASSES: Keras' 1,000 classes, WordNet ids and short names", () => {
  assert.equal(IMAGENET_CLASSES.length, 1000);
  const pick = (i: number) => [IMAGENET_CLASSES[i].wnid, IMAGENET_CLASSES[i].name];
  assert.deepEqual(pick(386), ["n02504458", "African_elephant"]);
  assert.deepEqual(pick(101), ["n01871265", "tusker"]);
  assert.deepEqual(pick(385), ["n02504013", "Indian_elephant"]);
  assert.deepEqual(pick(0), ["n01440764", "tench"]);
  assert.deepEqual(pick(134), ["n02012849", "crane"]); // the bird ...
  assert.deepEqual(pick(517), ["n03126707", "crane"]); // ... and the machine
  assert.deepEqual(pick(281), ["n02123045", "tabby"]);
  assert.deepEqual(pick(999), ["n15075141", "toilet_tissue"]);
  assert.equal(IMAGENET_CLASSES[386].longName, "African elephant, Loxodonta africana");
  const wnids = IMAGENET_CLASSES.map((c) => c.wnid);
  assert.deepEqual(wnids, [...wnids].sort(), "Keras' class order sorts the WordNet ids");
  assert.equal(new Set(wnids).size, 1000);
  assert.ok(IMAGENET_CLASSES.every((c, i) => c.classIndex === i && /^n\d{8}$/.test(c.wnid) && !/\s/.test(c.name)));
});

Deno.test("preprocessInput: RGB to BGR, minus the ImageNet means, no scaling (3D and 4D)", () => {
  const rgb = tf.tensor3d([[[255, 0, 0], [10, 20, 30]]]);
  const out = preprocessInput(rgb);
  assert.deepEqual(out.shape, [1, 2, 3]);
  const [b, g, r] = IMAGENET_BGR_MEAN;
  const expected = [0 - b, 0 - g, 255 - r, 30 - b, 20 - g, 10 - r];
  Array.from(out.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-4, `${v} vs ${expected[i]}`));
  const batch = preprocessInput(tf.stack([rgb, rgb]) as tf.Tensor4D);
  assert.deepEqual(batch.shape, [2, 1, 2, 3]);
  assert.deepEqual(Array.from(batch.dataSync()).slice(6), Array.from(out.dataSync()));
  assert.throws(() => preprocessInput(tf.zeros([2, 2, 4]) as tf.Tensor3D), /RGB images.*\[2, 2, 4\]/);
  tf.dispose([rgb, out, batch]);
});

Deno.test("decodePredictions: top classes per image, most probable first", () => {
  const row = (hot: Record<number, number>) => Array.from({ length: 1000 }, (_, i) => hot[i] ?? 0);
  const preds = tf.tensor2d([row({ 386: 0.7, 101: 0.2, 385: 0.1 }), row({ 281: 0.6, 282: 0.3 })]);
  const decoded = decodePredictions(preds, 3);
  assert.equal(decoded.length, 2);
  assert.deepEqual(
    decoded[0].map((p) => [p.classIndex, p.wnid, p.name, Math.round(p.probability * 10) / 10]),
    [[386, "n02504458", "African_elephant", 0.7], [101, "n01871265", "tusker", 0.2], [
      385,
      "n02504013",
      "Indian_elephant",
      0.1,
    ]],
  );
  assert.deepEqual(decoded[1].slice(0, 2).map((p) => p.name), ["tabby", "tiger_cat"]);
  assert.equal(decodePredictions(tf.tensor2d([row({ 7: 1 })]))[0].length, 5, "top 5 by default");
  assert.throws(() => decodePredictions(tf.zeros([1, 10])), /shape \[samples, 1000\]; got \[1, 10\]/);
  assert.throws(() => decodePredictions(tf.zeros([1000])), /got \[1000\]/);
  preds.dispose();
});

const BYTES = new TextEncoder().encode("not really HDF5, but bytes to checksum ".repeat(3000));
const FAKE = { file: "fake_weights.h5", md5: createHash("md5").update(BYTES).digest("hex") };
const offline: typeof fetch = () => Promise.reject(new TypeError("error sending request: dns error"));
const quiet = { log: () => {} };

async function tempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("weightsDir: data/weights, or CH5_WEIGHTS_DIR", () => {
  const saved = Deno.env.get("CH5_WEIGHTS_DIR");
  try {
    Deno.env.delete("CH5_WEIGHTS_DIR");
    assert.match(weightsDir(), /data[\\/]weights$/);
    Deno.env.set("CH5_WEIGHTS_DIR", "/tmp/some/weights");
    assert.equal(weightsDir(), "/tmp/some/weights");
  } finally {
    if (saved === undefined) Deno.env.delete("CH5_WEIGHTS_DIR");
    else Deno.env.set("CH5_WEIGHTS_DIR", saved);
  }
});

Deno.test("cachedWeights: a cached file with the right md5 is used without any request, and hashed only once", async () => {
  await tempDir(async (dir) => {
    const path = join(dir, FAKE.file);
    await Deno.writeFile(path, BYTES);
    let requests = 0;
    const options = { dir, fetch: () => (requests++, offline("")), ...quiet };
    assert.equal(await cachedWeights(FAKE, options), path);
    assert.equal(requests, 0);
    // The sums are remembered beside the file: a later call reads them instead of hashing 528 MB again.
    const sidecar = JSON.parse(await Deno.readTextFile(`${path}.json`));
    assert.equal(sidecar.files[FAKE.file].md5, FAKE.md5);
    assert.equal(sidecar.files[FAKE.file].size, BYTES.length);
    sidecar.files[FAKE.file].md5 = "remembered";
    await Deno.writeTextFile(`${path}.json`, JSON.stringify(sidecar));
    await assert.rejects(cachedWeights(FAKE, options), DownloadError, "the remembered sum is what counts");
    // Sums that cannot be remembered (here a folder stands where the sidecar goes) are computed each time.
    await Deno.remove(`${path}.json`);
    await Deno.mkdir(`${path}.json`);
    assert.equal(await cachedWeights(FAKE, options), path);
    assert.equal(requests, 1, "only the call with the wrong remembered sum asked the server");
  });
});

Deno.test("cachedWeights: downloads from a server, reports progress, checks the md5, leaves no temporary file", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const name = new URL(req.url).pathname.split("/").pop();
    return name === FAKE.file
      ? new Response(BYTES, { headers: { "content-length": String(BYTES.length) } })
      : new Response("missing", { status: 404 });
  });
  try {
    const baseUrl = `http://127.0.0.1:${server.addr.port}/releases/`;
    await tempDir(async (dir) => {
      const lines: string[] = [];
      const path = await cachedWeights(FAKE, { dir, baseUrl, log: (line) => lines.push(line) });
      assert.equal(path, join(dir, FAKE.file));
      assert.equal(await fileHash(path!, "md5"), FAKE.md5);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [FAKE.file, `${FAKE.file}.json`]);
      assert.match(lines[0], new RegExp(`^download: ${baseUrl}${FAKE.file} \\(0\\.1 MB\\) -> `));
      assert.match(lines.at(-1)!, /^download: done, 0\.1 MB, sha256 [0-9a-f]{64}$/);

      // A damaged cached copy is downloaded again.
      await Deno.writeTextFile(path!, "truncated");
      await cachedWeights(FAKE, { dir, baseUrl, ...quiet });
      assert.equal(await fileHash(path!, "md5"), FAKE.md5);

      // A server error says what it answered.
      await assert.rejects(
        cachedWeights({ file: "other.h5", md5: FAKE.md5 }, { dir, baseUrl, ...quiet }),
        /HTTP 404 Not Found/,
      );
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("cachedWeights: a checksum mismatch fails, keeps nothing, and says where to put the file", async () => {
  await tempDir(async (dir) => {
    const wrong = { file: FAKE.file, md5: "0".repeat(32) };
    const serve: typeof fetch = () => Promise.resolve(new Response(BYTES));
    await assert.rejects(cachedWeights(wrong, { dir, fetch: serve, ...quiet }), (err: Error) => {
      assert.ok(err instanceof DownloadError);
      assert.match(err.message, new RegExp(`downloaded with md5 ${FAKE.md5}, expected 0{32}`));
      assert.ok(err.message.includes(`Put the file at:\n  ${join(dir, FAKE.file)}`), err.message);
      return true;
    });
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("cachedWeights offline: names the file, the exact path, the URL, and the escape hatch", async () => {
  await tempDir(async (dir) => {
    let url = "";
    const record: typeof fetch = (input) => {
      url = String(input);
      return offline(input);
    };
    await assert.rejects(
      vgg16WeightsPath({ includeTop: false, dir, fetch: record, allowRandom: false }),
      (err: Error) => {
        assert.ok(err instanceof DownloadError);
        const { file, md5 } = VGG16_WEIGHTS.notop;
        assert.ok(err.message.includes(`Put the file at:\n  ${join(dir, file)}`), err.message);
        assert.ok(
          err.message.includes(`https://github.com/fchollet/deep-learning-models/releases/download/v0.1/${file}`),
        );
        assert.ok(err.message.includes(md5));
        assert.match(err.message, /dns error/);
        assert.match(err.message, /CH5_WEIGHTS_DIR/);
        assert.match(err.message, /CH5_ALLOW_RANDOM_WEIGHTS=1/);
        return true;
      },
    );
    assert.ok(url.endsWith("/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"), url);
    await assert.rejects(vgg16WeightsPath({ includeTop: true, dir, fetch: record, allowRandom: false }));
    assert.ok(url.endsWith("/vgg16_weights_tf_dim_ordering_tf_kernels.h5"), url);
  });
});

Deno.test("cachedWeights with CH5_ALLOW_RANDOM_WEIGHTS=1 (or allowRandom) returns null and warns", async () => {
  await tempDir(async (dir) => {
    const saved = Deno.env.get("CH5_ALLOW_RANDOM_WEIGHTS");
    const warn = console.warn;
    const warnings: string[] = [];
    console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
    try {
      Deno.env.set("CH5_ALLOW_RANDOM_WEIGHTS", "1");
      assert.equal(await cachedWeights(FAKE, { dir, fetch: offline, ...quiet }), null);
      Deno.env.delete("CH5_ALLOW_RANDOM_WEIGHTS");
      assert.equal(await cachedWeights(FAKE, { dir, fetch: offline, allowRandom: true, ...quiet }), null);
      await assert.rejects(cachedWeights(FAKE, { dir, fetch: offline, ...quiet }), DownloadError);
    } finally {
      console.warn = warn;
      if (saved === undefined) Deno.env.delete("CH5_ALLOW_RANDOM_WEIGHTS");
      else Deno.env.set("CH5_ALLOW_RANDOM_WEIGHTS", saved);
    }
    assert.equal(warnings.length, 2);
    assert.match(warnings[0], /RANDOM weights: its predictions, features and accuracies mean nothing/);
  });
});

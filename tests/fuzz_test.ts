/**
 * Fuzz suite: seeded random, truncated and bit-flipped inputs to every reader
 * of outside files (pictures, .h5, ZIP, saved models, IDX, checkpoints). Each case must end in the project's typed
 * error or a correct result (the original's content, or a well-formed one
 * where the format has no checksum), within a time limit: never a hang, a
 * crash, a raw error or a silently wrong value.
 *
 * The seed is `CH5_FUZZ_SEED` (default 13), so a failing case can be replayed;
 * the number of cases per reader is fixed (about a minute in all on two
 * shared cores). The test prints one summary line.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import sharp from "sharp";
import { initBackend } from "@ch5/engine";
import { parseIdx } from "../lib/data/mnist.ts";
import { CheckpointError, DataError, ModelFileError, PictureError } from "../lib/io/errors.ts";
import { unpackZip } from "../lib/io/zip.ts";
import { loadKerasModel, loadWeightsFromH5 } from "../lib/models/keras_h5.ts";
import { loadModel, saveModel } from "../lib/models/save.ts";
import { loadImg } from "../lib/preprocessing/image.ts";
import { checkpointPath, loadCheckpoint, saveCheckpoint } from "../lib/training/checkpoint.ts";
import { zipFiles } from "./fixtures/zip.ts";
import { withEnv } from "./env_helpers.ts";

await initBackend({ backend: "cpu" });

const SEED = Number(Deno.env.get("CH5_FUZZ_SEED") ?? 13);
const CASE_TIMEOUT_MS = 20_000;
/** `CH5_FUZZ_LOG=file` appends each case's name before it runs (to find a case that hangs the process). */
const VERBOSE = Deno.env.get("CH5_FUZZ_LOG");

/** mulberry32: a small seeded generator. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(SEED);
const int = (n: number) => Math.floor(random() * n);

type Mutation = { kind: string; bytes: Uint8Array };

/** One mutation of `seed`: truncated, bit-flipped (1–8 bits), a run of random bytes, or cut and flipped. */
function mutate(seed: Uint8Array, region?: [number, number]): Mutation {
  const [from, to] = region ?? [0, seed.length];
  const pick = () => from + int(to - from);
  const r = random();
  if (r < 0.3) return { kind: "truncated", bytes: seed.slice(0, int(seed.length)) };
  const bytes = seed.slice();
  if (r < 0.75) {
    const flips = 1 + int(8);
    for (let i = 0; i < flips; i++) bytes[pick()] ^= 1 << int(8);
    return { kind: "bit-flipped", bytes };
  }
  if (r < 0.92) {
    const at = pick();
    const n = 1 + int(64);
    for (let i = at; i < Math.min(bytes.length, at + n); i++) bytes[i] = int(256);
    return { kind: "random run", bytes };
  }
  const cut = bytes.slice(0, 1 + int(bytes.length - 1));
  cut[int(cut.length)] ^= 1 << int(8);
  return { kind: "cut+flip", bytes: cut };
}

/** Outcome counts per reader: "correct" or the error's class name; "UNEXPECTED ..." for the rest. */
const outcomes = new Map<string, Map<string, number>>();
const unexpected: string[] = [];
function count(reader: string, outcome: string) {
  if (!outcomes.has(reader)) outcomes.set(reader, new Map());
  const m = outcomes.get(reader)!;
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
}

/**
 * Run one case: `fn` returns "correct" or throws; errors of the `typed`
 * classes are expected, any other (or a wrong result, or a hang) is recorded.
 */
async function fuzzCase(
  reader: string,
  what: string,
  typed: (abstract new (...args: never[]) => Error)[],
  fn: () => Promise<"correct" | string>,
): Promise<void> {
  if (VERBOSE) await Deno.writeTextFile(VERBOSE, `${reader} ${what}\n`, { append: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`HANG: no answer within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([fn(), timeout]);
    if (result === "correct") count(reader, "correct");
    else {
      count(reader, "UNEXPECTED wrong result");
      unexpected.push(`${reader} ${what}: ${result}`);
    }
  } catch (err) {
    const e = err as Error;
    if (typed.some((t) => err instanceof t)) count(reader, e.name);
    else {
      count(reader, `UNEXPECTED ${e?.name ?? typeof err}`);
      unexpected.push(`${reader} ${what}: ${e?.name}: ${String(e?.message).slice(0, 300)}`);
    }
  } finally {
    clearTimeout(timer);
  }
}

const dir = await Deno.makeTempDir({ prefix: "ch5_fuzz_" });

async function fuzzLoadImg(cases: number) {
  const seeds: [string, Uint8Array][] = [];
  const base = sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 200, g: 80, b: 30 } } });
  seeds.push(["jpeg", new Uint8Array(await base.clone().jpeg({ quality: 80 }).toBuffer())]);
  seeds.push(["png", new Uint8Array(await base.clone().png().toBuffer())]);
  for (let i = 0; i < cases; i++) {
    const [format, seed] = seeds[i % seeds.length];
    const { kind, bytes } = mutate(seed);
    await fuzzCase("loadImg", `${format} ${kind} #${i}`, [PictureError, RangeError], async () => {
      // JPEG and PNG pixels carry no checksum (PNG's CRCs cover chunks; sharp may accept a damaged one):
      // a decoded picture is correct when it is well formed.
      const img = await loadImg(bytes, { targetSize: i % 3 === 0 ? [8, 8] : null });
      const ok = img.height > 0 && img.width > 0 && img.channels === 3 &&
        img.data.length === img.height * img.width * 3;
      return ok ? "correct" : `malformed picture ${img.height}x${img.width}x${img.channels}, ${img.data.length} bytes`;
    });
  }
}

function smallNet(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        name: "d1",
        units: 8,
        inputShape: [4],
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      }),
      tf.layers.dense({ name: "d2", units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  return model;
}

async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return await Promise.all(model.weights.map((w) => w.read().data() as Promise<Float32Array>));
}

function sameWeights(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length &&
    a.every((x, i) => x.length === b[i].length && x.every((v, k) => Object.is(v, b[i][k])));
}

async function fuzzH5(cases: number) {
  // A model saved by saveModel (in the test's CH5_DATA_DIR): its .h5 has a manifest beside it, so any change is found.
  const model = smallNet();
  const want = await weightsOf(model);
  const saved = await saveModel(model, "fuzz_h5");
  const h5 = await Deno.readFile(saved.h5!);
  const keras = await Deno.readFile(new URL("../../shared/fixtures/keras/dense_imdb.h5", import.meta.url));
  const typed = [ModelFileError];
  for (let i = 0; i < cases; i++) {
    if (i % 2 === 0) {
      // loadWeightsFromH5 on the saved file, in place (the manifest beside it is the reference).
      const { kind, bytes } = mutate(h5);
      await Deno.writeFile(saved.h5!, bytes);
      await fuzzCase("h5 loadWeightsFromH5", `${kind} #${i}`, typed, async () => {
        const fresh = smallNet();
        await loadWeightsFromH5(fresh, saved.h5!);
        const got = await weightsOf(fresh);
        fresh.dispose();
        return sameWeights(got, want) ? "correct" : "loaded different weights";
      });
    } else {
      // loadKerasModel on a Keras file (no manifest: a Keras .h5 has no checksum of its
      // weights, so only damage HDF5 itself can see is fuzzed: truncations and its first 4 KB of metadata).
      const { kind, bytes } = random() < 0.5
        ? { kind: "truncated", bytes: keras.slice(0, int(keras.length)) }
        : mutate(keras, [0, 4096]);
      if (VERBOSE) await Deno.writeFile(`${VERBOSE}.h5`, bytes);
      const copy = join(dir, `keras-${i}.h5`);
      await Deno.writeFile(copy, bytes);
      await fuzzCase("h5 loadKerasModel", `${kind} #${i}`, typed, async () => {
        const loaded = await loadKerasModel(copy, { compile: false });
        const ok = loaded.weights.length > 0;
        loaded.dispose();
        return ok ? "correct" : "a model without weights";
      });
    }
  }
  await Deno.writeFile(saved.h5!, h5);
  // HDF5 still works after the damaged files (also after an abort() inside it).
  const fresh = smallNet();
  await loadWeightsFromH5(fresh, saved.h5!);
  assert.ok(sameWeights(await weightsOf(fresh), want), "a good file still loads after the fuzzing");
  (await loadKerasModel(new URL("../../shared/fixtures/keras/dense_imdb.h5", import.meta.url).pathname)).dispose();
  fresh.dispose();
  model.dispose();
}

async function fuzzZip(cases: number) {
  const files = [
    { name: "PetImages/Cat/0.jpg", data: crypto.getRandomValues(new Uint8Array(3000)) },
    { name: "PetImages/Dog/0.jpg", data: new TextEncoder().encode("woof ".repeat(400)) },
    { name: "stored.txt", data: new TextEncoder().encode("stored as is"), compress: false },
  ];
  const seed = zipFiles(files);
  const path = join(dir, "fuzz.zip");
  for (let i = 0; i < cases; i++) {
    const { kind, bytes } = mutate(seed);
    await Deno.writeFile(path, bytes);
    await fuzzCase("zip", `${kind} #${i}`, [DataError], async () => {
      const out = join(dir, `unzipped-${i}`);
      try {
        // ZIP has no checksum of names or flags: an entry may come out renamed, or be left packed with its
        // reason (a flipped method or size); but every entry is accounted for, and no byte of one is wrong.
        const { files: names, skipped } = await unpackZip(path, out);
        if (names.length + skipped.length !== files.length) {
          return `${names.length + skipped.length} entries of ${files.length}`;
        }
        for (const name of names) {
          const got = await Deno.readFile(join(out, name));
          if (!files.some((f) => got.length === f.data.length && got.every((b, j) => b === f.data[j]))) {
            return `${name} unpacked to bytes no entry had`;
          }
        }
        return "correct";
      } finally {
        await Deno.remove(out, { recursive: true }).catch(() => {});
      }
    });
  }
}

async function fuzzLoadModel(cases: number) {
  const model = smallNet();
  const want = await weightsOf(model);
  const saved = await saveModel(model, "fuzz_model", { h5: false });
  const originals = new Map<string, Uint8Array>();
  for (const name of ["model.json", "weights.bin", "manifest.json"]) {
    originals.set(name, await Deno.readFile(join(saved.dir, name)));
  }
  const names = [...originals.keys()];
  for (let i = 0; i < cases; i++) {
    const name = names[i % names.length];
    const { kind, bytes } = mutate(originals.get(name)!);
    await Deno.writeFile(join(saved.dir, name), bytes);
    await fuzzCase("loadModel", `${name} ${kind} #${i}`, [ModelFileError], async () => {
      const loaded = await loadModel("fuzz_model");
      const got = await weightsOf(loaded);
      loaded.dispose();
      return sameWeights(got, want) ? "correct" : "loaded different weights";
    });
    await Deno.writeFile(join(saved.dir, name), originals.get(name)!);
  }
  model.dispose();
}

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

async function fuzzIdx(cases: number) {
  const seeds = [
    idx([20], Uint8Array.from({ length: 20 }, (_, i) => i % 10)),
    idx([3, 28, 28], Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => (i * 7) & 255)),
  ];
  for (let i = 0; i < cases; i++) {
    const seed = seeds[i % seeds.length];
    // Most damage in the header, where the parser decides.
    const { kind, bytes } = mutate(seed, random() < 0.7 ? [0, Math.min(seed.length, 16)] : undefined);
    await fuzzCase("idx", `${kind} #${i}`, [DataError], () => {
      const { dims, data } = parseIdx(bytes, "fuzz.idx");
      // IDX has no checksum: a parse is correct when the data fits the header exactly.
      const size = dims.reduce((a, b) => a * b, 1);
      return Promise.resolve(size === data.length ? "correct" : `dims ${dims} but ${data.length} values`);
    });
  }
}

/** A checkpoint's header line replaced by `header` (JSON text), with its integrity record made to match. */
function withHeader(seed: Uint8Array, header: string): Uint8Array {
  const second = seed.indexOf(10, seed.indexOf(10) + 1), third = seed.indexOf(10, second + 1);
  const rest = new Uint8Array([...new TextEncoder().encode(header + "\n"), ...seed.subarray(third + 1)]);
  const sha256 = createHash("sha256").update(rest).digest("hex");
  return new Uint8Array([
    ...new TextEncoder().encode(`CH5CKPT2\n{"size":${rest.length},"sha256":"${sha256}"}\n`),
    ...rest,
  ]);
}

async function fuzzCheckpoint(cases: number) {
  const model = smallNet();
  model.compile({ optimizer: tf.train.rmsprop(0.01), loss: "meanSquaredError" });
  await model.fit(tf.ones([4, 4]), tf.ones([4, 2]), { epochs: 1, verbose: 0 });
  const want = await weightsOf(model);
  const state = { epochsDone: 1, epochs: 2, history: { epoch: [0], history: { loss: [1] }, seconds: [1] } };
  const path = await saveCheckpoint("fuzz", model, state);
  const seed = await Deno.readFile(path);
  const second = seed.indexOf(10, seed.indexOf(10) + 1), third = seed.indexOf(10, second + 1);
  const header = new TextDecoder().decode(seed.subarray(second + 1, third));
  for (let i = 0; i < cases; i++) {
    // Truncations and bit flips anywhere, and headers damaged but carrying a matching integrity record.
    const { kind, bytes } = i % 3 === 2
      ? {
        kind: "bad header",
        bytes: withHeader(seed, new TextDecoder().decode(mutate(new TextEncoder().encode(header)).bytes)),
      }
      : mutate(seed);
    await Deno.writeFile(path, bytes);
    await fuzzCase("checkpoint", `${kind} #${i}`, [CheckpointError], async () => {
      const fresh = smallNet();
      fresh.compile({ optimizer: tf.train.rmsprop(0.01), loss: "meanSquaredError" });
      const before = await weightsOf(fresh);
      try {
        await loadCheckpoint("fuzz", fresh);
      } catch (err) {
        const untouched = sameWeights(await weightsOf(fresh), before);
        fresh.dispose();
        if (!untouched) return "a refused checkpoint changed the weights";
        throw err;
      }
      const got = await weightsOf(fresh);
      fresh.dispose();
      return sameWeights(got, want) ? "correct" : "loaded different weights";
    });
  }
  await Deno.writeFile(path, seed);
  assert.ok(checkpointPath("fuzz") === path && await loadCheckpoint("fuzz", model), "the good checkpoint still loads");
  model.dispose();
}

Deno.test("fuzz: damaged inputs to loadImg, the .h5 loaders, the ZIP reader, loadModel, the IDX reader and checkpoints end in typed errors or correct results", async () => {
  const warn = console.warn;
  console.warn = () => {}; // loaders' warnings (e.g. skipped layers) are not what is tested here
  try {
    await withEnv("CH5_DATA_DIR", join(dir, "data"), async () => {
      await fuzzLoadImg(300);
      await fuzzH5(60);
      await fuzzZip(300);
      await fuzzLoadModel(150);
      await fuzzIdx(400);
      await fuzzCheckpoint(150);
    });
  } finally {
    console.warn = warn;
    await Deno.remove(dir, { recursive: true });
  }
  let total = 0;
  const parts: string[] = [];
  const byType = new Map<string, number>();
  for (const [reader, m] of outcomes) {
    const n = [...m.values()].reduce((a, b) => a + b, 0);
    total += n;
    parts.push(`${reader} ${n}`);
    for (const [outcome, k] of m) byType.set(outcome, (byType.get(outcome) ?? 0) + k);
  }
  const types = [...byType].filter(([k]) => !k.startsWith("UNEXPECTED")).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(
    `fuzz (seed ${SEED}): ${total} inputs tried (${
      parts.join(", ")
    }); outcomes: ${types}; ${unexpected.length} unexpected`,
  );
  assert.deepEqual(unexpected, [], `unexpected outcomes:\n${unexpected.join("\n")}`);
});

/**
 * The workbook's part of `deno task bench` (the engine's part, training and
 * inference against PyTorch, is `engine/bench/bench.ts`): how fast the
 * pictures reach the model.
 *
 * - JPEG decoding and resizing to 150×150 with `loadImg` (sharp/libvips), one
 *   at a time and a few at once;
 * - `flowFromDirectory` with model 2's augmentation (listing 5.11, batch 32)
 *   alone, and model 2 training fed by it against the same training on one
 *   fixed batch.
 *
 * Prints a table and merges `pipeline` into `data/results/bench.json`.
 * `CH5_BENCH_SECONDS` (default 10) is the time each timed loop runs for.
 *
 * @example
 * ```sh
 * deno run -A bench/pipeline.ts
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import { initBackend } from "@ch5/engine";
import { smallConvnet } from "../lib/models/small_convnet.ts";
import { loadImg } from "../lib/preprocessing/image.ts";
import { imageDataGenerator } from "../lib/preprocessing/image_data_generator.ts";
import { dataPath } from "../lib/io/profile.ts";

const SECONDS = Number(Deno.env.get("CH5_BENCH_SECONDS") ?? 10);
const BATCH = 32;
/** Model 2's augmentation (listing 5.11). */
const AUGMENTATION = {
  rescale: 1 / 255,
  rotationRange: 40,
  widthShiftRange: 0.2,
  heightShiftRange: 0.2,
  shearRange: 0.2,
  zoomRange: 0.2,
  horizontalFlip: true,
};

/** Seconds per call of `fn` over about {@link SECONDS}, at least 3 calls. */
async function perCall(fn: () => Promise<void>): Promise<number> {
  let calls = 0;
  const start = performance.now();
  while (calls < 3 || performance.now() - start < SECONDS * 1000) {
    await fn();
    calls++;
  }
  return (performance.now() - start) / 1000 / calls;
}

/** The split's training cats, else the shared copy beside the checkout. */
async function catsFolder(): Promise<string | undefined> {
  const shared = new URL("../../shared/datasets/cats_and_dogs_small/train/cats", import.meta.url).pathname;
  for (const dir of [dataPath("cats_and_dogs_small", "train", "cats"), shared]) {
    if (await Deno.stat(dir).then((s) => s.isDirectory, () => false)) return dir;
  }
  return undefined;
}

async function jpegDecodeResize(dir: string) {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && /\.jpe?g$/i.test(e.name)) files.push(join(dir, e.name));
  const sample = files.sort().slice(0, 200);
  const decode = (f: string) => loadImg(f, { targetSize: [150, 150] });
  await decode(sample[0]);
  let start = performance.now();
  for (const f of sample) await decode(f);
  const sequential = sample.length / ((performance.now() - start) / 1000);
  const parallel = navigator.hardwareConcurrency;
  start = performance.now();
  for (let i = 0; i < sample.length; i += parallel) await Promise.all(sample.slice(i, i + parallel).map(decode));
  return { imagesPerSec: sample.length / ((performance.now() - start) / 1000), sequentialImagesPerSec: sequential };
}

async function inputPipeline(trainDir: string) {
  const flow = async () => {
    const log = console.log;
    console.log = () => {}; // "Found 2000 images belonging to 2 classes."
    try {
      return await imageDataGenerator(AUGMENTATION).flowFromDirectory(trainDir, {
        targetSize: [150, 150],
        batchSize: BATCH,
        classMode: "binary",
        seed: 1,
      });
    } finally {
      console.log = log;
    }
  };
  const alone = await flow();
  const next = async (it: typeof alone) => {
    const { xs, ys } = await it.next();
    return [xs, ys!] as [tf.Tensor, tf.Tensor];
  };
  tf.dispose(await next(alone));
  const aloneTime = await perCall(async () => tf.dispose(await next(alone)));
  const model = smallConvnet({ dropout: true });
  model.compile({ optimizer: tf.train.rmsprop(1e-4), loss: "binaryCrossentropy" });
  const [xs, ys] = await next(alone);
  const fixed = await perCall(async () => void await model.trainOnBatch(xs, ys));
  tf.dispose([xs, ys]);
  const fed = await flow();
  const fedTime = await perCall(async () => {
    const batch = await next(fed);
    await model.trainOnBatch(batch[0], batch[1]);
    tf.dispose(batch);
  });
  return {
    aloneImagesPerSec: BATCH / aloneTime,
    trainFixedBatchImagesPerSec: BATCH / fixed,
    trainFedImagesPerSec: BATCH / fedTime,
  };
}

if (import.meta.main) {
  const cats = await catsFolder();
  if (!cats) {
    console.log("pipeline bench skipped: no cats_and_dogs_small/train/cats folder (run `deno task data`)");
  } else {
    const report = await initBackend();
    const jpeg = await jpegDecodeResize(cats);
    const pipeline = await inputPipeline(dirname(cats));
    const f = (v: number) => v.toFixed(1);
    console.log(`\n${report.line}`);
    console.log(
      `JPEG decode + resize 150×150: ${f(jpeg.imagesPerSec)} img/s (one at a time ${f(jpeg.sequentialImagesPerSec)})`,
    );
    console.log(
      `flowFromDirectory with model 2's augmentation, batch ${BATCH}, alone: ${f(pipeline.aloneImagesPerSec)} img/s`,
    );
    console.log(
      `model 2 training fed by it: ${f(pipeline.trainFedImagesPerSec)} img/s; ` +
        `on one fixed batch: ${f(pipeline.trainFixedBatchImagesPerSec)} img/s`,
    );
    const path = dataPath("results", "bench.json");
    const record = await Deno.readTextFile(path).then(JSON.parse, () => ({}));
    record.pipeline = { backend: report.name, batch: BATCH, jpeg, ...pipeline, folder: dirname(cats) };
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, JSON.stringify(record, null, 2) + "\n");
    console.log(`wrote ${path}`);
  }
}

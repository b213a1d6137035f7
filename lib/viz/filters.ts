/**
 * Section 5.4.2: visualise convnet filters by gradient ascent in input space.
 * Start from a grey picture with a little noise and climb the gradient of one
 * filter's mean activation, normalised by its RMS (the book's listings
 * 5.32–5.38).
 *
 * Two things keep it fast on a CPU: the model is cut at the target layer
 * (only the layers up to it run), and several filters climb at once, one per
 * batch element: the loss is the sum over the batch of each element's own
 * filter mean, so each element's gradient is that of its own filter. When the
 * target is a Conv2D layer, only the filters being climbed are computed in
 * it.
 *
 * @example
 * ```ts
 * import { filterGrid, filterPattern } from "./filters.ts";
 * import { smallConvnet } from "../models/convnets.ts";
 * const model = smallConvnet(); // the book uses VGG16 (block3_conv1, …)
 * const { image, lossBefore, lossAfter } = await filterPattern(model, "conv2d_3", 0);
 * const { png } = await filterGrid(model, "conv2d_2"); // 8×8 patterns, 547×547 px
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { addTitle, encodePng, type RawImage, tileGrid } from "./image.ts";
import { runLayers, splitAt } from "../models/submodel.ts";

/** Options of {@link filterPattern} and {@link filterPatterns}. */
export interface FilterPatternOptions {
  /** Side of the generated picture in pixels (default 150, the book's). */
  size?: number;
  /** Gradient ascent steps (default 40). */
  steps?: number;
  /** Step size applied to the RMS-normalised gradient (default 1). */
  stepSize?: number;
  /** Seed of the starting noise; filter `i` uses `seed + i`, so results do not depend on batching. */
  seed?: number;
  /** Filters climbed at once, one per batch element (default 16). */
  batchSize?: number;
  /** Called after each batch with the filters done so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** One filter's pattern. */
export interface FilterPattern {
  filterIndex: number;
  /** The deprocessed picture, RGB uint8 HWC. */
  image: RawImage;
  /** The filter's mean activation on the starting picture. */
  lossBefore: number;
  /** The filter's mean activation on the final picture. */
  lossAfter: number;
}

/**
 * Turn a generated input into a displayable picture, as the book's
 * `deprocess_image`: x − mean, / (std + 1e-5), ×0.1, +0.5, clip to [0, 1],
 * ×255, truncated to integers. Statistics are per picture when `x` is a batch
 * (rank 4). Returns an int32 tensor of values 0–255.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { deprocessImage } from "./filters.ts";
 * const img = deprocessImage(tf.randomNormal([64, 64, 3])); // int32, 0..255
 * ```
 */
export function deprocessImage(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const axes = x.rank === 4 ? [1, 2, 3] : undefined;
    const { mean, variance } = tf.moments(x, axes, true);
    const y = x.sub(mean).div(variance.sqrt().add(1e-5)).mul(0.1).add(0.5).clipByValue(0, 1).mul(255);
    return y.floor().cast("int32");
  });
}

type Layer = tf.layers.Layer;

function props(layer: Layer): Record<string, any> {
  return layer as unknown as Record<string, any>;
}

function isConv2d(layer: Layer): boolean {
  return layer.getClassName() === "Conv2D" && props(layer).dataFormat === "channelsLast";
}

/**
 * A channels-last Conv2D layer's function, unfused: tfjs-layers runs the fused
 * conv2d op, whose gradient always computes the kernel's gradient as well;
 * the plain ops leave it out when only the input's gradient is asked for.
 */
function convOp(layer: Layer, x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const l = props(layer);
  let y: tf.Tensor = tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, l.strides, l.padding, "NHWC", l.dilationRate);
  if (bias) y = y.add(bias);
  return l.activation ? l.activation.apply(y) : y;
}

function runForInputGrad(layers: Layer[], x: tf.Tensor): tf.Tensor {
  let y = x;
  for (const layer of layers) {
    const l = props(layer);
    y = isConv2d(layer) ? convOp(layer, y, l.kernel.read(), l.bias?.read()) : runLayers([layer], y);
  }
  return y;
}

/**
 * What gradient ascent climbs for a batch of filters, one per element:
 * `forward(x)` gives an output `y` (B, …), and `weights` (the shape of `y`)
 * is the derivative of the total loss with respect to `y`, a constant: each
 * element's own filter over its spatial size. The per-element losses are
 * `sum(y · weights)` over the non-batch axes, and the input gradient is the
 * vector-Jacobian product of `forward` with `weights`, so no loss op (and no
 * slow broadcasting in its gradient) is differentiated.
 */
interface Climber {
  forward(x: tf.Tensor): tf.Tensor;
  /** The constant d(loss)/dy for an output of shape `shape`; built once. */
  weights(shape: number[]): tf.Tensor;
  dispose(): void;
}

/**
 * Build the climber of `filterIndices` at `layerName`. For a channels-last
 * Conv2D target, each element computes only its own filter (one-output
 * convolutions on that element), which saves most of the target layer's work.
 */
function climber(model: tf.LayersModel, layerName: string, filterIndices: number[]): Climber {
  const { base, layer } = splitAt(model, layerName);
  const shape = layer.outputShape as (number | null)[];
  if (!Array.isArray(shape) || Array.isArray(shape[0])) {
    throw new Error(`layer ${layerName} has several outputs; pick a layer with one output.`);
  }
  const filters = shape[shape.length - 1] as number;
  for (const i of filterIndices) {
    if (!Number.isInteger(i) || i < 0 || i >= filters) {
      throw new RangeError(
        `layer ${layerName} has ${filters} filters (0 to ${filters - 1}); filter ${i} does not exist.`,
      );
    }
  }
  const b = filterIndices.length;
  let weights: tf.Tensor | undefined;
  const spatialOf = (s: number[]) => s.slice(1, -1).reduce((p, d) => p * d, 1);
  if (isConv2d(layer)) {
    const l = props(layer);
    const before = base.slice(0, -1);
    const kernels = tf.tidy(() => filterIndices.map((i) => tf.gather(l.kernel.read() as tf.Tensor4D, [i], 3)));
    const biases = l.useBias ? tf.tidy(() => filterIndices.map((i) => tf.gather(l.bias.read(), [i]))) : undefined;
    return {
      forward: (x) => {
        const h = runForInputGrad(before, x);
        const parts = b === 1 ? [h] : tf.split(h, b, 0);
        return tf.concat(parts.map((p, j) => convOp(layer, p, kernels[j], biases?.[j])), 0);
      },
      weights: (s) => weights ??= tf.keep(tf.fill(s, 1 / spatialOf(s))),
      dispose: () => tf.dispose([...kernels, ...(biases ?? []), ...(weights ? [weights] : [])]),
    };
  }
  return {
    forward: (x) => runForInputGrad(base, x),
    weights: (s) =>
      weights ??= tf.keep(tf.tidy(() => {
        const mask = tf.oneHot(filterIndices, filters).toFloat().div(spatialOf(s));
        return mask.reshape([b, ...s.slice(1, -1).map(() => 1), filters]).mul(tf.ones(s));
      })),
    dispose: () => weights?.dispose(),
  };
}

/** Each element's own-filter mean activation, and the shape of the climbed output. */
async function lossesOf(climb: Climber, x: tf.Tensor): Promise<{ losses: number[]; shape: number[] }> {
  let shape: number[] = [];
  const losses = tf.tidy(() => {
    const y = climb.forward(x);
    shape = y.shape;
    return y.mul(climb.weights(y.shape)).sum(y.shape.slice(1).map((_, i) => i + 1));
  });
  const values = await losses.data();
  losses.dispose();
  return { losses: Array.from(values), shape };
}

/**
 * Gradient ascent for several filters of one layer, `batchSize` at a time.
 * Equivalent to calling {@link filterPattern} for each, only faster.
 *
 * @example
 * ```ts
 * import { filterPatterns } from "./filters.ts";
 * import { smallConvnet } from "../models/convnets.ts";
 * const patterns = await filterPatterns(smallConvnet(), "conv2d_1", [0, 1, 2, 3], { size: 64, seed: 1 });
 * ```
 */
export async function filterPatterns(
  model: tf.LayersModel,
  layerName: string,
  filterIndices: number[],
  options: FilterPatternOptions = {},
): Promise<FilterPattern[]> {
  const size = options.size ?? 150;
  const steps = options.steps ?? 40;
  const stepSize = options.stepSize ?? 1;
  const batchSize = Math.max(1, options.batchSize ?? 16);
  const channels = model.inputs[0].shape[3] ?? 3;
  const pixels = size * size * channels;
  const results: FilterPattern[] = [];
  for (let start = 0; start < filterIndices.length; start += batchSize) {
    const batch = filterIndices.slice(start, start + batchSize);
    const shape: [number, number, number, number] = [batch.length, size, size, channels];
    const climb = climber(model, layerName, batch);
    try {
      // The input lives in JS: the RMS normalisation and update are per-element
      // loops, cheaper than broadcasting ops on the cpu backend.
      const x = new Float32Array(batch.length * pixels);
      batch.forEach((i, j) => {
        const seed = options.seed === undefined ? undefined : options.seed + i;
        const noise = tf.randomUniform([pixels], 0, 20, "float32", seed);
        x.set(noise.dataSync().map((v) => v + 128), j * pixels);
        noise.dispose();
      });
      const gradOf = tf.grad((t: tf.Tensor) => climb.forward(t));
      const before = await withTensor(x, shape, (t) => lossesOf(climb, t));
      for (let s = 0; s < steps; s++) {
        const g = await withTensor(x, shape, async (t) => {
          const grad = tf.tidy(() => gradOf(t, climb.weights(before.shape)));
          const values = await grad.data();
          grad.dispose();
          return values;
        });
        for (let j = 0; j < batch.length; j++) {
          const o = j * pixels;
          let sq = 0;
          for (let k = o; k < o + pixels; k++) sq += g[k] * g[k];
          const scale = stepSize / (Math.sqrt(sq / pixels) + 1e-5);
          for (let k = o; k < o + pixels; k++) x[k] += g[k] * scale;
        }
        // Let other work (Jupyter output, timers) run between steps.
        await new Promise((r) => setTimeout(r, 0));
      }
      const after = await withTensor(x, shape, (t) => lossesOf(climb, t));
      const images = await withTensor(x, shape, (t) => {
        const d = deprocessImage(t);
        const v = d.dataSync();
        d.dispose();
        return Promise.resolve(v);
      });
      batch.forEach((filterIndex, j) => {
        const data = Uint8Array.from(images.subarray(j * pixels, (j + 1) * pixels));
        const image: RawImage = { data, width: size, height: size, channels: channels as 1 | 3 | 4 };
        results.push({ filterIndex, image, lossBefore: before.losses[j], lossAfter: after.losses[j] });
      });
    } finally {
      climb.dispose();
    }
    options.onProgress?.(Math.min(start + batchSize, filterIndices.length), filterIndices.length);
  }
  return results;
}

async function withTensor<T>(data: Float32Array, shape: number[], f: (t: tf.Tensor) => Promise<T>): Promise<T> {
  const t = tf.tensor(data, shape);
  try {
    return await f(t);
  } finally {
    t.dispose();
  }
}

/**
 * The book's `generate_pattern`: the input that maximises one filter's mean
 * activation after `steps` of gradient ascent, deprocessed to a picture.
 *
 * @example
 * ```ts
 * import { filterPattern } from "./filters.ts";
 * import { smallConvnet } from "../models/convnets.ts";
 * const { image, lossBefore, lossAfter } = await filterPattern(smallConvnet(), "conv2d_3", 0, { size: 150 });
 * ```
 */
export async function filterPattern(
  model: tf.LayersModel,
  layerName: string,
  filterIndex: number,
  options: Omit<FilterPatternOptions, "batchSize" | "onProgress"> = {},
): Promise<FilterPattern> {
  const [pattern] = await filterPatterns(model, layerName, [filterIndex], options);
  return pattern;
}

/** Options of {@link filterGrid}. */
export interface FilterGridOptions extends FilterPatternOptions {
  /** How many filters, from `first` (default 64 = 8×8). */
  count?: number;
  /** The first filter (default 0). */
  first?: number;
  /** Tiles per row (default 8). */
  cols?: number;
  /** Pixels between tiles (default 5); no border, as the book's grid. */
  margin?: number;
  /** A line above the grid (e.g. the layer name); skipped where no font renders. */
  title?: string;
}

/** What {@link filterGrid} returns. */
export interface FilterGrid {
  png: Uint8Array;
  image: RawImage;
  patterns: FilterPattern[];
}

/**
 * The book's listing 5.38: the patterns of `count` filters of a layer on a
 * black grid, filter `i` at row `⌊i/cols⌋`, column `i mod cols`: 8×8 tiles of
 * 64 px with 5 px margins → 547×547 px (plus the title band).
 *
 * @example
 * ```ts
 * import { filterGrid } from "./filters.ts";
 * import { smallConvnet } from "../models/convnets.ts";
 * const { png } = await filterGrid(smallConvnet(), "conv2d_1", { count: 32, title: "conv2d_1" });
 * ```
 */
export async function filterGrid(
  model: tf.LayersModel,
  layerName: string,
  options: FilterGridOptions = {},
): Promise<FilterGrid> {
  const count = options.count ?? 64;
  const first = options.first ?? 0;
  const indices = Array.from({ length: count }, (_, i) => first + i);
  const patterns = await filterPatterns(model, layerName, indices, { size: 64, ...options });
  const grid = tileGrid(patterns.map((p) => p.image), { cols: options.cols ?? 8, margin: options.margin ?? 5 });
  const image = options.title ? await addTitle(grid, options.title) : grid;
  return { png: await encodePng(image), image, patterns };
}

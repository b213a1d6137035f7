/**
 * Training kernels for `@tensorflow/tfjs-backend-wasm`.
 *
 * The wasm backend runs inference fast (XNNPACK), but it cannot train a
 * convnet: it has no `Conv2DBackpropFilter` kernel, and its
 * `Conv2DBackpropInput`, `MaxPoolGrad`, transposed `BatchMatMul` and
 * leading-axes `Sum` are plain loops, 5–20× slower than XNNPACK work of the
 * same size. {@link registerWasmTrainingKernels} registers these kernels
 * for `wasm`, built from what the backend runs fast (XNNPACK convolutions and
 * products, pads, reverses, reshapes) plus a few plain loops over the wasm
 * heap where no fast kernel fits (transposes that move the innermost axis,
 * max-pool routing, row sums):
 *
 * - `Conv2DBackpropFilter`: dW is a convolution of the input, transposed to
 *   `[inC, H, W, batch]`, with the output gradient, transposed to
 *   `[outH, outW, batch, outC]`, as the filter, dilated by the stride; the
 *   result `[inC, fH, fW, outC]` is transposed to `[fH, fW, inC, outC]`.
 * - `Conv2DBackpropInput`: dX is a stride-1 convolution of the output
 *   gradient, dilated by the stride and padded by `filter - 1 - pad`, with the
 *   filter flipped in space and its channel axes swapped.
 * - `MaxPoolGrad`: one pass over the heap; each window's gradient goes to its
 *   first maximum, as on the cpu backend (branch-free for 2×2 pools).
 * - `BatchMatMul`: transposed operands are transposed first; where `b` is the
 *   larger operand, `(bᵀaᵀ)ᵀ` is computed so that XNNPACK packs the smaller
 *   one (a dense layer's kernel changes every training step, and packing it
 *   cost 10× the product).
 * - `Sum` over leading axes (bias gradients): one pass of row additions.
 * - `Identity`, and `Cast` to the same dtype: share the input's data (a
 *   reference count) instead of copying it.
 *
 * The other kernels the chapter's models train with (`Step` for ReLU,
 * sigmoid and cross-entropy, RMSprop's element-wise ops) are fast enough.
 * `deno task bench` measures the result.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-wasm";
 * import { registerWasmTrainingKernels } from "./wasm_training.ts";
 *
 * await tf.setBackend("wasm");
 * registerWasmTrainingKernels(); // ["Conv2DBackpropFilter", ..., "Sum", "Identity"]
 * const x = tf.randomNormal([2, 8, 8, 1]) as tf.Tensor4D;
 * const dw = tf.grad((w) => tf.conv2d(x, w as tf.Tensor4D, 1, "same").sum())(tf.randomNormal([3, 3, 1, 4]));
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  BACKEND,
  heapViews,
  type KernelArgs,
  type KernelFunc,
  replaceKernels,
  type TensorInfo,
  type WasmBackend,
} from "./wasm_heap.ts";

type Attrs = Record<string, unknown>;

/** A float32 view of a tensor's data on the wasm heap; fetch it after the last allocation. */
function heap(backend: tf.KernelBackend, info: TensorInfo): Float32Array {
  return heapViews(backend as unknown as WasmBackend, info)[0];
}

/** The tensors a kernel reads, by input name (every input of these kernels is given). */
function inputsOf(args: KernelArgs): Record<string, TensorInfo> {
  return args.inputs as Record<string, TensorInfo>;
}

/**
 * `dst[b][j][i][e] = src[b][i][j][e]` for `src` of shape `[batch, rows, cols, block]`:
 * the transpose of each `rows × cols` matrix of `block`-sized elements, in
 * cache-sized tiles. Much faster than the wasm Transpose kernel when the
 * innermost axis moves (that one copies element by element with index maths).
 */
export function transposeTiles(
  src: Float32Array,
  dst: Float32Array,
  batch: number,
  rows: number,
  cols: number,
  block = 1,
): void {
  const T = block === 1 ? 32 : Math.max(1, Math.floor(32 / block));
  const plane = rows * cols * block;
  for (let b = 0; b < batch; b++) {
    const base = b * plane;
    for (let i0 = 0; i0 < rows; i0 += T) {
      const i1 = Math.min(rows, i0 + T);
      for (let j0 = 0; j0 < cols; j0 += T) {
        const j1 = Math.min(cols, j0 + T);
        if (block === 1) {
          for (let i = i0; i < i1; i++) {
            let from = base + i * cols + j0;
            let to = base + j0 * rows + i;
            for (let j = j0; j < j1; j++, from++, to += rows) dst[to] = src[from];
          }
        } else {
          for (let i = i0; i < i1; i++) {
            for (let j = j0; j < j1; j++) {
              const from = base + (i * cols + j) * block;
              const to = base + (j * rows + i) * block;
              for (let e = 0; e < block; e++) dst[to + e] = src[from + e];
            }
          }
        }
      }
    }
  }
}

/** The stock wasm kernels that this module replaces, kept to fall back on. */
let stock = new Map<string, KernelFunc>();

/**
 * Runs stock wasm kernels inside a kernel and frees their intermediate
 * outputs: the engine never sees them, so they cost no `tf.memory()` entry.
 */
class KernelScope {
  readonly #temps: TensorInfo[] = [];
  constructor(readonly backend: tf.KernelBackend) {}

  /** Run the wasm kernel `name`; its output is freed by {@link dispose} unless kept. */
  run(name: string, inputs: Record<string, TensorInfo>, attrs: Attrs = {}): TensorInfo {
    const kernel = stock.get(name) ?? tf.getKernel(name, BACKEND)?.kernelFunc as unknown as KernelFunc | undefined;
    if (!kernel) throw new Error(`wasm_training: the wasm backend has no '${name}' kernel to build on.`);
    const out = kernel({ inputs, backend: this.backend, attrs });
    if (Array.isArray(out)) throw new Error(`wasm_training: kernel '${name}' returned several outputs.`);
    this.#temps.push(out);
    return out;
  }

  /** Free `info`, made outside {@link run}, with the other temporaries. */
  track(info: TensorInfo): TensorInfo {
    this.#temps.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run("Reshape", { x }, { shape });
  }

  /**
   * Swap the two middle axes of `x` seen as `[batch, rows, cols, block]`,
   * giving `shape` (same size); a float32 transpose done in JavaScript on the heap.
   */
  swap(x: TensorInfo, batch: number, rows: number, cols: number, block: number, shape: number[]): TensorInfo {
    if (x.dtype !== "float32") throw new Error(`wasm_training: swap expects float32, got ${x.dtype}.`);
    const out = this.track((this.backend as unknown as WasmBackend).makeOutput(shape, "float32"));
    transposeTiles(heap(this.backend, x), heap(this.backend, out), batch, rows, cols, block);
    return out;
  }

  /** Keep `out` alive past {@link dispose}: it becomes the kernel's output. */
  keep(out: TensorInfo): TensorInfo {
    const i = this.#temps.lastIndexOf(out);
    if (i >= 0) this.#temps.splice(i, 1);
    return out;
  }

  dispose(): void {
    for (const t of this.#temps) this.backend.disposeData(t.dataId);
    this.#temps.length = 0;
  }
}

/** Run `body` in a fresh {@link KernelScope}; its return value is kept, everything else freed. */
function scoped(backend: tf.KernelBackend, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const s = new KernelScope(backend);
  try {
    return s.keep(body(s));
  } finally {
    s.dispose();
  }
}

function requireNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== "NHWC" && dataFormat !== "channelsLast") {
    throw new Error(
      `${kernel} on the wasm backend supports only NHWC (channels-last) data, got dataFormat=${dataFormat}. ` +
        `Use channels-last tensors, as the wasm Conv2D does.`,
    );
  }
}

/**
 * Remove `begin` rows/cols before and `end` after along axes 1 and 2 of a
 * NHWC tensor where these are negative pads (a crop); positive ones are left
 * to the caller.
 */
function crop(s: KernelScope, x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
  const cutTop = Math.max(0, -top), cutBottom = Math.max(0, -bottom);
  const cutLeft = Math.max(0, -left), cutRight = Math.max(0, -right);
  if (cutTop + cutBottom + cutLeft + cutRight === 0) return x;
  const [n, h, w, c] = x.shape;
  return s.run("Slice", { x }, {
    begin: [0, cutTop, cutLeft, 0],
    size: [n, h - cutTop - cutBottom, w - cutLeft - cutRight, c],
  });
}

/** The geometry of an NHWC, undilated 2-D convolution, as both gradient kernels read it from their attributes. */
function conv2DInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: Pick<tf.Conv2DBackpropInputAttrs, "strides" | "pad" | "dimRoundingMode">,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
}

/** dW of a 2-D convolution: see the module notes. */
function conv2DBackpropFilter(
  args: KernelArgs,
): TensorInfo {
  const { x, dy } = inputsOf(args);
  const { backend, attrs } = args;
  const { dataFormat, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  requireNHWC("Conv2DBackpropFilter", dataFormat);
  const info = conv2DInfo(x.shape, filterShape, attrs as unknown as tf.Conv2DBackpropFilterAttrs);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  return scoped(backend, (s) => {
    const [n, h, w, c] = x.shape;
    const [, oh, ow, oc] = dy.shape;
    // [N, H, W, inC] -> [H, W, inC, N] -> [inC, H, W, N]
    const xt = s.swap(s.swap(x, 1, n, h * w * c, 1, [h * w * c, n]), 1, h * w, c, n, [c, h, w, n]);
    const dyt = s.swap(dy, 1, n, oh * ow, oc, [oh, ow, n, oc]); // [outH, outW, N, outC]
    // Pads never need to exceed what the forward pass used; crop first where negative.
    const xc = crop(s, xt, padInfo.top, padInfo.bottom, padInfo.left, padInfo.right);
    let dw = s.run("Conv2D", { x: xc, filter: dyt }, {
      strides: [1, 1],
      dilations: [sh, sw],
      pad: [[0, 0], [Math.max(0, padInfo.top), Math.max(0, padInfo.bottom)], [
        Math.max(0, padInfo.left),
        Math.max(0, padInfo.right),
      ], [0, 0]],
      dataFormat: "NHWC",
    }); // [inC, >=fH, >=fW, outC]
    if (dw.shape[1] !== fh || dw.shape[2] !== fw) {
      dw = s.run("Slice", { x: dw }, { begin: [0, 0, 0, 0], size: [c, fh, fw, oc] });
    }
    return s.swap(dw, 1, c, fh * fw, oc, [fh, fw, c, oc]);
  });
}

/** dX of a 2-D convolution: see the module notes. */
function conv2DBackpropInput(
  args: KernelArgs,
): TensorInfo {
  const { dy, filter } = inputsOf(args);
  const { backend, attrs } = args;
  const { dataFormat, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  requireNHWC("Conv2DBackpropInput", dataFormat);
  const info = conv2DInfo(inputShape, filter.shape, attrs as unknown as tf.Conv2DBackpropInputAttrs);
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const [n, oh, ow, oc] = dy.shape;
  const [, h, w] = inputShape;
  return scoped(backend, (s) => {
    const flipped = s.run("Reverse", { x: filter }, { dims: [0, 1] });
    const wt = s.run("Transpose", { x: flipped }, { perm: [0, 1, 3, 2] }); // [fH, fW, outC, inC]
    let g = dy;
    if (sh > 1 || sw > 1) {
      // Insert stride-1 zeros after each row and column: [N, outH*sh, outW*sw, outC].
      const g6 = s.reshape(dy, [n, oh, 1, ow, 1, oc]);
      const padded = s.run("PadV2", { x: g6 }, {
        paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
        constantValue: 0,
      });
      g = s.reshape(padded, [n, oh * sh, ow * sw, oc]);
    }
    const top = fh - 1 - padInfo.top, left = fw - 1 - padInfo.left;
    const bottom = h + fh - 1 - top - g.shape[1], right = w + fw - 1 - left - g.shape[2];
    g = crop(s, g, top, bottom, left, right);
    return s.run("Conv2D", { x: g, filter: wt }, {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]],
      dataFormat: "NHWC",
    });
  });
}

/** Add `grad` at the first maximum (row-major, strictly greater) of one channel's window. */
function firstMax(
  x: Float32Array,
  dx: Float32Array,
  grad: number,
  start: number,
  rStart: number,
  rEnd: number,
  cStart: number,
  cEnd: number,
  rowStride: number,
  c: number,
): void {
  let best = -Infinity, at = -1;
  for (let r = rStart, row = start; r < rEnd; r++, row += rowStride) {
    for (let col = cStart, q = row; col < cEnd; col++, q += c) {
      const v = x[q];
      if (v > best) {
        best = v;
        at = q;
      }
    }
  }
  if (at >= 0) dx[at] += grad;
}

/**
 * The gradient of a 2-D max-pool: each window's output gradient goes to the
 * window's first maximum (row-major, as the cpu backend picks it), summed
 * where windows overlap. A direct loop over the wasm heap: one read of the
 * input per window element, one write per gradient.
 */
function maxPoolGrad(args: KernelArgs): TensorInfo {
  const { dy, input } = inputsOf(args);
  const { backend, attrs } = args;
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  if (input.dtype !== "float32" || dy.dtype !== "float32") {
    return stock.get("MaxPoolGrad")!(args) as TensorInfo;
  }
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, padInfo } = info;
  const out = (backend as unknown as WasmBackend).makeOutput(input.shape, "float32");
  const x = heap(backend, input), g = heap(backend, dy), dx = heap(backend, out);
  const rowStride = w * c;
  const tiles2x2 = fh === 2 && fw === 2 && sh === 2 && sw === 2 && padInfo.top === 0 && padInfo.left === 0 &&
    2 * oh <= h && 2 * ow <= w;
  if (!tiles2x2 || 2 * oh !== h || 2 * ow !== w) dx.fill(0);
  let gi = 0;
  for (let b = 0; b < batchSize; b++) {
    const plane = b * h * rowStride;
    for (let i = 0; i < oh; i++) {
      const r0 = i * sh - padInfo.top;
      const rStart = Math.max(0, r0), rEnd = Math.min(h, r0 + fh);
      for (let j = 0; j < ow; j++) {
        const c0 = j * sw - padInfo.left;
        const cStart = Math.max(0, c0), cEnd = Math.min(w, c0 + fw);
        const corner = plane + rStart * rowStride + cStart * c;
        if (tiles2x2) {
          // The chapter's 2×2 pools: branch-free (random maxima defeat branch prediction).
          const qb = corner + c, qc = corner + rowStride, qd = qc + c;
          for (let k = 0; k < c; k++, gi++) {
            const va = x[corner + k], vb = x[qb + k], vc = x[qc + k], vd = x[qd + k];
            const m = Math.max(Math.max(va, vb), Math.max(vc, vd));
            if (m > -Infinity) {
              const gv = g[gi];
              const ia = +(va === m), ib = +(vb === m) * (1 - ia);
              const ic = +(vc === m) * (1 - ia) * (1 - ib), id = (1 - ia) * (1 - ib) * (1 - ic);
              dx[corner + k] = ia * gv;
              dx[qb + k] = ib * gv;
              dx[qc + k] = ic * gv;
              dx[qd + k] = id * gv;
              continue;
            }
            // NaN or all -Infinity: the general rule below (no gradient, or the first non-NaN maximum).
            dx[corner + k] =
              dx[qb + k] =
              dx[qc + k] =
              dx[qd + k] =
                0;
            firstMax(x, dx, g[gi], corner + k, rStart, rEnd, cStart, cEnd, rowStride, c);
          }
        } else {
          for (let k = 0; k < c; k++, gi++) {
            firstMax(x, dx, g[gi], corner + k, rStart, rEnd, cStart, cEnd, rowStride, c);
          }
        }
      }
    }
  }
  return out;
}

/**
 * `BatchMatMul`. The stock kernel multiplies with XNNPACK only untransposed
 * single matrices, and packs (copies and reorders) `b` as XNNPACK weights on
 * each new `b`: cheap for a layer's weights at inference, where they stay the
 * same, but in training they change every step, and packing a 6272×512 dense
 * kernel costs 10× the product itself. Here transposed operands are
 * transposed first, and where `b` is the larger operand the product is
 * computed as `(bᵀ aᵀ)ᵀ`, so that XNNPACK packs the small one. Batched
 * products (rank-3 with batch > 1) use the stock kernel.
 */
function batchMatMul(args: KernelArgs): TensorInfo {
  const { a, b } = inputsOf(args);
  const { backend, attrs } = args;
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  const plain = stock.get("BatchMatMul")!;
  const ra = a.shape.length, rb = b.shape.length;
  const batchA = a.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  if (a.dtype !== "float32" || b.dtype !== "float32" || batchA !== 1 || batchB !== 1) {
    return plain(args) as TensorInfo;
  }
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outShape = [...(ra >= rb ? a.shape : b.shape).slice(0, -2), m, n];
  const swapRoles = n > m && k * n >= 16384;
  if (!swapRoles && !transposeA && !transposeB) return plain(args) as TensorInfo;
  return scoped(backend, (s) => {
    const mul = (x: TensorInfo, y: TensorInfo): TensorInfo =>
      s.track(
        plain({
          inputs: { a: x, b: y },
          backend,
          attrs: { ...attrs, transposeA: false, transposeB: false },
        }) as TensorInfo,
      );
    // rows×cols matrix `t` -> its transpose, as [1, cols, rows].
    const flip = (t: TensorInfo, rows: number, cols: number): TensorInfo =>
      s.swap(t, 1, rows, cols, 1, [1, cols, rows]);
    const as3 = (t: TensorInfo, rows: number, cols: number): TensorInfo => s.reshape(t, [1, rows, cols]);
    if (!swapRoles) {
      const a2 = transposeA ? flip(a, k, m) : as3(a, m, k);
      const b2 = transposeB ? flip(b, n, k) : as3(b, k, n);
      return s.reshape(mul(a2, b2), outShape);
    }
    // (a b)ᵀ = bᵀ aᵀ: XNNPACK's input is bᵀ [n, k], its packed weights aᵀ [k, m].
    const bt = transposeB ? as3(b, n, k) : flip(b, k, n);
    const at = transposeA ? as3(a, k, m) : flip(a, m, k);
    return s.reshape(flip(mul(bt, at), n, m), outShape);
  });
}

/**
 * `Sum` of float32 tensors over leading axes (a bias gradient sums
 * `[N, H, W, C]` over N, H and W) or trailing ones (a loss, a row sum, the
 * whole tensor), accumulated in float64 as the cpu backend does: the stock
 * kernel accumulates in float32, so a sum stops growing at 2²⁴ (16,777,216
 * ones sum to 16,777,216 however many there are), and for leading axes it
 * first moves them innermost, element by element. Other sums use the stock
 * kernel.
 */
function sum(args: KernelArgs): TensorInfo {
  const { x } = inputsOf(args);
  const { backend, attrs } = args;
  const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  const k = axes.length;
  const leading = k > 0 && k < rank && axes.every((v, i) => v === i);
  const trailing = k > 0 && axes.every((v, i) => v === rank - k + i);
  if (x.dtype !== "float32" || !(leading || trailing)) return stock.get("Sum")!(args) as TensorInfo;
  const outShape = keepDims
    ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
    : x.shape.filter((_, i) => !axes.includes(i));
  const out = (backend as unknown as WasmBackend).makeOutput(outShape, "float32");
  const src = heap(backend, x);
  if (leading) {
    const cols = tf.util.sizeFromShape(x.shape.slice(k)), acc = new Float64Array(cols);
    for (let base = 0; base < src.length; base += cols) {
      for (let c = 0; c < cols; c++) acc[c] += src[base + c];
    }
    heap(backend, out).set(acc);
  } else {
    const size = tf.util.sizeFromShape(x.shape.slice(rank - k)), dst = heap(backend, out);
    for (let r = 0, base = 0; r < dst.length; r++, base += size) {
      let acc = 0;
      for (let i = base; i < base + size; i++) acc += src[i];
      dst[r] = acc;
    }
  }
  return out;
}

/**
 * `Identity` without a copy: the output shares the input's heap data, whose
 * reference count goes up (as on the cpu backend). No wasm kernel writes into
 * its inputs, so sharing is safe; the stock kernel copied every byte.
 */
function identity(args: KernelArgs): TensorInfo {
  const { x } = inputsOf(args);
  const { backend } = args;
  if ((x.dtype as string) === "string") {
    return stock.get("Identity")!(args) as TensorInfo;
  }
  (backend as unknown as { incRef(dataId: unknown): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** `Cast` to the dtype a tensor already has shares its data, as {@link identity} does; other casts run the stock kernel. */
function cast(args: KernelArgs): TensorInfo {
  const { x } = inputsOf(args);
  const { attrs } = args;
  if ((attrs as unknown as tf.CastAttrs).dtype !== x.dtype || (x.dtype as string) === "string") {
    return stock.get("Cast")!(args) as TensorInfo;
  }
  return identity(args);
}

/**
 * `ClipByValue` that keeps NaN, as the cpu backend and TensorFlow do: the
 * stock kernel's clamp turns NaN into a bound, so binary cross-entropy, which
 * clips its predictions, reported a finite loss for a model gone NaN.
 */
function clipByValue(args: KernelArgs): TensorInfo {
  const { x } = inputsOf(args);
  const { backend, attrs } = args;
  if (x.dtype !== "float32") {
    return stock.get("ClipByValue")!(args) as TensorInfo;
  }
  const { clipValueMin: min, clipValueMax: max } = attrs as unknown as tf.ClipByValueAttrs;
  const out = (backend as unknown as WasmBackend).makeOutput(x.shape, "float32");
  const src = heap(backend, x), dst = heap(backend, out);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    dst[i] = v > max ? max : v < min ? min : v;
  }
  return out;
}

const KERNELS: { name: string; kernelFunc: typeof conv2DBackpropFilter }[] = [
  { name: "Conv2DBackpropFilter", kernelFunc: conv2DBackpropFilter },
  { name: "Conv2DBackpropInput", kernelFunc: conv2DBackpropInput },
  { name: "MaxPoolGrad", kernelFunc: maxPoolGrad },
  { name: "BatchMatMul", kernelFunc: batchMatMul },
  { name: "Sum", kernelFunc: sum },
  { name: "Identity", kernelFunc: identity },
  { name: "Cast", kernelFunc: cast },
  { name: "ClipByValue", kernelFunc: clipByValue },
];

let registered: string[] | undefined;

/**
 * Register, once per process, the training kernels of this module for the
 * `wasm` backend, replacing the stock ones of the same name; returns their
 * names. Call it after importing `@tensorflow/tfjs-backend-wasm`, before or
 * after `tf.setBackend("wasm")`.
 */
export function registerWasmTrainingKernels(): string[] {
  if (registered) return [...registered];
  stock = replaceKernels(KERNELS.map(({ name, kernelFunc }) => [name, kernelFunc as unknown as KernelFunc]));
  registered = KERNELS.map((k) => k.name);
  return [...registered];
}

/**
 * oneDNN kernels for `@tensorflow/tfjs-backend-wasm`, working in place on the
 * wasm heap: {@link registerNativeKernels} replaces the wasm backend's
 * convolutions (forward, both gradients, fused bias and activation), dense
 * products, max pooling and its gradient, ReLU's gradient, leading-axes
 * `Sum`, and the large element-wise `Add`, `Multiply`, `Sub`, `Relu`,
 * `Square` and `Sqrt`; it runs a tfjs-layers `Conv2D` with bias and ReLU as
 * one fused kernel while training. Each kernel allocates its output with the
 * backend's allocator and hands oneDNN the addresses (`onednn.ts`); a case
 * oneDNN does not cover (dilations, NCHW, int32, PReLU, a shape it refuses)
 * runs the kernel registered before it.
 *
 * Right as tfjs is right: NaN and ±∞ come out where the cpu backend has them
 * ({@link allFinite}), and oneDNN implementations with known defects are
 * avoided (`onednn.ts`, `avoidFor`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Broadcast, ConvPass, ConvShape, Kernel, OneDnn, PoolShape } from "./onednn.ts";
import {
  BACKEND,
  heapOffset,
  heapViews,
  type KernelArgs,
  type KernelFunc,
  replaceKernels,
  type TensorInfo,
  type WasmBackend,
} from "./wasm_heap.ts";

let heapBuffer: ArrayBufferLike | undefined;
let heapBase = 0n;

/** The address of the wasm heap's first byte, read anew when the heap's buffer changed. */
function heapAddress(backend: WasmBackend): bigint {
  const buffer = backend.wasm.HEAPU8.buffer;
  if (buffer !== heapBuffer) {
    heapBase = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(new Uint8Array(buffer))));
    heapBuffer = buffer;
  }
  return heapBase;
}

function offset(backend: WasmBackend, info: TensorInfo): bigint {
  return BigInt(heapOffset(backend, info));
}

function allFloat(...infos: (TensorInfo | undefined)[]): boolean {
  return infos.every((t) => !t || (t.dtype === "float32" && t.shape.every((d) => d > 0)));
}

function channelsLast(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === "NHWC" || dataFormat === "channelsLast";
}

/** The window geometry that convolutions and pools share, from tfjs' own computation. */
function windowOf(info: tf.backend_util.Conv2DInfo) {
  const { padInfo } = info;
  // With dimRoundingMode "ceil" tfjs adds an output row or column that reaches past the input without saying so in
  // padInfo; oneDNN wants that reach as bottom/right padding (which max pooling skips and convolution adds as zeros).
  const reach = (out: number, stride: number, filter: number, input: number, before: number) =>
    (out - 1) * stride + filter - input - before;
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: padInfo.top,
    padLeft: padInfo.left,
    padBottom: Math.max(
      padInfo.bottom,
      reach(info.outHeight, info.strideHeight, info.filterHeight, info.inHeight, padInfo.top),
    ),
    padRight: Math.max(
      padInfo.right,
      reach(info.outWidth, info.strideWidth, info.filterWidth, info.inWidth, padInfo.left),
    ),
  };
}

/** The oneDNN geometry of a tfjs convolution, or undefined where oneDNN is not used (dilations, NCHW). */
function convShape(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: Record<string, unknown>,
): ConvShape | undefined {
  if (!channelsLast(attrs.dataFormat)) return undefined;
  const dilations = (attrs.dilations ?? 1) as number | [number, number];
  if (dilations !== 1 && !(Array.isArray(dilations) && dilations[0] === 1 && dilations[1] === 1)) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor" | undefined,
    false,
    "channelsLast",
  );
  return { ...windowOf(info), inChannels: info.inChannels, outChannels: info.outChannels };
}

/**
 * Tensors (by `dataId`) whose values were all found finite. A tfjs tensor's
 * data never changes under one `dataId` (a variable's `assign` takes a new
 * one), so each is checked at most once: ReLU's gradient finds its `x`
 * here, checked by the forward ReLU.
 */
const finiteIds = new WeakSet<object>();
/** Where oneDNN writes a large tensor's sum (one float, outside the wasm heap). */
const sumCell = new Float32Array(new ArrayBuffer(4)); // an ArrayBuffer of its own: its memory never moves
const sumAddress = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(sumCell)));

/**
 * True when every value of every given tensor is finite. oneDNN's ReLU
 * (`max(x, 0)`) turns NaN into 0, and on AVX and SSE4.1 its fused ReLU
 * post-op turns −∞ into NaN (`0 · x`); tfjs and TensorFlow keep NaN and give
 * 0 for −∞; its max pooling starts windows at the lowest float, not −∞. The
 * kernels that apply a ReLU, a fused activation or a max pooling run natively
 * only on finite inputs; any other case takes the cpu backend's formulas
 * ({@link EXACT}, the exact max pooling). A large tensor is checked by
 * oneDNN's sum (non-finite exactly when a value is, or when finite values
 * overflow: then the exact path runs, still right): one read at memory speed,
 * 1.5–1.9 ms for the 5.2 convnet's largest activation (14 M values) on two
 * cores.
 */
function allFinite(backend: WasmBackend, ...infos: (TensorInfo | undefined)[]): boolean {
  for (const info of infos) {
    if (!info || finiteIds.has(info.dataId as object)) continue;
    const size = tf.util.sizeFromShape(info.shape);
    let finite: boolean;
    if (size < MIN_ELEMENTWISE) {
      const [values] = heapViews(backend, info);
      let zero = 0;
      for (let i = 0; i < size; i++) zero += values[i] * 0; // NaN from the first value that is not finite
      finite = zero === 0;
    } else {
      const p = primitive(() => dnnl!.sum(size));
      if (!p) return false;
      p.run(heapAddress(backend) + offset(backend, info), sumAddress);
      finite = Number.isFinite(sumCell[0]);
    }
    if (!finite) return false;
    finiteIds.add(info.dataId as object);
  }
  return true;
}

/** Registered kernels and their predecessors (the fallbacks). */
let previous = new Map<string, KernelFunc>();
let dnnl: OneDnn | undefined;
/** How many calls each kernel sent to oneDNN and to its fallback (for tests and the bench). */
const counts: Record<string, { native: number; fallback: number }> = {};

function fallback(name: string, args: KernelArgs): TensorInfo {
  counts[name].fallback++;
  const f = previous.get(name);
  if (!f) throw new Error(`native_kernels: no wasm kernel '${name}' to fall back on.`);
  return f(args) as TensorInfo;
}

/** Look up (build on first use) a primitive; undefined where oneDNN refuses the shape (cached). */
function primitive(get: () => Kernel): Kernel | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}

/** Allocate the output, then run `p` on the inputs' and output's heap addresses. */
function runOn(p: Kernel, backend: WasmBackend, outShape: number[], inputs: TensorInfo[], name: string): TensorInfo {
  const out = backend.makeOutput(outShape, "float32");
  const base = heapAddress(backend);
  p.run(...[...inputs, out].map((t) => base + offset(backend, t)));
  counts[name].native++;
  return out;
}

function activationOf(attrs: Record<string, unknown>): "relu" | "sigmoid" | "unsupported" | undefined {
  const a = attrs.activation as string | undefined;
  if (a === undefined || a === "linear") return undefined;
  if (a === "relu" || a === "sigmoid") return a;
  return "unsupported";
}

function convolution(name: string, pass: ConvPass) {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as unknown as WasmBackend;
    const { inputs, attrs } = args;
    let shape: ConvShape | undefined;
    let ins: TensorInfo[];
    let outShape: number[];
    if (pass === "forward") {
      const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
      ins = [x, filter];
      if (!allFloat(x, filter)) return fallback(name, args);
      shape = convShape(x.shape, filter.shape, attrs);
    } else if (pass === "backwardData") {
      const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
      ins = [dy, filter];
      if (!allFloat(dy, filter)) return fallback(name, args);
      shape = convShape(attrs.inputShape as number[], filter.shape, attrs);
    } else {
      const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
      ins = [x, dy];
      if (!allFloat(x, dy)) return fallback(name, args);
      shape = convShape(x.shape, attrs.filterShape as number[], attrs);
    }
    if (!shape) return fallback(name, args);
    const s = shape;
    // The input whose ±∞ would meet the padding's zeros in an im2col implementation: the filter, or dy.
    const exact = pass !== "backwardData" && needsExact(backend, s, ins[1]);
    const blocked = pass === "backwardWeights" && BLOCKED_WEIGHT_GRADIENTS(dnnl!.isa);
    const p = primitive(() => dnnl!.convolution(pass, s, { exact, blocked }));
    if (!p) return fallback(name, args);
    if (pass === "forward") outShape = [s.batch, s.outHeight, s.outWidth, s.outChannels];
    else if (pass === "backwardData") outShape = [s.batch, s.inHeight, s.inWidth, s.inChannels];
    else outShape = [s.filterHeight, s.filterWidth, s.inChannels, s.outChannels];
    return runOn(p, backend, outShape, ins, name);
  };
}

function fusedConv2D(args: KernelArgs): TensorInfo {
  const name = "FusedConv2D";
  const backend = args.backend as unknown as WasmBackend;
  const { inputs: { x, filter, bias, preluActivationWeights }, attrs } = args;
  const activation = activationOf(attrs);
  if (activation === "unsupported" || preluActivationWeights || !allFloat(x!, filter!, bias)) {
    return fallback(name, args);
  }
  const shape = convShape(x!.shape, filter!.shape, attrs);
  if (!shape || (bias && tf.util.sizeFromShape(bias.shape) !== shape.outChannels)) return fallback(name, args);
  const fused = activation && allFinite(backend, x, filter, bias) ? activation : undefined;
  const exact = needsExact(backend, shape, filter!);
  const p = primitive(() => dnnl!.convolution("forward", shape, { bias: !!bias, activation: fused, exact }));
  if (!p) return fallback(name, args);
  const outShape = [shape.batch, shape.outHeight, shape.outWidth, shape.outChannels];
  const out = runOn(p, backend, outShape, bias ? [x!, filter!, bias] : [x!, filter!], name);
  // From finite inputs a fused ReLU gives values in [0, +∞] on AVX2 and above (where oneDNN's ReLU maps NaN
  // and −∞ to 0; +∞ only when finite sums overflow float32): no NaN, which is what the next kernels check for.
  if (fused === "relu" && !dnnl!.isa.startsWith("sse") && dnnl!.isa !== "avx") finiteIds.add(out.dataId as object);
  return activation && !fused ? activateExactly(backend, out, activation) : out;
}

/**
 * Whether weight gradients run on oneDNN's blocked activations (reordered
 * from and to NHWC) rather than on NHWC in place. Measured per layer of the
 * 5.2 convnet (batch 20, two threads): with AVX2 the blocked kernels win
 * (74×74×32→64: 45 ms against 59 ms; 36×36×64→128: 34 against 40), with
 * AVX-512 the NHWC ones (23 against 23, 18 against 20).
 */
const BLOCKED_WEIGHT_GRADIENTS = (isa: string) => !isa.startsWith("avx512");

/** True when a convolution with padding meets ±∞ or NaN in `operand` (see `ConvOptions.exact`). */
function needsExact(backend: WasmBackend, s: ConvShape, operand: TensorInfo): boolean {
  return s.padTop + s.padLeft + s.padBottom + s.padRight > 0 && !allFinite(backend, operand);
}

/** The cpu backend's own formulas, for the values oneDNN mishandles (see {@link allFinite}). */
const EXACT = {
  relu: (x: number) => Math.max(0, x),
  sigmoid: (x: number) => 1 / (1 + Math.exp(-x)),
  reluGrad: (dy: number, x: number) => dy * (Number.isNaN(x) ? NaN : x > 0 ? 1 : 0),
} as const;

/** Apply `activation` to `out` in place with the cpu backend's formula. */
function activateExactly(backend: WasmBackend, out: TensorInfo, activation: "relu" | "sigmoid"): TensorInfo {
  const [values] = heapViews(backend, out);
  const f = EXACT[activation];
  for (let i = 0; i < values.length; i++) values[i] = f(values[i]);
  return out;
}

function matMul(name: "BatchMatMul" | "_FusedMatMul") {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as unknown as WasmBackend;
    const { inputs: { a, b, bias, preluActivationWeights }, attrs } = args;
    const activation = activationOf(attrs);
    if (activation === "unsupported" || preluActivationWeights || !allFloat(a!, b!, bias)) {
      return fallback(name, args);
    }
    const { transposeA = false, transposeB = false } = attrs as { transposeA?: boolean; transposeB?: boolean };
    const ra = a!.shape.length, rb = b!.shape.length;
    const m = transposeA ? a!.shape[ra - 1] : a!.shape[ra - 2];
    const k = transposeA ? a!.shape[ra - 2] : a!.shape[ra - 1];
    const n = transposeB ? b!.shape[rb - 2] : b!.shape[rb - 1];
    const outerA = a!.shape.slice(0, -2), outerB = b!.shape.slice(0, -2);
    const batchA = tf.util.sizeFromShape(outerA), batchB = tf.util.sizeFromShape(outerB);
    const sameOuter = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
    if (!sameOuter && batchA !== 1 && batchB !== 1) return fallback(name, args);
    if (bias && tf.util.sizeFromShape(bias.shape) !== n) return fallback(name, args);
    const outer = batchA >= batchB && outerA.length >= outerB.length ? outerA : batchB > batchA ? outerB : outerA;
    const shape = { batchA, batchB, m, k, n, transposeA, transposeB };
    const fused = activation && allFinite(backend, a, b, bias) ? activation : undefined;
    const p = primitive(() => dnnl!.matmul(shape, { bias: !!bias, activation: fused }));
    if (!p) return fallback(name, args);
    const out = runOn(p, backend, [...outer, m, n], bias ? [a!, b!, bias] : [a!, b!], name);
    return activation && !fused ? activateExactly(backend, out, activation) : out;
  };
}

/** The oneDNN geometry of a tfjs max pooling, or undefined where oneDNN is not used (dilations). */
function poolShape(xShape: readonly number[], attrs: Record<string, unknown>): PoolShape | undefined {
  const info = tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize as [number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor" | undefined,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return undefined;
  return { ...windowOf(info), channels: info.inChannels };
}

function maxPool(args: KernelArgs): TensorInfo {
  const name = "MaxPool";
  const backend = args.backend as unknown as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  if (!allFloat(x)) return fallback(name, args);
  const shape = poolShape(x.shape, args.attrs);
  const training = recordingGradients();
  const p = shape && primitive(() => dnnl!.maxPool(shape, training));
  if (!shape || !p) return fallback(name, args);
  const outShape = [shape.batch, shape.outHeight, shape.outWidth, shape.channels];
  // oneDNN starts each window at the lowest float, where tfjs starts at −∞ (a window of NaN and −∞ gives −∞).
  if (emptyWindow(shape) || !allFinite(backend, x)) return maxPoolExactly(backend, x, shape, outShape);
  // A max pooling's values are some of its input's: finite as they are.
  if (!training) return keepFinite(runOn(p, backend, outShape, [x], name));
  // Keep where each maximum is, so that the gradient need not run the pooling again.
  const out = backend.makeOutput(outShape, "float32");
  const workspace = backend.makeOutput([Math.ceil(dnnl!.maxPoolWorkspaceBytes(shape) / 4)], "int32");
  const base = heapAddress(backend);
  p.run(base + offset(backend, x), base + offset(backend, out), base + offset(backend, workspace));
  keepWorkspace(backend, out, workspace);
  counts[name].native++;
  return keepFinite(out);
}

/** Mark `out`, computed from finite values by a kernel that cannot overflow, as finite (see {@link allFinite}). */
function keepFinite(out: TensorInfo): TensorInfo {
  finiteIds.add(out.dataId as object);
  return out;
}

/** True while tfjs records operations for a gradient (inside `tf.grad`, `minimize`, a training step). */
function recordingGradients(): boolean {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
}

/** The workspaces of max poolings run while recording gradients, by the pooling's output `dataId`. */
const workspaces = new Map<unknown, TensorInfo>();
let freesWorkspaces = false;

/** Keep `workspace` until `out` is freed (the backend's `disposeData` frees both from then on). */
function keepWorkspace(backend: WasmBackend, out: TensorInfo, workspace: TensorInfo): void {
  if (!freesWorkspaces) {
    const dispose = backend.disposeData.bind(backend);
    backend.disposeData = (dataId: object, force?: boolean) => {
      const freed = dispose(dataId, force);
      const kept = freed ? workspaces.get(dataId) : undefined;
      if (kept) {
        workspaces.delete(dataId);
        dispose(kept.dataId as object, true);
      }
      return freed;
    };
    freesWorkspaces = true;
  }
  workspaces.set(out.dataId, workspace);
}

/** True when a window lies wholly in the padding ("ceil" rounding can make one): tfjs gives it −∞. */
function emptyWindow(s: PoolShape): boolean {
  return Math.max(s.padTop, s.padBottom) >= s.filterHeight || Math.max(s.padLeft, s.padRight) >= s.filterWidth;
}

/** tfjs' cpu max pooling: NaN never wins a window, and a window with no number above −∞ gives −∞. */
function maxPoolExactly(backend: WasmBackend, x: TensorInfo, s: PoolShape, outShape: number[]): TensorInfo {
  counts.MaxPool.fallback++;
  const out = backend.makeOutput(outShape, "float32");
  const [values, y] = heapViews(backend, x, out);
  const c = s.channels, row = s.inWidth * c;
  let o = 0;
  for (let b = 0; b < s.batch; b++) {
    for (let i = 0; i < s.outHeight; i++) {
      const r0 = i * s.strideHeight - s.padTop;
      const rStart = Math.max(0, r0), rEnd = Math.min(s.inHeight, r0 + s.filterHeight);
      for (let j = 0; j < s.outWidth; j++) {
        const c0 = j * s.strideWidth - s.padLeft;
        const cStart = Math.max(0, c0), cEnd = Math.min(s.inWidth, c0 + s.filterWidth);
        for (let k = 0; k < c; k++) {
          let max = -Infinity;
          for (let r = rStart; r < rEnd; r++) {
            for (let q = cStart; q < cEnd; q++) {
              const v = values[b * s.inHeight * row + r * row + q * c + k];
              if (v > max) max = v;
            }
          }
          y[o++] = max;
        }
      }
    }
  }
  return out;
}

function maxPoolGrad(args: KernelArgs): TensorInfo {
  const name = "MaxPoolGrad";
  const backend = args.backend as unknown as WasmBackend;
  const { inputs: { dy, input }, attrs } = args;
  // The wasm kernel before this one gives the gradient to the window's first maximum as tfjs does, NaN included.
  if (!allFloat(dy!, input!) || !allFinite(backend, input)) return fallback(name, args);
  const shape = poolShape(input!.shape, attrs);
  if (!shape || emptyWindow(shape)) return fallback(name, args);
  const workspace = args.inputs.output && workspaces.get(args.inputs.output.dataId);
  const p = primitive(() => dnnl!.maxPoolGrad(shape, !!workspace));
  if (!p) return fallback(name, args);
  return runOn(p, backend, input!.shape, workspace ? [dy!, workspace] : [input!, dy!], name);
}

/** Below this many elements the wasm kernels are as fast (and keep the FFI calls off tiny ops). */
const MIN_ELEMENTWISE = 16384;

function binary(name: string, op: "add" | "mul" | "sub") {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as unknown as WasmBackend;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (!allFloat(a, b)) return fallback(name, args);
    const na = tf.util.sizeFromShape(a.shape), nb = tf.util.sizeFromShape(b.shape);
    if (Math.max(na, nb) < MIN_ELEMENTWISE || (op === "sub" && nb > na)) return fallback(name, args);
    const [big, small] = nb > na ? [b, a] : [a, b];
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (outShape.length !== big.shape.length || outShape.some((d, i) => d !== big.shape[i])) {
      return fallback(name, args);
    }
    const size = tf.util.sizeFromShape(big.shape), smallSize = tf.util.sizeFromShape(small.shape);
    const cols = big.shape[big.shape.length - 1];
    let broadcast: Broadcast;
    if (smallSize === size) broadcast = "same";
    else if (smallSize === 1) broadcast = "scalar";
    else if (smallSize === cols && small.shape[small.shape.length - 1] === cols) broadcast = "row";
    else return fallback(name, args);
    const p = primitive(() => dnnl!.binary(op, size / cols, cols, broadcast));
    if (!p) return fallback(name, args);
    return runOn(p, backend, outShape, [big, small], name);
  };
}

/** A one-input element-wise kernel run by oneDNN's eltwise primitive on large tensors. */
function unary(name: string, activation: "relu" | "square" | "sqrt") {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as unknown as WasmBackend;
    const { x } = args.inputs as { x: TensorInfo };
    const size = tf.util.sizeFromShape(x.shape);
    if (!allFloat(x)) return fallback(name, args);
    if (activation === "relu" && (size < MIN_ELEMENTWISE || !allFinite(backend, x))) {
      // The wasm ReLU loses NaN in some SIMD lanes, as oneDNN's does in all: the cpu backend's formula.
      const out = backend.makeOutput(x.shape, "float32");
      const [values, y] = heapViews(backend, x, out);
      for (let i = 0; i < size; i++) y[i] = EXACT.relu(values[i]);
      counts[name].fallback++;
      return out;
    }
    if (size < MIN_ELEMENTWISE) return fallback(name, args);
    const p = primitive(() => dnnl!.eltwise(activation, size));
    if (!p) return fallback(name, args);
    const out = runOn(p, backend, x.shape, [x], name);
    return activation === "relu" ? keepFinite(out) : out; // from a finite x (checked above)
  };
}

/** A row of ones in native memory, as long as the longest sum so far (a column sum is `ones · x`). */
let ones = new Float32Array(0);

/**
 * `Sum` over the leading axes of a large float32 tensor (a bias gradient sums
 * `[N, H, W, C]` over N, H and W) as one oneDNN product, `ones[1 × rows] ·
 * x[rows × cols]`, on all threads; other sums go to the kernel before (a
 * float64 loop on one thread, 4–6× slower).
 */
function sum(args: KernelArgs): TensorInfo {
  const name = "Sum";
  const backend = args.backend as unknown as WasmBackend;
  const { x } = args.inputs as { x: TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  const k = axes.length;
  if (!allFloat(x) || k === 0 || k >= x.shape.length || axes.some((v, i) => v !== i)) return fallback(name, args);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, k)), cols = tf.util.sizeFromShape(x.shape.slice(k));
  if (rows * cols < MIN_ELEMENTWISE || rows < 2) return fallback(name, args);
  // An ArrayBuffer of its own: V8 may keep a small typed array inside its heap, where it moves.
  if (ones.length < rows) ones = new Float32Array(new ArrayBuffer(4 * rows)).fill(1);
  const p = primitive(() =>
    dnnl!.matmul({ batchA: 1, batchB: 1, m: 1, k: rows, n: cols, transposeA: false, transposeB: false })
  );
  if (!p) return fallback(name, args);
  const out = backend.makeOutput(keepDims ? x.shape.map((d, i) => (i < k ? 1 : d)) : x.shape.slice(k), "float32");
  const base = heapAddress(backend);
  p.run(
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(ones))),
    base + offset(backend, x),
    base + offset(backend, out),
  );
  counts[name].native++;
  return out;
}

const ELEMENTWISE: [string, KernelFunc][] = [
  ["Add", binary("Add", "add")],
  ["Multiply", binary("Multiply", "mul")],
  ["Sub", binary("Sub", "sub")],
  ["Relu", unary("Relu", "relu")],
  ["Square", unary("Square", "square")],
  ["Sqrt", unary("Sqrt", "sqrt")],
];

/** The kernel behind {@link registerNativeKernels}' ReLU gradient: `dx = x > 0 ? dy : 0` in one pass. */
export const RELU_GRAD = "Ch5ReluGrad";

function reluGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as unknown as WasmBackend;
  const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
  const size = tf.util.sizeFromShape(x.shape);
  if (!allFloat(dy, x)) {
    // As tfjs' own gradient: dy * step(x), with the wasm kernels.
    counts[RELU_GRAD].fallback++;
    const run = (kernel: string, inputs: Record<string, TensorInfo>, attrs = {}) =>
      (tf.getKernel(kernel, BACKEND)!.kernelFunc as unknown as KernelFunc)({
        inputs,
        backend: args.backend,
        attrs,
      }) as TensorInfo;
    const step = run("Step", { x }, { alpha: 0 });
    const out = run("Multiply", { a: dy, b: step });
    args.backend.disposeData(step.dataId);
    return out;
  }
  // oneDNN's ReLU gradient takes NaN in x for a positive value (dx = dy), where tfjs gives NaN.
  const p = allFinite(backend, x) ? primitive(() => dnnl!.reluGrad(size)) : undefined;
  if (!p) {
    counts[RELU_GRAD].fallback++;
    const out = backend.makeOutput(x.shape, "float32");
    const [g, values, dx] = heapViews(backend, dy, x, out);
    for (let i = 0; i < size; i++) dx[i] = EXACT.reluGrad(g[i], values[i]);
    return out;
  }
  return runOn(p, backend, x.shape, [dy, x], RELU_GRAD);
}

/**
 * Make ReLU's gradient one oneDNN pass on the wasm-native backend (tfjs'
 * own is `Step`, `Cast` and `Multiply`, three passes over the activations);
 * on every other backend the original gradient runs.
 */
function registerReluGradient(): void {
  const original = tf.getGradient("Relu");
  tf.registerKernel({ kernelName: RELU_GRAD, backendName: BACKEND, kernelFunc: reluGrad as unknown as tf.KernelFunc });
  const warn = console.warn;
  console.warn = () => {}; // "Overriding the gradient for 'Relu'"
  try {
    tf.registerGradient({
      kernelName: "Relu",
      inputsToSave: ["x"],
      gradFunc: (dy, saved, attrs) => {
        if (tf.getBackend() !== BACKEND || !dnnl) return original.gradFunc(dy, saved, attrs);
        const [x] = saved;
        return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: dy as tf.Tensor, x }) as tf.Tensor };
      },
    });
  } finally {
    console.warn = warn;
  }
}

/**
 * The kernel a tfjs-layers `Conv2D` with a bias and ReLU runs while
 * recording gradients, on the wasm-native backend: the convolution, its bias
 * and the ReLU in one oneDNN pass (tfjs runs them as three kernels there, two
 * more passes over the layer's output, since its fused kernel has no gradient
 * for a ReLU). Its gradient: ReLU's (on the output: `y > 0` exactly where the
 * input was), then the convolution's and the bias' (a column sum) on it.
 */
export const CONV_BIAS_RELU = "Ch5ConvBiasRelu";

/** The parts of a tfjs-layers `Conv` layer read here. */
interface ConvLayer {
  rank: number;
  dataFormat: string;
  dilationRate: number[];
  padding: string;
  strides: number[];
  useBias: boolean;
  activation: { getClassName(): string };
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
}

function fusable(layer: ConvLayer, x: tf.Tensor): boolean {
  return layer.rank === 2 && layer.dataFormat === "channelsLast" && layer.useBias && x.rank === 4 &&
    layer.dilationRate.every((d) => d === 1) && layer.activation.getClassName() === "relu" &&
    (layer.padding === "valid" || layer.padding === "same") && tf.getBackend() === BACKEND && recordingGradients();
}

/** Run fusable `Conv2D` layers through {@link CONV_BIAS_RELU} while recording gradients (see there). */
function fuseConvolutionsForTraining(): void {
  const classes = (tf.serialization.SerializationMap.getMap() as unknown as {
    classNameMap: Record<string, [{ prototype: object }]>;
  }).classNameMap;
  const conv = Object.getPrototypeOf(classes.Conv2D[0].prototype) as {
    call(this: ConvLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: unknown): tf.Tensor | tf.Tensor[];
  };
  const call = conv.call;
  conv.call = function (inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (inputs === undefined || !fusable(this, x)) return call.call(this, inputs, kwargs);
    return tf.engine().runKernel(CONV_BIAS_RELU, { x, filter: this.kernel.read(), bias: this.bias!.read() }, {
      strides: this.strides,
      pad: this.padding,
      dataFormat: "NHWC",
      dilations: 1,
      activation: "relu",
    }) as tf.Tensor;
  };
  tf.registerKernel({
    kernelName: CONV_BIAS_RELU,
    backendName: BACKEND,
    kernelFunc: fusedConv2D as unknown as tf.KernelFunc,
  });
  tf.registerGradient({
    kernelName: CONV_BIAS_RELU,
    inputsToSave: ["x", "filter"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved;
      // Computed once here, for all three gradients (it lives until the backward pass ends).
      const dyRelu = tf.engine().runKernel(RELU_GRAD, { dy: dy as tf.Tensor, x: y }) as tf.Tensor;
      const geometry = { strides: attrs.strides, pad: attrs.pad, dataFormat: "NHWC", dilations: 1 };
      return {
        x: () =>
          tf.engine().runKernel("Conv2DBackpropInput", { dy: dyRelu, filter }, { ...geometry, inputShape: x.shape }),
        filter: () =>
          tf.engine().runKernel("Conv2DBackpropFilter", { x, dy: dyRelu }, { ...geometry, filterShape: filter.shape }),
        bias: () => tf.sum(dyRelu, [0, 1, 2]),
      } as Record<string, () => tf.Tensor>;
    },
  });
}

const KERNELS: [string, KernelFunc][] = [
  ...ELEMENTWISE,
  ["Sum", sum],
  ["MaxPool", maxPool],
  ["MaxPoolGrad", maxPoolGrad],
  ["Conv2D", convolution("Conv2D", "forward")],
  ["FusedConv2D", fusedConv2D],
  ["Conv2DBackpropInput", convolution("Conv2DBackpropInput", "backwardData")],
  ["Conv2DBackpropFilter", convolution("Conv2DBackpropFilter", "backwardWeights")],
  ["BatchMatMul", matMul("BatchMatMul")],
  ["_FusedMatMul", matMul("_FusedMatMul")],
];

/**
 * Register, once per process, the oneDNN kernels of this module on the `wasm`
 * backend, each over the kernel registered before it (its fallback); returns
 * their names. Register `wasm_training.ts`'s kernels first, so that
 * they are the fallbacks of the two gradient kernels.
 */
export function registerNativeKernels(library: OneDnn): string[] {
  if (dnnl) return KERNELS.map(([name]) => name);
  previous = replaceKernels(KERNELS);
  dnnl = library;
  for (const [name] of KERNELS) counts[name] = { native: 0, fallback: 0 };
  counts[RELU_GRAD] = { native: 0, fallback: 0 };
  registerReluGradient();
  fuseConvolutionsForTraining();
  return KERNELS.map(([name]) => name);
}

/**
 * How many calls each native kernel ran in oneDNN and how many it left to the
 * wasm kernel before it, since the start (a copy).
 */
export function nativeKernelCounts(): Record<string, { native: number; fallback: number }> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, { ...v }]));
}

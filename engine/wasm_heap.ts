/**
 * What the engine's kernels for `@tensorflow/tfjs-backend-wasm` share: the
 * backend's internals they read, the kernel signature, float32 views of
 * tensors on the wasm heap, a checked allocation, and the replacement of
 * registered kernels by new ones that keep the old ones to fall back on.
 *
 * @example
 * ```ts
 * import { heapViews, type KernelArgs, replaceKernels, type WasmBackend } from "./wasm_heap.ts";
 * const previous = replaceKernels([["Neg", (args: KernelArgs) => {
 *   const backend = args.backend as unknown as WasmBackend, x = args.inputs.x!;
 *   const out = backend.makeOutput(x.shape, "float32");
 *   const [values, y] = heapViews(backend, x, out);
 *   values.forEach((v, i) => (y[i] = -v));
 *   return out;
 * }]]);
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The tfjs backend name whose kernels the engine replaces. */
export const BACKEND = "wasm";

/** A tensor as kernels see it. */
export type TensorInfo = tf.TensorInfo;

/** The arguments of a kernel. */
export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: tf.KernelBackend;
  attrs: Record<string, unknown>;
}

/** A kernel. */
export type KernelFunc = (args: KernelArgs) => TensorInfo | TensorInfo[];

/** The internals of tfjs-backend-wasm's `BackendWasm` that the engine reads. */
export interface WasmBackend extends tf.KernelBackend {
  wasm: { HEAPU8: Uint8Array; _malloc(bytes: number): number };
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  incRef(dataId: unknown): void;
}

/** The byte offset of a tensor's data on the heap. */
export function heapOffset(backend: WasmBackend, info: TensorInfo): number {
  return backend.dataIdMap.get(info.dataId).memoryOffset;
}

/** Float32 views of tensors on the wasm heap; take them after the last allocation (a growing heap moves). */
export function heapViews(backend: WasmBackend, ...infos: TensorInfo[]): Float32Array[] {
  const buffer = backend.wasm.HEAPU8.buffer;
  return infos.map((t) => new Float32Array(buffer, heapOffset(backend, t), tf.util.sizeFromShape(t.shape)));
}

/** Raised when the wasm heap cannot hold another tensor. */
export class WasmHeapError extends RangeError {
  override name = "WasmHeapError";
}

const MIB = 2 ** 20;
/** wasm32's address space: no heap grows past it. */
const WASM_LIMIT = 4 * 1024 * MIB;
/** Room kept below the limit for the allocator's own growth. */
const MARGIN = 64 * MIB;

/**
 * Make every allocation of the backend's JavaScript side checked. Near
 * wasm32's 4 GiB the wasm `malloc` does not fail cleanly: it traps ("memory
 * access out of bounds") or answers 0, and tfjs then writes the new tensor over
 * the heap's first bytes (seen: the next `matMul` hung). After this, an
 * allocation that could take the heap past 4 GiB, or that `malloc` refuses,
 * throws a {@link WasmHeapError} naming the tensor's size and the heap's,
 * before anything is written. (An allocation the heap's free space could hold
 * is refused too when it comes that close to the limit.)
 */
export function checkAllocations(backend: WasmBackend): void {
  const wasm = backend.wasm as WasmBackend["wasm"] & { _free(address: number): void; ch5Checked?: boolean };
  if (wasm.ch5Checked) return;
  // Emscripten's first `_malloc` replaces itself with the raw export: call it once, then wrap what it became.
  wasm._free(wasm._malloc(8));
  const malloc = wasm._malloc;
  const refuse = (bytes: number, why: string) => {
    const heap = wasm.HEAPU8.buffer.byteLength;
    return new WasmHeapError(
      `the wasm heap has no room for a tensor of ${(bytes / MIB).toFixed(1)} MiB (${why}; the heap holds ` +
        `${(heap / MIB).toFixed(0)} MiB of wasm's ${WASM_LIMIT / MIB} MiB): dispose the tensors you no longer ` +
        "need (tf.dispose, tf.tidy), or use smaller batches or pictures",
    );
  };
  wasm._malloc = (bytes: number) => {
    if (wasm.HEAPU8.buffer.byteLength + bytes > WASM_LIMIT - MARGIN) throw refuse(bytes, "it would pass 4 GiB");
    let address: number;
    try {
      address = malloc(bytes);
    } catch (err) {
      throw Object.assign(refuse(bytes, "malloc failed"), { cause: err });
    }
    if (address === 0 && bytes > 0) throw refuse(bytes, "malloc answered 0");
    return address;
  };
  wasm.ch5Checked = true;
}

/**
 * Register `kernels` for the wasm backend over the kernels of the same name
 * registered before (keeping their setup, which binds their wasm functions);
 * returns those previous kernels by name, to fall back on.
 *
 * @throws {Error} when `@tensorflow/tfjs-backend-wasm` was not imported first.
 */
export function replaceKernels(kernels: [string, KernelFunc][]): Map<string, KernelFunc> {
  if (!tf.getKernel("Conv2D", BACKEND)) {
    throw new Error('the wasm backend\'s kernels are not registered: import "@tensorflow/tfjs-backend-wasm" first');
  }
  const previous = new Map<string, KernelFunc>();
  for (const [name, kernelFunc] of kernels) {
    const old = tf.getKernel(name, BACKEND);
    if (old) {
      previous.set(name, old.kernelFunc as unknown as KernelFunc);
      tf.unregisterKernel(name, BACKEND);
    }
    tf.registerKernel({
      kernelName: name,
      backendName: BACKEND,
      kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      setupFunc: old?.setupFunc,
      disposeFunc: old?.disposeFunc,
    });
  }
  return previous;
}

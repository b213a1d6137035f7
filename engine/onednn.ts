/**
 * oneDNN (Intel's deep learning primitives, `libdnnl`) through `Deno.dlopen`:
 * convolutions (forward, backward data, backward weights) and matrix
 * products that read and write caller-owned memory, here the tfjs wasm heap.
 *
 * Only the 2.x C API (`dnnl.h` of Debian's `libdnnl2`, version 2.6) is bound:
 * operation descriptors (`dnnl_*_desc_init`) were removed in 3.0, and a 3.x
 * library is refused with a clear {@link OneDnnError}.
 *
 * Layouts: the caller's memory holds activations NHWC, filters HWIO and
 * matrices row-major (transposed operands as strides). Where a primitive
 * works in a layout of its own (blocked filters for the direct JIT
 * convolutions; blocked activations for AVX2 weight gradients) the kernel
 * reorders into memory oneDNN owns and back. Primitives are built once per
 * shape and cached; a call then costs a few FFI calls: one
 * `dnnl_memory_set_data_handle` per argument, `dnnl_primitive_execute` and
 * `dnnl_stream_wait`.
 *
 * Threads: oneDNN's Debian build runs on OpenMP (libgomp). {@link loadOneDnn}
 * sets `OMP_NUM_THREADS` and `OMP_WAIT_POLICY=passive` before the library
 * loads (unless already set), and calls `omp_set_num_threads` where libgomp is
 * found: passive waiting leaves the cores to the wasm threads between calls.
 *
 * @example
 * ```ts
 * import { loadOneDnn } from "./onednn.ts";
 * const dnnl = loadOneDnn({ threads: 2 });
 * console.log(dnnl.version); // "2.6.3"
 * ```
 * @module
 */

/** Raised when oneDNN is absent, of the wrong version, or refuses a primitive. */
export class OneDnnError extends Error {
  override name = "OneDnnError";
}

/** How to install oneDNN 2.x, in one line. */
export const ONEDNN_INSTALL_HINT =
  "install it: `apt install libdnnl2`, `conda install -c conda-forge onednn=2` or `brew install onednn` (2.x)";

const MD_BYTES = 696; // sizeof(dnnl_memory_desc_t) in 2.6
const OP_DESC_BYTES = 8192; // larger than dnnl_convolution_desc_t (5976) and dnnl_matmul_desc_t (2800)
const MD_STRIDE = 1024;

// Enumerations of dnnl_types.h (2.x).
const DNNL_SUCCESS = 0;
const DNNL_F32 = 3;
const DNNL_CPU = 1;
const DNNL_STREAM_DEFAULT_FLAGS = 1;
const FORWARD_TRAINING = 64;
const FORWARD_INFERENCE = 96;
const CONVOLUTION_DIRECT = 1;
const QUERY_IMPL_INFO_STR = 8;
/** `dnnl_query_t`: memory descriptors of a primitive's arguments. */
const QUERY = {
  src: 129,
  diffSrc: 130,
  weights: 131,
  diffWeights: 132,
  dst: 133,
  diffDst: 134,
  workspace: 135,
} as const;
const FORMAT_TAG_ANY = 1;
const POOLING_MAX = 0x1ff;
const REDUCTION_SUM = 0x2fff4;
/** `DNNL_MEMORY_ALLOCATE`: oneDNN allocates (and owns) the memory's buffer. */
const MEMORY_ALLOCATE = Deno.UnsafePointer.create(0xffffffffffffffffn);
/** Element-wise post-ops this module applies after a convolution or product. */
export const ELTWISE = { relu: 0x1f, sigmoid: 175, square: 79, sqrt: 111 } as const;
/** Binary element-wise algorithms. */
export const BINARY = { add: 0x1fff0, mul: 0x1fff1, sub: 0x1fff5 } as const;
/** How the second operand of a binary op is broadcast over a `[rows, cols]` first one. */
export type Broadcast = "same" | "row" | "scalar";
/** Argument ids of `dnnl_exec_arg_t`. */
const ARG = {
  src: 1,
  src1: 2,
  dst: 17,
  weights: 33,
  bias: 41,
  diffSrc: 129,
  diffDst: 145,
  diffWeights: 161,
  diffBias: 169,
  workspace: 64,
} as const;

/**
 * oneDNN 2.x's `dnnl_cpu_isa_t`, by value: each ISA's bit mask holds the masks
 * of the ISAs below it. The names are those `ONEDNN_MAX_CPU_ISA` takes, in
 * lower case.
 */
export const ISA_NAMES: Record<number, string> = {
  0x1: "sse41",
  0x3: "avx",
  0x7: "avx2",
  0x407: "avx2_vnni",
  0x27: "avx512_core",
  0x67: "avx512_core_vnni",
  0xe7: "avx512_core_bf16",
  0x3e7: "avx512_core_amx",
};

const STATUS_NAMES = [
  "success",
  "out of memory",
  "invalid arguments",
  "unimplemented",
  "iterator ends",
  "runtime error",
  "not required",
];

/** A foreign function's signature: the result, then the parameters. */
const fn = <R extends Deno.NativeResultType, const P extends Deno.NativeType[]>(result: R, ...parameters: P) => ({
  parameters,
  result,
});
const [B, P, I, U, Z, F] = ["buffer", "pointer", "i32", "u32", "usize", "f32"] as const;

const VERSION_SYMBOLS = { dnnl_version: fn("pointer") } as const satisfies Deno.ForeignLibraryInterface;

const SYMBOLS = {
  dnnl_version: fn("pointer"),
  dnnl_get_effective_cpu_isa: fn("i32"),
  dnnl_engine_create: fn("i32", B, I, Z),
  dnnl_stream_create: fn("i32", B, P, U),
  dnnl_memory_desc_init_by_tag: fn("i32", B, I, B, I, I),
  dnnl_memory_desc_equal: fn("i32", B, B),
  dnnl_memory_desc_get_size: fn("usize", B),
  dnnl_reorder_primitive_desc_create: fn("i32", B, B, P, B, P, P),
  dnnl_memory_desc_init_by_strides: fn("i32", B, I, B, I, B),
  dnnl_convolution_forward_desc_init: fn("i32", B, I, I, B, B, B, B, B, B, B),
  dnnl_convolution_backward_data_desc_init: fn("i32", B, I, B, B, B, B, B, B),
  dnnl_convolution_backward_weights_desc_init: fn("i32", B, I, B, B, B, B, B, B, B),
  dnnl_pooling_v2_forward_desc_init: fn("i32", B, I, I, B, B, B, B, B, B, B),
  dnnl_pooling_v2_backward_desc_init: fn("i32", B, I, B, B, B, B, B, B, B),
  dnnl_primitive_desc_query_md: fn("pointer", P, I, I),
  dnnl_binary_desc_init: fn("i32", B, I, B, B, B),
  dnnl_reduction_desc_init: fn("i32", B, I, B, B, F, F),
  dnnl_eltwise_backward_desc_init: fn("i32", B, I, B, B, F, F),
  dnnl_eltwise_forward_desc_init: fn("i32", B, I, I, B, F, F),
  dnnl_matmul_desc_init: fn("i32", B, B, B, B, B),
  dnnl_primitive_attr_create: fn("i32", B),
  dnnl_primitive_attr_destroy: fn("i32", P),
  dnnl_post_ops_create: fn("i32", B),
  dnnl_post_ops_destroy: fn("i32", P),
  dnnl_post_ops_append_eltwise: fn("i32", P, F, I, F, F),
  dnnl_primitive_attr_set_post_ops: fn("i32", P, P),
  dnnl_primitive_desc_create: fn("i32", B, B, P, P, P),
  dnnl_primitive_desc_iterator_create: fn("i32", B, B, P, P, P),
  dnnl_primitive_desc_iterator_next: fn("i32", P),
  dnnl_primitive_desc_iterator_fetch: fn("pointer", P),
  dnnl_primitive_desc_iterator_destroy: fn("i32", P),
  dnnl_primitive_desc_query: fn("i32", P, I, I, B),
  dnnl_primitive_desc_destroy: fn("i32", P),
  dnnl_primitive_create: fn("i32", B, P),
  dnnl_memory_create: fn("i32", B, B, P, P),
  dnnl_memory_set_data_handle: fn("i32", P, Z),
  dnnl_primitive_execute: fn("i32", P, P, I, B),
  dnnl_stream_wait: fn("i32", P),
} as const satisfies Deno.ForeignLibraryInterface;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/**
 * The file names tried, in order: `CH5_ONEDNN_PATH` alone when set; else
 * the Debian/Ubuntu soname, the development link, macOS and Windows names,
 * then the same under conda's prefix and Homebrew's prefixes.
 */
export function oneDnnCandidates(): string[] {
  const forced = Deno.env.get("CH5_ONEDNN_PATH");
  if (forced) return [forced];
  const names = ["libdnnl.so.2", "libdnnl.so", "libdnnl.2.dylib", "libdnnl.dylib", "dnnl.dll"];
  const conda = Deno.env.get("CONDA_PREFIX");
  const dirs = [conda ? `${conda}/lib` : "", "/opt/homebrew/lib", "/usr/local/lib"].filter(Boolean);
  return [...names, ...dirs.flatMap((d) => names.slice(0, 4).map((n) => `${d}/${n}`))];
}

/** The window geometry convolutions and poolings share; pads may differ per side (TensorFlow's "same"). */
export interface Window {
  batch: number;
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
}

/** The geometry of an NHWC, HWIO 2-D convolution. */
export interface ConvShape extends Window {
  inChannels: number;
  outChannels: number;
}

/** The geometry of an NHWC 2-D max pooling. */
export interface PoolShape extends Window {
  channels: number;
}

/** One of the three passes of a convolution. */
export type ConvPass = "forward" | "backwardData" | "backwardWeights";

/** A row-major product `[batch] × (m × k) · (k × n)`, operands optionally transposed in memory. */
export interface MatMulShape {
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
}

/** Options of a forward convolution or a product: a bias `[outChannels]` and an element-wise activation. */
export interface PostOps {
  bias?: boolean;
  activation?: keyof typeof ELTWISE;
}

/**
 * Options of a convolution: {@link PostOps} (forward only), and `exact`: no
 * implementation that multiplies the zeros of the padding (`gemm`, which
 * lays windows out as columns, padding included). 0 · ∞ is NaN, so with ±∞
 * in the filter (forward) or in the output gradient (weight gradient) such
 * an implementation puts NaN where tfjs, which skips the padding, has none.
 */
export interface ConvOptions extends PostOps {
  exact?: boolean;
  /** Let the primitive pick its activations' layout too (blocked), reordering them from and to NHWC. */
  blocked?: boolean;
}

/**
 * Something that runs on addresses: one primitive, or several in sequence.
 */
export interface Kernel {
  /** The argument names, in {@link run}'s order. */
  readonly args: string[];
  /** oneDNN's name for the implementation it chose (e.g. `gemm:jit`). */
  readonly impl: string;
  /** Execute on one address per argument and wait for the result. */
  run(...addresses: bigint[]): void;
}

/**
 * Primitives run one after another, each on some of the arguments (a
 * weights reorder then a convolution, a pooling forward then its backward).
 */
export class Sequence implements Kernel {
  readonly #steps: [Kernel, number[]][];
  constructor(readonly args: string[], readonly impl: string, steps: [Kernel, number[]][]) {
    this.#steps = steps;
  }
  run(...addresses: bigint[]): void {
    for (const [step, take] of this.#steps) {
      if (take.length === 1) step.run(addresses[take[0]]);
      else if (take.length === 2) step.run(addresses[take[0]], addresses[take[1]]);
      else step.run(...take.map((i) => addresses[i]));
    }
  }
}

/**
 * A built oneDNN primitive. {@link run} takes one address per argument, in
 * the order of {@link args}.
 */
export class Primitive implements Kernel {
  readonly #lib: Lib;
  readonly #handle: Deno.PointerValue;
  readonly #stream: Deno.PointerValue;
  readonly #memories: Deno.PointerValue[];
  readonly #execArgs: Uint8Array;
  constructor(
    lib: Lib,
    handle: Deno.PointerValue,
    stream: Deno.PointerValue,
    memories: Deno.PointerValue[],
    ids: number[],
    /** The argument names, in {@link run}'s order. */
    readonly args: string[],
    /** oneDNN's name for the implementation it chose (e.g. `gemm:jit`). */
    readonly impl: string,
  ) {
    this.#lib = lib;
    this.#handle = handle;
    this.#stream = stream;
    this.#memories = memories;
    this.#execArgs = new Uint8Array(16 * ids.length);
    const view = new DataView(this.#execArgs.buffer);
    ids.forEach((id, i) => {
      view.setInt32(16 * i, id, true);
      view.setBigUint64(16 * i + 8, BigInt(Deno.UnsafePointer.value(memories[i])), true);
    });
  }

  /**
   * Execute on the given addresses and wait for the result. Addresses go to
   * the first arguments in order; the rest (memory oneDNN owns) stay.
   */
  run(...addresses: bigint[]): void {
    const lib = this.#lib;
    for (let i = 0; i < addresses.length; i++) check(lib.dnnl_memory_set_data_handle(this.#memories[i], addresses[i]));
    check(lib.dnnl_primitive_execute(this.#handle, this.#stream, this.#memories.length, this.#execArgs));
    check(lib.dnnl_stream_wait(this.#stream));
  }
}

function check(status: number, what = "oneDNN call"): void {
  if (status !== DNNL_SUCCESS) {
    throw new OneDnnError(`${what} failed: dnnl status ${status} (${STATUS_NAMES[status] ?? "unknown"})`);
  }
}

function readPointer(cell: BigUint64Array): Deno.PointerValue {
  return Deno.UnsafePointer.create(cell[0]);
}

/**
 * oneDNN, loaded, with one CPU engine and one in-order stream; builds and
 * caches primitives by shape.
 */
export class OneDnn {
  readonly #lib: Lib;
  readonly #engine: Deno.PointerValue;
  readonly #stream: Deno.PointerValue;
  readonly #cache = new Map<string, Kernel | OneDnnError>();
  readonly #mds = new Uint8Array(MD_STRIDE * 8);
  readonly #op = new Uint8Array(OP_DESC_BYTES);
  readonly #cell = new BigUint64Array(1);

  constructor(
    lib: Lib,
    /** The library file that was opened. */
    readonly path: string,
    /** `major.minor.patch` */
    readonly version: string,
    /** The OpenMP threads oneDNN computes with. */
    readonly threads: number,
  ) {
    this.#lib = lib;
    check(lib.dnnl_engine_create(new Uint8Array(this.#cell.buffer), DNNL_CPU, 0n), "dnnl_engine_create");
    this.#engine = readPointer(this.#cell);
    check(
      lib.dnnl_stream_create(new Uint8Array(this.#cell.buffer), this.#engine, DNNL_STREAM_DEFAULT_FLAGS),
      "dnnl_stream_create",
    );
    this.#stream = readPointer(this.#cell);
  }

  /**
   * The instruction set oneDNN's JIT kernels use on this CPU (`avx2`,
   * `avx512_core`, ...), at most the cap in `ONEDNN_MAX_CPU_ISA`.
   */
  get isa(): string {
    if (!this.#isa) {
      const mask = this.#lib.dnnl_get_effective_cpu_isa();
      this.#isa = ISA_NAMES[mask] ?? `0x${mask.toString(16)}`;
    }
    return this.#isa;
  }
  #isa?: string;

  /** Primitives built so far (failed shapes included), by key. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  #md(slot: number): Uint8Array {
    if (slot < 0 || slot >= 8) throw new OneDnnError(`memory descriptor slot ${slot} out of range`);
    return this.#mds.subarray(slot * MD_STRIDE, slot * MD_STRIDE + MD_BYTES);
  }

  /** Fill memory descriptor `slot` with f32 `dims` laid out by `strides`; returns it. */
  #plain(slot: number, dims: number[], strides: number[]): Uint8Array {
    const md = this.#md(slot);
    md.fill(0);
    check(
      this.#lib.dnnl_memory_desc_init_by_strides(md, dims.length, int64s(dims), DNNL_F32, int64s(strides)),
      "dnnl_memory_desc_init_by_strides",
    );
    return md;
  }

  #none(slot: number): Uint8Array {
    return this.#md(slot).fill(0);
  }

  readonly #numbers = new Map<string, number>();
  #cachedNumber(key: string, compute: () => number): number {
    let n = this.#numbers.get(key);
    if (n === undefined) this.#numbers.set(key, n = compute());
    return n;
  }

  #cached<T extends Kernel>(key: string, build: () => T): T {
    let hit = this.#cache.get(key);
    if (!hit) {
      try {
        hit = build();
      } catch (err) {
        hit = err instanceof OneDnnError ? err : new OneDnnError(String(err));
      }
      this.#cache.set(key, hit);
    }
    if (hit instanceof OneDnnError) throw hit;
    return hit as T;
  }

  /**
   * Create a primitive descriptor for the op descriptor in `#op`: oneDNN's
   * first choice, or, with `avoid`, the first implementation (in oneDNN's
   * order of preference) whose name `avoid` does not reject.
   */
  #primitiveDesc(
    attr: Deno.PointerValue,
    hint: Deno.PointerValue,
    what: string,
    avoid?: (impl: string) => boolean,
  ): Deno.PointerValue {
    const lib = this.#lib;
    if (!avoid) {
      check(
        lib.dnnl_primitive_desc_create(new Uint8Array(this.#cell.buffer), this.#op, attr, this.#engine, hint),
        `${what}: dnnl_primitive_desc_create`,
      );
      return readPointer(this.#cell);
    }
    check(
      lib.dnnl_primitive_desc_iterator_create(new Uint8Array(this.#cell.buffer), this.#op, attr, this.#engine, hint),
      `${what}: dnnl_primitive_desc_iterator_create`,
    );
    const iterator = readPointer(this.#cell);
    const skipped: string[] = [];
    try {
      for (
        let status = DNNL_SUCCESS;
        status === DNNL_SUCCESS;
        status = lib.dnnl_primitive_desc_iterator_next(iterator)
      ) {
        const pd = lib.dnnl_primitive_desc_iterator_fetch(iterator);
        if (!pd) continue;
        const impl = implName(lib, pd);
        if (!avoid(impl)) return pd;
        skipped.push(impl);
        lib.dnnl_primitive_desc_destroy(pd);
      }
    } finally {
      lib.dnnl_primitive_desc_iterator_destroy(iterator);
    }
    throw new OneDnnError(`${what}: no implementation left after skipping ${skipped.join(", ")}`);
  }

  /** A memory object for the descriptor in `slot`, on `handle` (none: set per call; MEMORY_ALLOCATE: owned). */
  #memory(slot: number, what: string, handle: Deno.PointerValue = null): Deno.PointerValue {
    check(
      this.#lib.dnnl_memory_create(new Uint8Array(this.#cell.buffer), this.#md(slot), this.#engine, handle),
      `${what}: dnnl_memory_create`,
    );
    return readPointer(this.#cell);
  }

  /**
   * Build a primitive from `pd` with memory objects for the descriptors in
   * `slots` (or given memory objects) and argument ids; destroys `pd`.
   */
  #build(
    pd: Deno.PointerValue,
    slots: (number | Deno.PointerValue)[],
    ids: number[],
    names: string[],
    what: string,
  ): Primitive {
    const lib = this.#lib;
    const impl = implName(lib, pd);
    check(lib.dnnl_primitive_create(new Uint8Array(this.#cell.buffer), pd), `${what}: dnnl_primitive_create`);
    const handle = readPointer(this.#cell);
    lib.dnnl_primitive_desc_destroy(pd);
    const memories = slots.map((slot) => typeof slot === "number" ? this.#memory(slot, what) : slot);
    return new Primitive(lib, handle, this.#stream, memories, ids, names, impl);
  }

  #attr(post: PostOps): Deno.PointerValue {
    if (!post.activation) return null;
    const lib = this.#lib;
    check(lib.dnnl_primitive_attr_create(new Uint8Array(this.#cell.buffer)), "dnnl_primitive_attr_create");
    const attr = readPointer(this.#cell);
    check(lib.dnnl_post_ops_create(new Uint8Array(this.#cell.buffer)), "dnnl_post_ops_create");
    const ops = readPointer(this.#cell);
    check(lib.dnnl_post_ops_append_eltwise(ops, 1, ELTWISE[post.activation], 0, 0), "dnnl_post_ops_append_eltwise");
    check(lib.dnnl_primitive_attr_set_post_ops(attr, ops), "dnnl_primitive_attr_set_post_ops");
    lib.dnnl_post_ops_destroy(ops);
    return attr;
  }

  /**
   * The convolution primitive of `pass` for `shape` (built on first use). Its
   * arguments: forward `src, weights, [bias,] dst`; backwardData
   * `diffDst, weights, diffSrc`; backwardWeights `src, diffDst, diffWeights,
   * [diffBias]`. Activations are NHWC and filters HWIO in the caller's memory;
   * where the primitive works in another layout (its blocked filters, and with
   * `blocked` its blocked activations too), the kernel reorders into memory
   * oneDNN owns and back.
   *
   * @throws {OneDnnError} when oneDNN has no implementation for these shapes and layouts.
   */
  convolution(pass: ConvPass, shape: ConvShape, post: ConvOptions = {}): Kernel {
    const s = shape;
    const options = `${post.bias ? "b" : ""}${post.activation ?? ""}${post.exact ? "exact" : ""}${
      post.blocked ? "blocked" : ""
    }`;
    const key = `conv:${pass}:${Object.values(s).join(",")}:${options}`;
    return this.#cached(key, () => {
      const what = `convolution ${pass} ${JSON.stringify(s)}`;
      const pd = this.#convolutionDesc(pass, s, post, what);
      return this.#withReorders(pd, convolutionRoles(pass, !!post.bias), what);
    });
  }

  /**
   * The primitive descriptor of a convolution pass, with the memory
   * descriptors its roles start from in slots 0–3 (NHWC src, HWIO weights,
   * bias, NHWC dst) and 4–6 (src, weights, dst as given to oneDNN: `any`
   * where it may choose).
   */
  #convolutionDesc(pass: ConvPass, s: ConvShape, post: ConvOptions, what: string): Deno.PointerValue {
    const lib = this.#lib;
    const [n, h, w, c, oh, ow, oc] = [
      s.batch,
      s.inHeight,
      s.inWidth,
      s.inChannels,
      s.outHeight,
      s.outWidth,
      s.outChannels,
    ];
    const [fh, fw] = [s.filterHeight, s.filterWidth];
    this.#plain(0, [n, c, h, w], [h * w * c, 1, w * c, c]);
    this.#plain(1, [oc, c, fh, fw], [1, oc, fw * c * oc, c * oc]);
    const bias = post.bias ? this.#plain(2, [oc], [1]) : this.#none(2);
    this.#plain(3, [n, oc, oh, ow], [oh * ow * oc, 1, ow * oc, oc]);
    const src = post.blocked ? this.#anyLayout(4, [n, c, h, w]) : this.#copyMd(0, 4);
    const weights = this.#anyLayout(5, [oc, c, fh, fw]);
    const dst = post.blocked ? this.#anyLayout(6, [n, oc, oh, ow]) : this.#copyMd(3, 6);
    const geometry = [
      int64s([s.strideHeight, s.strideWidth]),
      int64s([s.padTop, s.padLeft]),
      int64s([s.padBottom, s.padRight]),
    ] as const;
    const avoid = avoidFor(pass, s, post.exact);
    const op = this.#op.fill(0);
    check(
      lib.dnnl_convolution_forward_desc_init(
        op,
        FORWARD_TRAINING,
        CONVOLUTION_DIRECT,
        src,
        weights,
        pass === "forward" ? bias : this.#none(7),
        dst,
        ...geometry,
      ),
      `${what}: dnnl_convolution_forward_desc_init`,
    );
    const attr = pass === "forward" ? this.#attr(post) : null;
    let forward: Deno.PointerValue;
    try {
      forward = this.#primitiveDesc(attr, null, what, pass === "forward" ? avoid : undefined);
    } finally {
      if (attr) lib.dnnl_primitive_attr_destroy(attr);
    }
    if (pass === "forward") return forward;
    try {
      op.fill(0);
      check(
        pass === "backwardData"
          ? lib.dnnl_convolution_backward_data_desc_init(op, CONVOLUTION_DIRECT, src, weights, dst, ...geometry)
          : lib.dnnl_convolution_backward_weights_desc_init(
            op,
            CONVOLUTION_DIRECT,
            src,
            weights,
            bias,
            dst,
            ...geometry,
          ),
        `${what}: dnnl_convolution_${pass === "backwardData" ? "backward_data" : "backward_weights"}_desc_init`,
      );
      return this.#primitiveDesc(null, forward, what, avoid);
    } finally {
      lib.dnnl_primitive_desc_destroy(forward);
    }
  }

  /**
   * Build the primitive of `pd` for `roles`: a role whose layout the
   * primitive chose (queried into its slot) differs from the caller's gets
   * memory oneDNN owns, and a reorder from the caller's memory before the
   * primitive (an input) or to it after (an output). Destroys `pd`.
   */
  #withReorders(pd: Deno.PointerValue, roles: Role[], what: string): Kernel {
    const lib = this.#lib;
    const owned: (Deno.PointerValue | undefined)[] = roles.map((r) => {
      if (r.query === undefined) return undefined;
      this.#queryMd(pd, r.query, r.chosen!, what);
      return lib.dnnl_memory_desc_equal(this.#md(r.chosen!), this.#md(r.plain)) === 1
        ? undefined
        : this.#memory(r.chosen!, what, MEMORY_ALLOCATE);
    });
    const direct = roles.map((_, i) => i).filter((i) => !owned[i]);
    const moved = roles.map((_, i) => i).filter((i) => owned[i]);
    const order = [...direct, ...moved];
    const conv = this.#build(
      pd,
      order.map((i) => owned[i] ?? roles[i].plain),
      order.map((i) => roles[i].id),
      roles.map((r) => r.name),
      what,
    );
    if (!moved.length) return conv;
    const before = moved.filter((i) => !roles[i].output), after = moved.filter((i) => roles[i].output);
    const steps: [Kernel, number[]][] = [
      ...before.map((i) =>
        [this.#reorder(roles[i].plain, roles[i].chosen!, owned[i]!, "from", what), [i]] as [Kernel, number[]]
      ),
      [conv, direct],
      ...after.map((i) =>
        [this.#reorder(roles[i].chosen!, roles[i].plain, owned[i]!, "to", what), [i]] as [Kernel, number[]]
      ),
    ];
    const names = moved.map((i) => roles[i].name).join(", ");
    return new Sequence(roles.map((r) => r.name), `${conv.impl} (${names} reordered)`, steps);
  }

  /** A descriptor of `dims` in slot `slot` whose layout the primitive picks (`format_tag_any`). */
  #anyLayout(slot: number, dims: number[]): Uint8Array {
    const md = this.#md(slot).fill(0);
    check(this.#lib.dnnl_memory_desc_init_by_tag(md, dims.length, int64s(dims), DNNL_F32, FORMAT_TAG_ANY));
    return md;
  }

  /** Copy the descriptor in slot `from` to slot `to`; returns it. */
  #copyMd(from: number, to: number): Uint8Array {
    return this.#md(to).set(this.#md(from)), this.#md(to);
  }

  /** Copy the memory descriptor `what` of `pd` into `slot`. */
  #queryMd(pd: Deno.PointerValue, query: number, slot: number, what: string): void {
    const md = this.#lib.dnnl_primitive_desc_query_md(pd, query, 0);
    if (!md) throw new OneDnnError(`${what}: no memory descriptor for query ${query}`);
    new Deno.UnsafePointerView(md).copyInto(this.#md(slot));
  }

  /**
   * A reorder between the descriptors in slots `from` and `to`: the side named
   * by `callerSide` is set per call, the other is `owned`, a memory object
   * with oneDNN's buffer.
   */
  #reorder(from: number, to: number, owned: Deno.PointerValue, callerSide: "from" | "to", what: string): Primitive {
    check(
      this.#lib.dnnl_reorder_primitive_desc_create(
        new Uint8Array(this.#cell.buffer),
        this.#md(from),
        this.#engine,
        this.#md(to),
        this.#engine,
        null,
      ),
      `${what}: dnnl_reorder_primitive_desc_create`,
    );
    const pd = readPointer(this.#cell);
    return callerSide === "from"
      ? this.#build(pd, [from, owned], [ARG.src, ARG.dst], ["from"], `${what} reorder`)
      : this.#build(pd, [to, owned], [ARG.dst, ARG.src], ["to"], `${what} reorder`);
  }

  /**
   * Initialise `#op` as a max pooling's forward descriptor (training: it
   * also writes a workspace, where each maximum is) or backward one, for NHWC
   * source and destination (slots 0 and 3).
   */
  #poolingDesc(s: PoolShape, kind: "inference" | "training" | "backward", what: string): void {
    const [n, h, w, c, oh, ow] = [s.batch, s.inHeight, s.inWidth, s.channels, s.outHeight, s.outWidth];
    const src = this.#plain(0, [n, c, h, w], [h * w * c, 1, w * c, c]);
    const dst = this.#plain(3, [n, c, oh, ow], [oh * ow * c, 1, ow * c, c]);
    const geometry = [
      int64s([s.strideHeight, s.strideWidth]),
      int64s([s.filterHeight, s.filterWidth]),
      int64s([0, 0]),
      int64s([s.padTop, s.padLeft]),
      int64s([s.padBottom, s.padRight]),
    ] as const;
    const op = this.#op.fill(0);
    const prop = kind === "inference" ? FORWARD_INFERENCE : FORWARD_TRAINING;
    check(
      kind === "backward"
        ? this.#lib.dnnl_pooling_v2_backward_desc_init(op, POOLING_MAX, src, dst, ...geometry)
        : this.#lib.dnnl_pooling_v2_forward_desc_init(op, prop, POOLING_MAX, src, dst, ...geometry),
      `${what}: dnnl_pooling_v2_${kind === "backward" ? "backward" : "forward"}_desc_init`,
    );
  }

  /**
   * A max pooling for `shape` (built on first use); arguments `x, y`, and
   * with `training` a third, the workspace the backward pass reads
   * ({@link maxPoolWorkspaceBytes} long).
   *
   * @throws {OneDnnError} when oneDNN has no implementation for it.
   */
  maxPool(shape: PoolShape, training = false): Kernel {
    const s = shape;
    return this.#cached(`maxpool:${Object.values(s).join(",")}:${training}`, () => {
      const what = `max pooling ${JSON.stringify(s)}`;
      this.#poolingDesc(s, training ? "training" : "inference", what);
      const pd = this.#primitiveDesc(null, null, what);
      if (!training) return this.#build(pd, [0, 3], [ARG.src, ARG.dst], ["x", "y"], what);
      this.#queryMd(pd, QUERY.workspace, 4, what);
      return this.#build(pd, [0, 3, 4], [ARG.src, ARG.dst, ARG.workspace], ["x", "y", "workspace"], what);
    });
  }

  /** The bytes of the workspace a training {@link maxPool} writes for `shape`. */
  maxPoolWorkspaceBytes(shape: PoolShape): number {
    return this.#cachedNumber(`maxpoolws:${Object.values(shape).join(",")}`, () => {
      const what = `max pooling workspace ${JSON.stringify(shape)}`;
      this.#poolingDesc(shape, "training", what);
      const pd = this.#primitiveDesc(null, null, what);
      try {
        this.#queryMd(pd, QUERY.workspace, 4, what);
        return Number(this.#lib.dnnl_memory_desc_get_size(this.#md(4)));
      } finally {
        this.#lib.dnnl_primitive_desc_destroy(pd);
      }
    });
  }

  /**
   * The gradient of a max pooling for `shape` (built on first use). With
   * `fromWorkspace`, arguments `dy, workspace, dx`: the workspace of a training
   * {@link maxPool}. Without, arguments `x, dy, dx`: the kernel runs the
   * forward pass on `x` into memory oneDNN owns first. Each window's gradient
   * goes to the window's maximum.
   *
   * @throws {OneDnnError} when oneDNN has no implementation for it.
   */
  maxPoolGrad(shape: PoolShape, fromWorkspace = false): Kernel {
    const s = shape;
    return this.#cached(`maxpoolgrad:${Object.values(s).join(",")}:${fromWorkspace}`, () => {
      const what = `max pooling gradient ${JSON.stringify(s)}`;
      this.#poolingDesc(s, "training", what);
      const hint = this.#primitiveDesc(null, null, what);
      try {
        this.#queryMd(hint, QUERY.workspace, 4, what);
        this.#poolingDesc(s, "backward", what);
        const bwdPd = this.#primitiveDesc(null, hint, what);
        if (fromWorkspace) {
          return this.#build(
            bwdPd,
            [3, 4, 0],
            [ARG.diffDst, ARG.workspace, ARG.diffSrc],
            ["dy", "workspace", "dx"],
            what,
          );
        }
        const ws = this.#memory(4, what, MEMORY_ALLOCATE);
        const backward = this.#build(bwdPd, [3, 0, ws], [ARG.diffDst, ARG.diffSrc, ARG.workspace], ["dy", "dx"], what);
        this.#poolingDesc(s, "training", what);
        const fwdPd = this.#primitiveDesc(null, null, what);
        const forward = this.#build(
          fwdPd,
          [0, this.#memory(3, what, MEMORY_ALLOCATE), ws],
          [
            ARG.src,
            ARG.dst,
            ARG.workspace,
          ],
          ["x"],
          what,
        );
        return new Sequence(["x", "dy", "dx"], `${forward.impl}`, [[forward, [0]], [backward, [1, 2]]]);
      } finally {
        this.#lib.dnnl_primitive_desc_destroy(hint);
      }
    });
  }

  /** Initialise `#op` with `init`, the `dnnl_*_desc_init` called `name`, and create the primitive descriptor. */
  #describe(
    what: string,
    name: string,
    init: (op: Uint8Array) => number,
    attr: Deno.PointerValue = null,
    hint: Deno.PointerValue = null,
  ): Deno.PointerValue {
    check(init(this.#op.fill(0)), `${what}: ${name}`);
    return this.#primitiveDesc(attr, hint, what);
  }

  /**
   * An element-wise binary op on a `[rows, cols]` first operand and a second
   * one of the same shape (`same`), of shape `[1, cols]` (`row`, a bias) or
   * `[1, 1]` (`scalar`); arguments `a, b, out`.
   *
   * @throws {OneDnnError} when oneDNN has no implementation for it.
   */
  binary(op: keyof typeof BINARY, rows: number, cols: number, broadcast: Broadcast): Kernel {
    return this.#cached(`binary:${op}:${rows}:${cols}:${broadcast}`, () => {
      const what = `binary ${op} ${rows}x${cols} ${broadcast}`;
      const a = this.#plain(0, [rows, cols], [cols, 1]);
      const b = broadcast === "same" ? a : this.#plain(1, broadcast === "row" ? [1, cols] : [1, 1], [cols, 1]);
      const pd = this.#describe(
        what,
        "dnnl_binary_desc_init",
        (d) => this.#lib.dnnl_binary_desc_init(d, BINARY[op], a, b, a),
      );
      return this.#build(
        pd,
        [0, broadcast === "same" ? 0 : 1, 0],
        [ARG.src, ARG.src1, ARG.dst],
        ["a", "b", "out"],
        what,
      );
    });
  }

  /**
   * An element-wise activation over `size` values; arguments `x, out`.
   *
   * @throws {OneDnnError} when oneDNN has no implementation for it.
   */
  eltwise(activation: keyof typeof ELTWISE, size: number): Kernel {
    return this.#cached(`eltwise:${activation}:${size}`, () => {
      const what = `eltwise ${activation} ${size}`;
      const x = this.#plain(0, [size], [1]);
      const init = (d: Uint8Array) =>
        this.#lib.dnnl_eltwise_forward_desc_init(d, FORWARD_TRAINING, ELTWISE[activation], x, 0, 0);
      const pd = this.#describe(what, "dnnl_eltwise_forward_desc_init", init);
      return this.#build(pd, [0, 0], [ARG.src, ARG.dst], ["x", "out"], what);
    });
  }

  /**
   * The sum of `size` values, into one value: finite exactly when every value
   * is finite (or when a sum of finite values overflows); arguments `x, sum`.
   *
   * @throws {OneDnnError} when oneDNN has no implementation for it.
   */
  sum(size: number): Kernel {
    return this.#cached(`sum:${size}`, () => {
      const what = `sum ${size}`;
      const [x, out] = [this.#plain(0, [size], [1]), this.#plain(3, [1], [1])];
      const init = (d: Uint8Array) => this.#lib.dnnl_reduction_desc_init(d, REDUCTION_SUM, x, out, 0, 0);
      return this.#build(this.#describe(what, "dnnl_reduction_desc_init", init), [0, 3], [ARG.src, ARG.dst], [
        "x",
        "sum",
      ], what);
    });
  }

  /**
   * The gradient of a ReLU over `size` values: `dx = x > 0 ? dy : 0`;
   * arguments `dy, x, dx`.
   *
   * @throws {OneDnnError} when oneDNN has no implementation for it.
   */
  reluGrad(size: number): Kernel {
    return this.#cached(`relugrad:${size}`, () => {
      const lib = this.#lib, what = `relu gradient ${size}`;
      const x = this.#plain(0, [size], [1]);
      const forward = (d: Uint8Array) => lib.dnnl_eltwise_forward_desc_init(d, FORWARD_TRAINING, ELTWISE.relu, x, 0, 0);
      const hint = this.#describe(what, "dnnl_eltwise_forward_desc_init", forward);
      try {
        const backward = (d: Uint8Array) => lib.dnnl_eltwise_backward_desc_init(d, ELTWISE.relu, x, x, 0, 0);
        const pd = this.#describe(what, "dnnl_eltwise_backward_desc_init", backward, null, hint);
        return this.#build(pd, [0, 0, 0], [ARG.diffDst, ARG.src, ARG.diffSrc], ["dy", "x", "dx"], what);
      } finally {
        lib.dnnl_primitive_desc_destroy(hint);
      }
    });
  }

  /**
   * The product primitive for `shape` (built on first use); arguments
   * `src (a), weights (b), [bias,] dst`. A bias has shape `[n]`.
   *
   * @throws {OneDnnError} when oneDNN has no implementation for it.
   */
  matmul(shape: MatMulShape, post: PostOps = {}): Kernel {
    const s = shape;
    const key = `matmul:${Object.values(s).join(",")}:${post.bias ? "b" : ""}${post.activation ?? ""}`;
    return this.#cached(key, () => {
      const what = `matmul ${JSON.stringify(s)}`;
      const { batchA, batchB, m, k, n } = s;
      const a = this.#plain(0, [batchA, m, k], s.transposeA ? [m * k, 1, m] : [m * k, k, 1]);
      const b = this.#plain(1, [batchB, k, n], s.transposeB ? [k * n, 1, k] : [k * n, n, 1]);
      const bias = post.bias ? this.#plain(2, [1, 1, n], [n, n, 1]) : this.#none(2);
      const dst = this.#plain(3, [Math.max(batchA, batchB), m, n], [m * n, n, 1]);
      const attr = this.#attr(post);
      try {
        const init = (d: Uint8Array) => this.#lib.dnnl_matmul_desc_init(d, a, b, bias, dst);
        const pd = this.#describe(what, "dnnl_matmul_desc_init", init, attr);
        const roles = post.bias ? [0, 1, 2, 3] : [0, 1, 3];
        const ids = [ARG.src, ARG.weights, ARG.bias, ARG.dst], names = ["src", "weights", "bias", "dst"];
        return this.#build(pd, roles, roles.map((r) => ids[r]), roles.map((r) => names[r]), what);
      } finally {
        if (attr) this.#lib.dnnl_primitive_attr_destroy(attr);
      }
    });
  }
}

/** One argument of a convolution pass, and where its descriptors are. */
interface Role {
  name: string;
  /** `dnnl_exec_arg_t` */
  id: number;
  /** The slot of the caller's layout. */
  plain: number;
  /** The slot the primitive's own layout is queried into, with the query; none for the bias. */
  chosen?: number;
  query?: number;
  /** Written by the primitive (reordered after it) rather than read (before it). */
  output: boolean;
}

/** The arguments of a convolution pass, in the order its kernel takes addresses. */
function convolutionRoles(pass: ConvPass, bias: boolean): Role[] {
  const src = { name: "src", id: ARG.src, plain: 0, chosen: 4, query: QUERY.src, output: false };
  const weights = { name: "weights", id: ARG.weights, plain: 1, chosen: 5, query: QUERY.weights, output: false };
  const diffDst = { name: "diffDst", id: ARG.diffDst, plain: 3, chosen: 6, query: QUERY.diffDst, output: false };
  if (pass === "forward") {
    const dst = { name: "dst", id: ARG.dst, plain: 3, chosen: 6, query: QUERY.dst, output: true };
    return bias ? [src, weights, { name: "bias", id: ARG.bias, plain: 2, output: false }, dst] : [src, weights, dst];
  }
  if (pass === "backwardData") {
    return [diffDst, weights, {
      name: "diffSrc",
      id: ARG.diffSrc,
      plain: 0,
      chosen: 4,
      query: QUERY.diffSrc,
      output: true,
    }];
  }
  const diffWeights = {
    name: "diffWeights",
    id: ARG.diffWeights,
    plain: 1,
    chosen: 5,
    query: QUERY.diffWeights,
    output: true,
  };
  const diffBias = { name: "diffBias", id: ARG.diffBias, plain: 2, output: true };
  return bias ? [src, diffDst, diffWeights, diffBias] : [src, diffDst, diffWeights];
}

/**
 * The implementations a convolution pass must not use, or undefined where
 * oneDNN's first choice is right.
 *
 * - uxlfoundation/oneDNN#6035 (open; 2.6 and later): the 1×1 backward-weights
 *   kernels (`jit_1x1:*`) reduce a strided 1×1 convolution to unit stride by
 *   copying the source into a workspace ("rtus"); with an NHWC source and
 *   fewer input channels than the kernel's channel block they write past that
 *   workspace. The gradient comes out wrong (seen: 11 of 16 channel pairs with
 *   ≤ 4 input channels on AVX2, relative error 0.7–0.9), and on one thread the
 *   heap is corrupted (glibc aborts) or the kernel never returns. Every 1×1
 *   weight gradient with a stride above 1 takes oneDNN's next implementation
 *   (the direct `jit:*` kernel, the one 3×3 filters use).
 * - `exact` ({@link ConvOptions}): no `gemm` (im2col) implementation.
 */
function avoidFor(pass: ConvPass, s: ConvShape, exact = false): ((impl: string) => boolean) | undefined {
  const pointwise = s.filterHeight === 1 && s.filterWidth === 1;
  const strided = s.strideHeight > 1 || s.strideWidth > 1;
  const rtus = pass === "backwardWeights" && pointwise && strided;
  if (!rtus && !exact) return undefined;
  return (impl) => (rtus && impl.startsWith("jit_1x1:")) || (exact && impl.includes("gemm"));
}

/** oneDNN's name for the implementation of a primitive descriptor (e.g. `jit:avx2`), or "" where it gives none. */
function implName(lib: Lib, pd: Deno.PointerValue): string {
  const info = new BigUint64Array(1);
  if (lib.dnnl_primitive_desc_query(pd, QUERY_IMPL_INFO_STR, 0, new Uint8Array(info.buffer)) !== DNNL_SUCCESS) {
    return "";
  }
  const p = Deno.UnsafePointer.create(info[0]);
  return p ? Deno.UnsafePointerView.getCString(p) : "";
}

function int64s(values: number[]): Uint8Array {
  const out = new BigInt64Array(12);
  values.forEach((v, i) => (out[i] = BigInt(v)));
  return new Uint8Array(out.buffer);
}

/** Set OpenMP's thread count for the calling thread, where libgomp can be opened. */
function setOpenMpThreads(threads: number): boolean {
  for (const name of ["libgomp.so.1", "libgomp.1.dylib", "libomp.dylib", "libomp.so"]) {
    try {
      const gomp = Deno.dlopen(name, { omp_set_num_threads: { parameters: ["i32"], result: "void" } });
      gomp.symbols.omp_set_num_threads(threads);
      return true;
    } catch { /* try the next name */ }
  }
  return false;
}

/** Why the library `CH5_ONEDNN_PATH` names cannot be used, in full, with the fix. */
function forcedPathProblem(path: string, dlopen: string): string {
  const info = (() => {
    try {
      return Deno.statSync(path);
    } catch {
      return undefined;
    }
  })();
  const what = !info
    ? "does not exist"
    : info.isDirectory
    ? "is a folder, not a shared library"
    : `is not a shared library that can be loaded (dlopen: ${dlopen})`;
  return `CH5_ONEDNN_PATH=${path} ${what}. Point it at oneDNN 2.x's library file (libdnnl.so.2, ` +
    `libdnnl.2.dylib or dnnl.dll), or unset it to look in the usual places.`;
}

let loaded: OneDnn | undefined;

/**
 * Open oneDNN 2.x once per process, with `threads` OpenMP threads (later
 * calls return the same instance, whatever their options, unless they name
 * `paths`).
 *
 * @param options.threads threads to compute with (default: the logical cores).
 * @param options.paths library files to try (default: {@link oneDnnCandidates}).
 * @throws {OneDnnError} when no library opens (the message says how to install one)
 * or the one found is not a 2.x.
 */
export function loadOneDnn(options: { threads?: number; paths?: string[] } = {}): OneDnn {
  if (loaded && !options.paths) return loaded;
  const threads = Math.max(1, Math.floor(options.threads ?? navigator.hardwareConcurrency));
  // libgomp reads these once, when it loads with libdnnl.
  Deno.env.set("OMP_NUM_THREADS", String(threads));
  if (!Deno.env.get("OMP_WAIT_POLICY")) Deno.env.set("OMP_WAIT_POLICY", "passive");
  const tried: string[] = [];
  const forced = options.paths ? undefined : Deno.env.get("CH5_ONEDNN_PATH");
  for (const path of options.paths ?? oneDnnCandidates()) {
    let probe: Deno.DynamicLibrary<typeof VERSION_SYMBOLS>;
    try {
      probe = Deno.dlopen(path, VERSION_SYMBOLS);
    } catch (err) {
      // Deno's message repeats its own prefix ("Could not open library: Could not open library: ...").
      const why = String((err as Error).message).split("\n")[0].replace(/^(Could not open library: )+/, "");
      if (forced) throw new OneDnnError(forcedPathProblem(forced, why));
      tried.push(`${path} (${why.slice(0, 80)})`);
      continue;
    }
    const v = probe.symbols.dnnl_version();
    const view = new Deno.UnsafePointerView(v!);
    const [major, minor, patch] = [view.getInt32(0), view.getInt32(4), view.getInt32(8)];
    const version = `${major}.${minor}.${patch}`;
    if (major !== 2) {
      probe.close();
      throw new OneDnnError(
        `oneDNN ${version} at ${path} is not 2.x (this workbook binds the 2.x C API, removed in 3.0); ${ONEDNN_INSTALL_HINT}`,
      );
    }
    const lib = Deno.dlopen(path, SYMBOLS).symbols;
    setOpenMpThreads(threads);
    const dnnl = new OneDnn(lib, path, version, threads);
    if (!options.paths) loaded = dnnl;
    return dnnl;
  }
  throw new OneDnnError(`oneDNN 2.x not found (libdnnl.so.2); ${ONEDNN_INSTALL_HINT}; tried: ${tried.join("; ")}`);
}

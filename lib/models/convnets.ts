/**
 * The chapter's own convnets, with Keras' layer names: {@link mnistConvnet}
 * (listings 5.1–5.2, from notebook 5.1) and {@link smallConvnet} (listing
 * 5.5, from notebook 5.2). Both files are generated from the notebooks' cells
 * by `deno task export`; this module only gathers them.
 *
 * @example
 * ```ts
 * import { mnistConvnet, smallConvnet } from "./convnets.ts";
 * mnistConvnet().countParams(); // 93322
 * smallConvnet().countParams(); // 3453121
 * ```
 * @module
 */
export * from "./mnist_convnet.ts";
export * from "./small_convnet.ts";

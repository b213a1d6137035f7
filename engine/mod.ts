/**
 * A TensorFlow.js backend chain for Deno that trains at native speed with no
 * libtensorflow: `@tensorflow/tfjs-backend-wasm` with its convolutions,
 * products, pooling and large element-wise ops run by oneDNN 2.x through
 * `Deno.dlopen`, in place on the wasm heap. {@link initBackend} picks the
 * fastest backend the machine runs (native TensorFlow, WebGPU, wasm-native,
 * wasm, cpu) and says why it skipped the better ones.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "@ch5/engine";
 * const report = await initBackend(); // or CH5_BACKEND=wasm-native|wasm|cpu|...
 * console.log(report.line); // backend: wasm-native (oneDNN 2.6.3 for 14 kernels, ...), tfjs 4.22.0; skipped: ...
 * const y = tf.conv2d(tf.ones([1, 28, 28, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 8]) as tf.Tensor4D, 1, "valid");
 * ```
 * @module
 */
export {
  BACKEND_CHAIN,
  BackendError,
  type BackendName,
  type BackendReport,
  initBackend,
  startedBackend,
} from "./chain.ts";

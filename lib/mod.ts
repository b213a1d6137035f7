/**
 * The workbook's public surface: everything the notebooks import.
 *
 * @example
 * ```ts
 * import { initBackend, mnistConvnet, modelSummary } from "./mod.ts";
 * console.log((await initBackend()).line);
 * await modelSummary(mnistConvnet());
 * ```
 * @module
 */
export * from "./backend/chain.ts";
export * from "./io/profile.ts";
export * from "./data/mnist.ts";
export * from "./models/convnets.ts";
export * from "./training/fit.ts";
export * from "./notebook/progress.ts";
export * from "./notebook/display.ts";
export * from "./notebook/plot.ts";
export * from "./data/cats_and_dogs.ts";
export * from "./preprocessing/image.ts";
export * from "./preprocessing/directory_iterator.ts";
export * from "./preprocessing/image_data_generator.ts";
export * from "./viz/image.ts";
export * from "./models/save.ts";
export * from "./models/vgg16.ts";
export * from "./models/imagenet_weights.ts";
export * from "./models/features.ts";
export * from "./models/trainable.ts";
export * from "./models/imagenet.ts";
export * from "./viz/activations.ts";
export * from "./viz/filters.ts";
export * from "./viz/gradcam.ts";

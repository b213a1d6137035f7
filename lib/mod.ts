/**
 * The workbook's public surface: everything the notebooks import, one
 * `export *` per module, bottom layer first (see docs/ARCHITECTURE.md).
 *
 * @example
 * ```ts
 * import { initBackend, mnistConvnet, modelSummary } from "./mod.ts";
 * console.log((await initBackend()).line);
 * await modelSummary(mnistConvnet());
 * ```
 * @module
 */
// io
export * from "./io/profile.ts";
// notebook
export * from "./notebook/display.ts";
export * from "./notebook/interrupt.ts";
export * from "./notebook/curves.ts";
export * from "./notebook/plot.ts";
export * from "./notebook/plotly_html.ts";
export * from "./notebook/progress.ts";
export * from "./notebook/skip.ts";
// backend
export * from "@ch5/engine";
// preprocessing
export * from "./preprocessing/image.ts";
export * from "./preprocessing/directory_iterator.ts";
export * from "./preprocessing/image_data_generator.ts";
// data
export * from "./data/book.ts";
export * from "./data/cats_and_dogs.ts";
export * from "./data/mnist.ts";
export * from "./data/pictures.ts";
// models
export * from "./models/convnets.ts";
export * from "./models/imagenet.ts";
export * from "./models/imagenet_weights.ts";
export * from "./models/save.ts";
export * from "./models/submodel.ts";
export * from "./models/summary.ts";
export * from "./models/trainable.ts";
export * from "./models/vgg16.ts";
// training
export * from "./training/checkpoint.ts";
export * from "./training/fit.ts";
export * from "./training/results.ts";
// viz
export * from "./viz/filters.ts";
export * from "./viz/gradcam.ts";
export * from "./viz/image.ts";
export * from "./viz/show.ts";
export * from "./viz/trained_convnet.ts";

/**
 * The workbook's public names: what the notebooks use, and the option and
 * result types a reader meets in their signatures. Internal modules are not
 * re-exported (tests import them directly); see docs/ARCHITECTURE.md.
 *
 * @example
 * ```ts
 * import { initBackend, mnistConvnet, modelSummary } from "./mod.ts";
 * console.log((await initBackend()).line);
 * await modelSummary(mnistConvnet());
 * ```
 * @module
 */
// engine
export { type BackendReport, initBackend } from "@ch5/engine";
// io
export { byProfile, dataPath, profile, trainUntil } from "./io/profile.ts";
// notebook
export { print, showPng, showTable } from "./notebook/display.ts";
export { KeyboardInterrupt, steps } from "./notebook/interrupt.ts";
export { plot } from "./notebook/plot.ts";
export { trainingCurves } from "./notebook/curves.ts";
// preprocessing
export { imgToArray, loadImg, type PixelImage } from "./preprocessing/image.ts";
export type { DirectoryIterator, FlowFromDirectoryOptions } from "./preprocessing/directory_iterator.ts";
export { imageDataGenerator, type ImageDataGeneratorOptions } from "./preprocessing/image_data_generator.ts";
// data
export { ensureCatsAndDogs } from "./data/cats_and_dogs.ts";
export { loadMnist } from "./data/mnist.ts";
export { chapterPicture } from "./data/pictures.ts";
// models
export { mnistConvnet } from "./models/mnist_convnet.ts";
export { smallConvnet } from "./models/small_convnet.ts";
export { hasWeights, vgg16, type Vgg16Options } from "./models/vgg16.ts";
export { decodePredictions, preprocessInput } from "./models/imagenet.ts";
export { modelSummary } from "./models/summary.ts";
export { loadModel, saveModel } from "./models/save.ts";
export { freeze, trainableWeightCount } from "./models/trainable.ts";
export { runLayers, splitAt } from "./models/submodel.ts";
// training
export { evaluate, fit, type FitOptions, type History, TrainingInterrupted } from "./training/fit.ts";
export { historyText, recordResults } from "./training/results.ts";
// viz
export { applyColorMap } from "./viz/colormap.ts";
export { encodePng } from "./viz/encode.ts";
export { tileGrid } from "./viz/grid.ts";
export { imshow, imwrite, matshow, showJpeg, type ShowOptions } from "./viz/show.ts";
export { loadTrainedConvnet } from "./viz/trained_convnet.ts";

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
export * from "./backend.ts";
export * from "./profile.ts";
export * from "./data/mnist.ts";
export * from "./models/convnets.ts";
export * from "./training/fit.ts";
export * from "./training/progress.ts";
export * from "./viz/display.ts";
export * from "./viz/plot.ts";

/**
 * Keras' `model.summary()`: one row a layer (name and type, output shape,
 * parameters) and the totals, as text and as a notebook output.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { modelSummary } from "./summary.ts";
 * await modelSummary(tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] }));
 * ```
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { display } from "../notebook/display.ts";
import { escapeXml } from "../notebook/svg_chart.ts";

/**
 * A shape as Keras prints it: `(None, 150, 150, 3)`; a 1-D shape with
 * Python's tuple comma, `(2000,)`; a list of shapes as `(None, 4), (None, 2)`.
 *
 * @example
 * ```ts
 * import { shapeText } from "./summary.ts";
 * shapeText([null, 26, 26, 32]); // "(None, 26, 26, 32)"
 * shapeText([2000]); // "(2000,)"
 * ```
 */
export function shapeText(shape: readonly (number | null)[] | readonly (readonly (number | null)[])[]): string {
  const one = (s: readonly (number | null)[]) =>
    `(${s.map((d) => (d === null ? "None" : String(d))).join(", ")}${s.length === 1 ? "," : ""})`;
  return Array.isArray(shape[0])
    ? (shape as readonly (readonly (number | null)[])[]).map(one).join(", ")
    : one(shape as readonly (number | null)[]);
}

/** The numbers of a Keras summary: one row a layer, and the totals. */
export interface SummaryTable {
  rows: { layer: string; outputShape: string; params: number }[];
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
}

/** Count the rows and totals Keras' `model.summary()` prints. */
export function summaryTable(model: tf.LayersModel): SummaryTable {
  const count = (ws: tf.LayerVariable[]) =>
    ws.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
  const rows = model.layers.map((layer) => ({
    layer: `${layer.name} (${layer.getClassName()})`,
    outputShape: shapeText(layer.outputShape as (number | null)[] | (number | null)[][]),
    params: layer.countParams(),
  }));
  const trainableParams = count(model.trainableWeights);
  const nonTrainableParams = count(model.nonTrainableWeights);
  return { rows, totalParams: trainableParams + nonTrainableParams, trainableParams, nonTrainableParams };
}

/** Group digits as Keras does: 93322 → "93,322". */
export function thousands(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * Format the Keras-style summary of a model: layer (type), output shape,
 * parameter count, then the totals.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { formatModelSummary } from "./summary.ts";
 * const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
 * formatModelSummary(m).includes("Total params: 8"); // true
 * ```
 */
export function formatModelSummary(model: tf.LayersModel): string {
  const table = summaryTable(model);
  const header = ["Layer (type)", "Output Shape", "Param #"];
  const cells = table.rows.map((r) => [r.layer, r.outputShape, thousands(r.params)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)) + 4);
  const total = widths.reduce((a, b) => a + b, 0);
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join("").trimEnd();
  return [
    `Model: "${model.name}"`,
    "_".repeat(total),
    line(header),
    "=".repeat(total),
    ...cells.flatMap((c, i) => [line(c), (i === cells.length - 1 ? "=" : "_").repeat(total)]),
    `Total params: ${thousands(table.totalParams)}`,
    `Trainable params: ${thousands(table.trainableParams)}`,
    `Non-trainable params: ${thousands(table.nonTrainableParams)}`,
    "_".repeat(total),
  ].join("\n");
}

/** Print a model's Keras-style summary (like Keras' `model.summary()`). */
export async function modelSummary(model: tf.LayersModel): Promise<void> {
  const text = formatModelSummary(model);
  await display({ "text/plain": text, "text/html": `<pre>${escapeXml(text)}</pre>` });
}

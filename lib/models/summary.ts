/**
 * Keras' `model.summary()`: one row a layer (name and type, output shape,
 * parameters) and the totals, as text and as a notebook output.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { display } from "../notebook/display.ts";
import { escapeXml } from "../notebook/svg_chart.ts";

type Shape = readonly (number | null)[];

/**
 * A shape as Keras prints it: `(None, 150, 150, 3)`; a 1-D shape with
 * Python's tuple comma, `(2000,)`; a list of shapes as `(None, 4), (None, 2)`.
 */
export function shapeText(shape: Shape | readonly Shape[]): string {
  const one = (s: Shape) => `(${s.map((d) => d ?? "None").join(", ")}${s.length === 1 ? "," : ""})`;
  return Array.isArray(shape[0]) ? (shape as readonly Shape[]).map(one).join(", ") : one(shape as Shape);
}

/**
 * Format the Keras-style summary of a model: layer (type), output shape,
 * parameter count (digits grouped as Keras does: 93,322), then the totals.
 */
export function formatModelSummary(model: tf.LayersModel): string {
  const n = (count: number) => count.toLocaleString("en-US");
  const size = (ws: tf.LayerVariable[]) =>
    ws.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  const [trainable, frozen] = [size(model.trainableWeights), size(model.nonTrainableWeights)];
  const header = ["Layer (type)", "Output Shape", "Param #"];
  const row = (l: tf.layers.Layer) => [`${l.name} (${l.getClassName()})`, shapeText(l.outputShape), n(l.countParams())];
  const cells = model.layers.map(row);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)) + 4);
  const total = widths.reduce((a, b) => a + b, 0);
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join("").trimEnd();
  return [
    `Model: "${model.name}"`,
    "_".repeat(total),
    line(header),
    "=".repeat(total),
    ...cells.flatMap((c, i) => [line(c), (i === cells.length - 1 ? "=" : "_").repeat(total)]),
    `Total params: ${n(trainable + frozen)}`,
    `Trainable params: ${n(trainable)}`,
    `Non-trainable params: ${n(frozen)}`,
    "_".repeat(total),
  ].join("\n");
}

/**
 * Show a model's Keras-style summary (Keras' `model.summary()`).
 *
 * @example
 * ```ts
 * import { mnistConvnet } from "./mnist_convnet.ts";
 * import { modelSummary } from "./summary.ts";
 * await modelSummary(mnistConvnet()); // … Total params: 93,322
 * ```
 */
export async function modelSummary(model: tf.LayersModel): Promise<void> {
  const text = formatModelSummary(model);
  await display({ "text/plain": text, "text/html": `<pre>${escapeXml(text)}</pre>` });
}

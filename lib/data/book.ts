/**
 * The book's numbers for chapter 5 (*Deep Learning with Python*, 1st ed.), in
 * one typed table, so that notebooks, results files and the README compare
 * against the same values.
 *
 * @module
 */

/** One number the book measured. */
export interface BookNumber {
  /** The value (accuracies as fractions, epochs 1-based). */
  value: number;
  /** For a rounded statement or a reading of a figure: the range it allows. */
  range?: readonly [number, number];
  /** How the book shows it: a listing's output (`printed`, exact), the prose (`text`, rounded) or a plot (`figure`). */
  kind: "printed" | "text" | "figure";
  /** Where in the book. */
  where: string;
  /** The book's words, or where the book, its companion notebook or the 2nd edition differ. */
  note?: string;
  /** Digits to show (default 4 for fractions below 1, else 0). */
  digits?: number;
}

/** The book's run and results for one notebook. */
export interface BookSection {
  /** The section's title. */
  title: string;
  /** The book's settings (epochs, batch sizes, sizes of the data). */
  settings: Readonly<Record<string, unknown>>;
  /** What the book measured, keyed as the notebook's results file keys it (dotted: `model1.valAcc`). */
  numbers: Readonly<Record<string, BookNumber>>;
}

/** The four notebooks of the chapter. */
export type NotebookName = "5.1" | "5.2" | "5.3" | "5.4";

const steps = { stepsPerEpoch: 100, validationSteps: 50 } as const;

/** The chapter's numbers, per notebook: one number a row. */
// deno-fmt-ignore
export const BOOK = {
  "5.1": {
    title: "5.1 Introduction to convnets",
    settings: { epochs: 5, batchSize: 64, trainImages: 60_000, testImages: 10_000, params: 93_322 },
    numbers: {
      testAcc: { value: 0.9908, kind: "printed", where: "5.1節、リスト 5.3 のあとの model.evaluate の出力 (0.99080000000000001)",
        note: "本文は「99.3 %」と書いていて、印字と食い違う。第2版 (リスト 8.4) の出力は 0.991" },
      denseTestAcc: { value: 0.978, kind: "text", digits: 3, where: "5.1節の本文", note: "第2章の全結合ネットワーク(比較のため)" },
    },
  },
  "5.2": {
    title: "5.2 Training a convnet from scratch on a small dataset",
    settings: {
      split: { train: 2_000, validation: 1_000, test: 1_000 },
      params: 3_453_121,
      model1: { epochs: 30, ...steps, batchSize: 20 },
      model2: { epochs: 100, ...steps, batchSize: 32 },
    },
    numbers: {
      "model1.trainAcc": { value: 1, kind: "text", digits: 2, where: "5.2.4節の本文と図 5.9",
        note: "「訓練精度は時間とともにほぼ直線的に上がり、ほぼ 100 % に達する」" },
      "model1.valAcc": { value: 0.71, range: [0.70, 0.72], kind: "text", digits: 2, where: "5.2.4節の本文と図 5.9",
        note: "「検証精度は 70–72 % で頭打ち」" },
      "model1.bestValLossEpoch": { value: 5, kind: "text", where: "5.2.4節の本文と図 5.10",
        note: "「検証損失は 5 エポックで最小になり、その後は横ばい」" },
      "model2.valAcc": { value: 0.82, kind: "text", digits: 2, where: "5.2.5節の本文と図 5.12",
        note: "「正則化なしのモデルより相対で 15 % の改善」。調整すれば 86–87 % まで届くだろうとも" },
    },
  },
  "5.3": {
    title: "5.3 Using a pretrained convnet",
    settings: {
      convBaseParams: 14_714_688,
      featureShape: [4, 4, 512],
      featureExtraction: { epochs: 30, batchSize: 20, learningRate: 2e-5 },
      augmentation: { epochs: 30, ...steps, batchSize: 20, learningRate: 2e-5 },
      fineTuning: { epochs: 100, ...steps, learningRate: 1e-5, from: "block5_conv1" },
      trainableWeights: { before: 30, after: 4 },
    },
    numbers: {
      "featureExtraction.valAcc": { value: 0.9, kind: "text", digits: 2,
        where: "5.3.1節の本文 (データ拡張なしの特徴抽出、リスト 5.18)", note: "「検証精度は約 90 %」" },
      "augmentation.valAcc": { value: 0.96, kind: "text", digits: 2,
        where: "5.3.1節の本文 (データ拡張つきの特徴抽出、リスト 5.21)", note: "「検証精度は約 96 %」" },
      "fineTuning.valAcc": { value: 0.97, kind: "text", digits: 2,
        where: "5.3.2節の本文 (ファインチューニング、リスト 5.23)", note: "「約 96 % から 97 % 超へ、1 % の改善」" },
      "fineTuning.testAcc": { value: 0.967, kind: "printed", digits: 3,
        where: "5.3.2節、evaluate_generator の出力 (test acc: 0.967)" },
    },
  },
  "5.4": {
    title: "5.4 Visualizing what convnets learn",
    settings: { firstActivationShape: [1, 148, 148, 32] },
    numbers: {
      "elephant.classIndex": { value: 386, kind: "printed", where: "5.4.3節、np.argmax(preds[0]) の出力" },
      "elephant.probability": { value: 0.92546833, kind: "printed", digits: 3,
        where: "5.4.3節、decode_predictions の出力 (African_elephant 0.92546833)",
        note: "本の上位 3 件は n02504458 African_elephant 0.92546833、n01871265 tusker 0.070257246、" +
          "n02504013 Indian_elephant 0.0042589349。付属ノートブックの実行では African_elephant 0.909" },
    },
  },
} as const satisfies Record<NotebookName, BookSection>;

/** A book number as the results table shows it: `0.9908`, `≈0.70–0.72`, `5`. */
export function bookText(number: BookNumber): string {
  const digits = number.digits ?? (Math.abs(number.value) < 1 && number.value !== 0 ? 4 : 0);
  const format = (v: number) => v.toFixed(digits);
  if (number.range) return `≈${format(number.range[0])}–${format(number.range[1])}`;
  return number.kind === "printed" ? format(number.value) : `≈${format(number.value)}`;
}

/**
 * One call records what a notebook measured and shows it beside the book's
 * numbers ({@link BOOK}): `data/results/<name>.json` (through `saveResults`)
 * and a table with a column for this run and one for the book.
 *
 * A {@link History} anywhere in the results is stored with what the
 * notebooks compare: `epochs`, `trainAcc` (last epoch), `valAcc` (mean of the
 * last five epochs), `valAccLast`, `bestValAcc`, `bestValLossEpoch`
 * (1-based), `secondsPerEpoch`, and the per-epoch `history` itself.
 *
 * @example
 * ```ts
 * import { recordResults } from "./results.ts";
 * const history = { epoch: [0, 1], history: { acc: [0.9, 0.95], loss: [0.3, 0.1] }, seconds: [3, 3] };
 * await recordResults("5.1", { history, testAcc: 0.99, testLoss: 0.03 });
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { startedBackend } from "@ch5/engine";
import { BOOK, type BookNumber, bookText, type NotebookName } from "../data/book.ts";
import { saveResults } from "../io/profile.ts";
import { print, type Row, showTable } from "../notebook/display.ts";
import type { History } from "./fit.ts";

/**
 * What a `History` becomes in a results file: the epochs that ran (after a
 * resume too), the last training accuracy, the mean validation accuracy of
 * the last five epochs (`valAcc`), the last and best ones, the (1-based)
 * epochs of the best accuracy and lowest loss, seconds per epoch, the
 * per-epoch `history`, and why it stopped early or where Interrupt stopped it.
 */
export interface HistorySummary {
  epochs: number;
  trainAcc?: number;
  valAcc?: number;
  valAccLast?: number;
  bestValAcc?: number;
  bestValAccEpoch?: number;
  bestValLossEpoch?: number;
  secondsPerEpoch: number[];
  history: Record<string, number[]>;
  stopped?: string;
  interrupted?: History["interrupted"];
  resumedFrom?: number;
}

/** Whether `value` is a `History` returned by `fit`. */
function isHistory(value: unknown): value is History {
  const h = value as History;
  return typeof h === "object" && h !== null && Array.isArray(h.epoch) && typeof h.history === "object" &&
    h.history !== null && Array.isArray(h.seconds);
}

const acc = (history: Record<string, number[]>, prefix = "") => history[`${prefix}acc`] ?? history[`${prefix}accuracy`];

/**
 * What the notebooks compare with the book, computed from a `History`.
 */
export function summarizeHistory(history: History): HistorySummary {
  const h = history.history;
  const train = acc(h), val = acc(h, "val_"), valLoss = h.val_loss;
  const argBest = (values: number[], better: (a: number, b: number) => boolean) =>
    values.reduce((best, v, i) => better(v, values[best]) ? i : best, 0);
  const last5 = val?.slice(-5);
  return {
    epochs: history.epoch.length,
    trainAcc: train?.at(-1),
    valAcc: last5?.length ? last5.reduce((a, b) => a + b, 0) / last5.length : undefined,
    valAccLast: val?.at(-1),
    bestValAcc: val?.length ? Math.max(...val) : undefined,
    bestValAccEpoch: val?.length ? argBest(val, (a, b) => a > b) + 1 : undefined,
    bestValLossEpoch: valLoss?.length ? argBest(valLoss, (a, b) => a < b) + 1 : undefined,
    secondsPerEpoch: history.seconds,
    history: h,
    stopped: history.stopped,
    interrupted: history.interrupted,
    resumedFrom: history.resumedFrom,
  };
}

/**
 * One Japanese sentence on what a run's curves show, computed from its
 * `History`, for the prose's 「この実行では…」.
 *
 * @example
 * ```ts
 * import { historyText } from "./results.ts";
 * historyText({ epoch: [0, 1], seconds: [1, 1], history: { acc: [0.6, 0.7], val_acc: [0.6, 0.65], val_loss: [0.7, 0.6] } });
 * // "この実行 (2 エポック): 訓練精度は最後のエポックで 0.700、検証精度は最高 0.650 (エポック 2)、…"
 * ```
 */
export function historyText(history: History): string {
  const s = summarizeHistory(history);
  const parts = [`この実行 (${s.epochs} エポック): `];
  if (s.trainAcc !== undefined) parts.push(`訓練精度は最後のエポックで ${s.trainAcc.toFixed(3)}`);
  if (s.bestValAcc !== undefined) {
    parts.push(
      `、検証精度は最高 ${s.bestValAcc.toFixed(3)} (エポック ${s.bestValAccEpoch})、` +
        `最後の ${Math.min(5, s.epochs)} エポックの平均 ${s.valAcc!.toFixed(3)}`,
    );
  }
  if (s.bestValLossEpoch !== undefined) parts.push(`。検証損失はエポック ${s.bestValLossEpoch} で最小`);
  return parts.join("") + "でした。";
}

/** Replace every `History` in `value` by its summary: a `history` key merges the summary into its parent. */
function expand(value: unknown): unknown {
  if (isHistory(value)) return summarizeHistory(value);
  if (Array.isArray(value) || typeof value !== "object" || value === null || value instanceof tf.Tensor) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === "history" && isHistory(v)) Object.assign(out, summarizeHistory(v));
    else out[key] = expand(v);
  }
  return out;
}

/** The value at a dotted path (`model1.valAcc`). */
function atPath(value: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
}

/** How the results table names a key (each part of a dotted path). */
const LABELS: Readonly<Record<string, string>> = {
  testAcc: "テスト精度",
  testLoss: "テスト損失",
  denseTestAcc: "第2章の全結合ネットワークのテスト精度",
  trainAcc: "訓練精度(最後のエポック)",
  valAcc: "検証精度(最後の5エポックの平均)",
  bestValLossEpoch: "検証損失が最小のエポック",
  epochs: "エポック数",
  batchSize: "バッチサイズ",
  stepsPerEpoch: "1エポックのステップ数",
  validationSteps: "検証のステップ数",
  model1: "モデル1",
  model2: "モデル2(データ拡張 + Dropout)",
  featureExtraction: "特徴抽出",
  augmentation: "データ拡張つき特徴抽出",
  fineTuning: "ファインチューニング",
  elephant: "ゾウの画像",
  classIndex: "最大のクラス番号",
  probability: "African_elephant の確率",
};

const label = (path: string) => path.split(".").map((part) => LABELS[part] ?? part).join(" / ");

function runText(value: unknown, number?: BookNumber): string {
  if (typeof value !== "number") return value === undefined ? "—" : String(value);
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(number?.digits ?? 4);
}

/** Numeric leaves of the book's settings, as dotted paths. */
function settingPaths(settings: unknown, prefix = ""): [string, number][] {
  if (typeof settings !== "object" || settings === null || Array.isArray(settings)) return [];
  return Object.entries(settings).flatMap(([key, v]): [string, number][] => {
    const path = prefix ? `${prefix}.${key}` : key;
    return typeof v === "number" ? [[path, v]] : settingPaths(v, path);
  });
}

/**
 * The rows of the comparison table: every number the book measured for
 * `name` (with this run's value, or "—" when the run has none), then the
 * settings this run shares with the book (epochs, steps), where they differ.
 */
export function comparisonRows(name: NotebookName, results: Record<string, unknown>): Row[] {
  const section = BOOK[name];
  const rows: Row[] = Object.entries(section.numbers as Record<string, BookNumber>).map(([path, number]) => ({
    "": label(path),
    "この実行": runText(atPath(results, path), number),
    "本": bookText(number),
    "本の出典": number.note ? `${number.where}。${number.note}` : number.where,
  }));
  for (const [path, book] of settingPaths(section.settings)) {
    const run = atPath(results, path);
    if (typeof run === "number" && run !== book) {
      rows.push({ "": label(path), "この実行": runText(run), "本": String(book), "本の出典": "本の設定" });
    }
  }
  return rows;
}

/** The machine a run measured on: CPU model, logical cores, OS (for comparing runs). */
function machine(): string {
  let cpu: string = Deno.build.arch;
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? cpu;
  } catch {
    // not Linux, or not readable: the architecture will do
  }
  return `${cpu}, ${navigator.hardwareConcurrency} logical cores, ${Deno.build.os}`;
}

/**
 * Write a notebook's results to `data/results/<name>.json` (with the
 * backend, time and profile) and show them beside the book's numbers.
 * Returns nothing, so that a notebook cell ending with it shows only the
 * table and the line naming the file.
 *
 * @example
 * ```ts
 * import { recordResults } from "./results.ts";
 * await recordResults("5.2", { model1: { epochs: 30, valAcc: 0.72, testAcc: 0.72 } });
 * ```
 */
export async function recordResults(name: NotebookName, results: Record<string, unknown>): Promise<void> {
  const record = expand(results) as Record<string, unknown>;
  const backend = startedBackend() ?? tf.getBackend() ?? null;
  const path = await saveResults(name, { backend, machine: machine(), ...record });
  await showTable(comparisonRows(name, record));
  await print(`この実行の結果を ${path} に保存しました。`);
}
